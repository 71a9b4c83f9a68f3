// `npm run bench -- speed [--preset small|1b-shape] [--threads 2] [--reps 3] [--only ours|llamacpp]
// [--dtypes bf16,q8_0,f32,q4_k_m,q4_0,q6_k,q3_k_m] [--prompt-tokens 128] [--gen-tokens 64] [--node 24|none]
// [--relaxed] [--profile DIR] [--check-tokens]`: our
// WebAssembly backend against llama.cpp on the same synthetic weights, side by side in one run, ours
// on the machine's Node and on each Node of --node (default the current LTS, node-binary.ts). The weights come from
// the llama.cpp anchor (../shared/anchors/llamacpp: make_model.mjs writes one seeded model as a
// Hugging Face folder and as GGUF files), copied with its node-llama-cpp install to a cache folder
// under $TMPDIR. Each configuration runs in a fresh child process (speed-child.ts for ours,
// llamacpp_bench.mjs for llama.cpp): load time, prefill tok/s on the anchor's 128-token prompt,
// decode tok/s over 64 greedy steps, peak RSS. Pairs: our bf16 vs llama.cpp f16 (llama.cpp's CPU
// build has no fast bf16 path; both are 2 bytes per weight), q8_0 vs q8_0, f32 vs f32, and GGUF files
// both read as they are: Q4_K_M, Q4_0, Q6_K and Q3_K_M quantized by llama.cpp's own quantizer (the anchor's
// quantize_gguf.py) from the anchor's F32 GGUF, written once into <preset>-gguf/ beside the model.
// --check-tokens: greedy tokens of ours vs llamacpp_ref.mjs on the tiny preset in f32 (f32 KV), where
// llama.cpp's reference is exact enough to compare, at steps whose top-1/top-2 margin is clear.
// Decode reads every weight once per token, so decode tok/s x weight bytes is our weight read rate:
// printed against the machine's ceiling, a plain streaming read on the same threads (bandwidth-child.ts).
// --relaxed passes --experimental-wasm-relaxed-simd to the machine's Node (Node 20; later Nodes have
// relaxed SIMD on by default).

import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Bench } from "./bench.js";
import { type NodeBinary, benchNodes } from "./node-binary.js";

/** The anchor scripts beside the project (../shared), found from the project root (the folder with package.json). */
function anchorSource(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return join(dir, "..", "shared", "anchors", "llamacpp");
  }
  throw new Error("speed bench: project root (package.json) not found");
}
const CACHE = join(process.env["TMPDIR"] ?? tmpdir(), "llama3-ts-bench");
const GIB = 1024 ** 3;
/** Steps compared in --check-tokens stop at the first whose llama.cpp top-1/top-2 logprob gap is below this (float noise is ~1e-4 here). */
const CLEAR_MARGIN = 1e-2;

interface Pair {
  readonly label: string;
  readonly ours: { readonly dtype: string; readonly hf: string };
  readonly gguf: string;
}

interface OpStats {
  calls: number;
  seconds: number;
}

interface OursResult {
  weightDType: string;
  /** The kernel build the backend ran (simd or relaxed-simd). */
  build: string;
  loadSeconds: number;
  prefillTokS: number;
  decodeTokS: number;
  weightBytes: number;
  peakRssBytes: number;
  /** The last repetition's phases and the backend's time per op in each. */
  prefillSeconds: number;
  decodeSeconds: number;
  prefillOps: Record<string, OpStats>;
  decodeOps: Record<string, OpStats>;
}

/** "op 61% (calls), ..." for the ops of one phase, largest first, and what is outside the backend. */
function opBreakdown(ops: Record<string, OpStats>, phaseSeconds: number): string {
  const entries = Object.entries(ops).sort((a, b) => b[1].seconds - a[1].seconds);
  const inOps = entries.reduce((sum, [, o]) => sum + o.seconds, 0);
  const pct = (x: number): string => `${((100 * x) / phaseSeconds).toFixed(1)}%`;
  return [...entries.map(([name, o]) => `${name} ${pct(o.seconds)}`), `outside the backend ${pct(phaseSeconds - inOps)}`].join(", ");
}

interface LlamaCppResult {
  prefill_tok_s: number;
  decode_tok_s: number;
  load_ms: number;
  max_rss_mb: number;
  error?: string;
}

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The anchor scripts with node-llama-cpp installed, in the cache (copied and installed once). */
function ensureAnchor(): string {
  const dir = join(CACHE, "llamacpp-anchor");
  if (!existsSync(join(dir, "node_modules", "node-llama-cpp"))) {
    mkdirSync(CACHE, { recursive: true });
    cpSync(anchorSource(), dir, { recursive: true });
    console.log(`installing the llama.cpp anchor into ${dir} (npm ci --ignore-scripts) ...`);
    execFileSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: dir, stdio: "inherit" });
  }
  return dir;
}

/** The anchor's model of `preset` (written once by make_model.mjs). */
function ensureModel(anchor: string, preset: string): string {
  const dir = join(CACHE, "anchor-models", preset);
  if (!existsSync(join(dir, "synthetic.json"))) {
    console.log(`writing the ${preset} model into ${dir} (make_model.mjs; the 1b-shape takes minutes and ~11 GB) ...`);
    execFileSync(process.execPath, [join(anchor, "make_model.mjs"), "--preset", preset, "--out", dir], { stdio: "inherit" });
  }
  return dir;
}

/** GGUF types of the GGUF rows, as quantize_gguf.py names them. */
const GGUF_TYPES = ["Q4_K_M", "Q4_0", "Q6_K", "Q3_K_M"] as const;

/**
 * The anchor's F32 GGUF of `preset` quantized by llama.cpp to `types` (written once each), in
 * anchor-models/<preset>-gguf/; returns the folder.
 */
function ensureGgufModels(anchor: string, preset: string, types: readonly string[]): string {
  const dir = join(CACHE, "anchor-models", `${preset}-gguf`);
  const f32 = join(dir, `${preset}-f32.gguf`);
  const missing = types.filter((t) => !existsSync(join(dir, `${preset}-${t.toLowerCase()}.gguf`)));
  if (missing.length === 0) return dir;
  if (!existsSync(f32)) {
    console.log(`writing the ${preset} F32 GGUF into ${dir} (make_model.mjs --hf none --gguf f32) ...`);
    execFileSync(process.execPath, [join(anchor, "make_model.mjs"), "--preset", preset, "--hf", "none", "--gguf", "f32", "--out", dir], { stdio: "inherit" });
  }
  console.log(`quantizing ${missing.join(", ")} with llama.cpp's quantizer (quantize_gguf.py, about a minute each) ...`);
  execFileSync("/usr/bin/python3", [join(anchor, "quantize_gguf.py"), f32, join(dir, preset), ...missing], { stdio: ["ignore", "inherit", "inherit"] });
  return dir;
}

/** The GGUF rows: ours (dtype auto: every tensor kept in its stored type) and llama.cpp on one file. */
function ggufPairs(ggufDir: string, preset: string, types: readonly string[]): Pair[] {
  return types.map((t) => {
    const file = join(ggufDir, `${preset}-${t.toLowerCase()}.gguf`);
    return { label: `${t.toLowerCase()} / ${t.toLowerCase()} (gguf)`, ours: { dtype: "auto", hf: file }, gguf: file };
  });
}

function pairs(modelDir: string, preset: string): Pair[] {
  // Paths relative to modelDir (the GGUF pairs give absolute ones, which resolve() keeps).
  // The 1b-shape writes no hf-f32 folder: our f32 widens the bf16 folder (the values are identical).
  const f32Dir = existsSync(join(modelDir, "hf-f32")) ? "hf-f32" : "hf-bf16";
  return [
    { label: "bf16 / f16", ours: { dtype: "auto", hf: "hf-bf16" }, gguf: `${preset}-f16.gguf` },
    { label: "q8_0 / q8_0", ours: { dtype: "q8_0", hf: "hf-bf16" }, gguf: `${preset}-q8_0.gguf` },
    { label: "f32 / f32", ours: { dtype: "float32", hf: f32Dir }, gguf: `${preset}-f32.gguf` },
  ];
}

function runOurs(node: NodeBinary, dir: string, dtype: string, argv: readonly string[], nodeFlags: readonly string[]): OursResult {
  const child = join(dirname(fileURLToPath(import.meta.url)), "speed-child.js");
  const out = execFileSync(node.path, [...nodeFlags, child, "--dir", dir, "--dtype", dtype, ...argv], { encoding: "utf8", maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split("\n").at(-1)!) as OursResult;
}

function runLlamaCpp(anchor: string, gguf: string, threads: number, reps: number, lengths: readonly string[]): LlamaCppResult {
  const out = execFileSync(process.execPath, [join(anchor, "llamacpp_bench.mjs"), gguf, "--threads", String(threads), "--reps", String(reps), ...lengths], { encoding: "utf8", maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split("\n").at(-1)!) as LlamaCppResult;
}

function checkTokens(anchor: string, nodeFlags: readonly string[]): void {
  const modelDir = ensureModel(anchor, "tiny");
  const refFile = join(modelDir, "llamacpp-ref-f32.json");
  if (!existsSync(refFile)) {
    execFileSync(process.execPath, [join(anchor, "llamacpp_ref.mjs"), "--model", join(modelDir, "tiny-f32.gguf"), "--n", "32", "--kv", "f32", "--out", refFile], { stdio: "inherit" });
  }
  const ref = JSON.parse(readFileSync(refFile, "utf8")) as { results: { generated_ids: number[]; top_logprobs: [number, number][][] }[] };
  const child = join(dirname(fileURLToPath(import.meta.url)), "speed-child.js");
  const out = execFileSync(process.execPath, [...nodeFlags, child, "--dir", join(modelDir, "hf-f32"), "--dtype", "float32", "--tokens", refFile], { encoding: "utf8" });
  const ours = (JSON.parse(out.trim().split("\n").at(-1)!) as { tokens: number[][] }).tokens;
  console.log("\n| prompt | steps with a clear margin | equal to llama.cpp |\n|---|---|---|");
  let allEqual = true;
  ref.results.forEach((r, p) => {
    let clear = 0;
    let equal = 0;
    for (let step = 0; step < r.generated_ids.length; step++) {
      const [top1, top2] = r.top_logprobs[step]!;
      if (top1 === undefined || top2 === undefined || top1[1] - top2[1] < CLEAR_MARGIN) break;
      clear++;
      if (ours[p]![step] === r.generated_ids[step]) equal++;
      else break;
    }
    allEqual &&= equal === clear;
    console.log(`| ${p} | ${clear} | ${equal} |`);
  });
  console.log(allEqual ? "\ngreedy tokens: equal to llama.cpp at every clear step" : "\ngreedy tokens: DIFFER from llama.cpp");
}

/** Bytes/s of a plain streaming read on `threads` threads (bandwidth-child.ts), the decode ceiling. */
function readCeiling(threads: number): number {
  const child = join(dirname(fileURLToPath(import.meta.url)), "bandwidth-child.js");
  const out = execFileSync(process.execPath, [child, "--threads", String(threads)], { encoding: "utf8" });
  return (JSON.parse(out.trim().split("\n").at(-1)!) as { bytesPerSecond: number }).bytesPerSecond;
}

const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? "-" : x.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? "-" : (a / b).toFixed(2));

/** One table row: ours on one Node (or none) against llama.cpp's figures (or none). */
function row(label: string, node: string, ours: OursResult | undefined, theirs: LlamaCppResult | undefined, ceiling: number): string {
  const readRate = ours === undefined ? undefined : (ours.decodeTokS * ours.weightBytes) / 1e9;
  return `| ${label} | ${node} | ${fmt(ours?.prefillTokS)} | ${fmt(theirs?.prefill_tok_s)} | ${ratio(ours?.prefillTokS, theirs?.prefill_tok_s)} `
    + `| ${fmt(ours?.decodeTokS)} | ${fmt(theirs?.decode_tok_s)} | ${ratio(ours?.decodeTokS, theirs?.decode_tok_s)} `
    + `| ${readRate === undefined ? "-" : `${readRate.toFixed(1)} (${((100 * readRate * 1e9) / ceiling).toFixed(0)}%)`} `
    + `| ${fmt(ours?.loadSeconds, 2)} | ${fmt(theirs === undefined ? undefined : theirs.load_ms / 1000, 2)} `
    + `| ${ours === undefined ? "-" : (ours.peakRssBytes / GIB).toFixed(2) + " GiB"} | ${theirs === undefined ? "-" : (theirs.max_rss_mb / 1024).toFixed(2) + " GiB"} `
    + `| ${ours === undefined ? "-" : (ours.peakRssBytes / ours.weightBytes).toFixed(2)} |`;
}

export const speedBench: Bench = {
  name: "speed",
  summary: "prefill/decode tok/s, load time and peak RSS of the wasm backend vs llama.cpp on the same synthetic weights",
  perNode: true,
  async run(argv) {
    const preset = flag(argv, "--preset") ?? "small";
    const threads = Number(flag(argv, "--threads") ?? 2);
    const reps = Number(flag(argv, "--reps") ?? 3);
    const only = flag(argv, "--only");
    const dtypes = (flag(argv, "--dtypes") ?? "bf16,q8_0,f32,q4_k_m,q4_0,q6_k,q3_k_m").split(",");
    // Prompt and decode lengths, the same for both sides (llamacpp_bench.mjs and speed-child.ts share the prompt).
    const lengths = ["--prompt-tokens", flag(argv, "--prompt-tokens") ?? "128", "--gen-tokens", flag(argv, "--gen-tokens") ?? "64"];
    const profileDir = flag(argv, "--profile");
    const relaxed = argv.includes("--relaxed") ? ["--experimental-wasm-relaxed-simd"] : [];
    const profile = profileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", profileDir];
    const anchor = ensureAnchor();
    if (argv.includes("--check-tokens")) {
      checkTokens(anchor, [...relaxed, ...profile]);
      return;
    }
    const nodes = only === "llamacpp" ? [] : benchNodes(argv);
    const flagsFor = (node: NodeBinary): string[] => [...(node.machine ? relaxed : []), ...profile];
    const wanted = (label: string): boolean => dtypes.some((d) => label.startsWith(`${d} `));
    const ggufTypes = GGUF_TYPES.filter((t) => wanted(`${t.toLowerCase()} `));
    const modelDir = pairs("", preset).some((p) => wanted(p.label)) ? ensureModel(anchor, preset) : undefined;
    const ggufDir = ggufTypes.length > 0 ? ensureGgufModels(anchor, preset, ggufTypes) : undefined;
    const allPairs = [
      ...(modelDir === undefined ? [] : pairs(modelDir, preset).filter((p) => wanted(p.label))),
      ...(ggufDir === undefined ? [] : ggufPairs(ggufDir, preset, ggufTypes)),
    ];
    const ceiling = readCeiling(threads);
    console.log(`model: ${preset} (${[modelDir, ggufDir].filter((d) => d !== undefined).join(", ")}), ${threads} threads, ${reps} reps, prompt ${lengths[1]} + ${lengths[3]} decode tokens; ours on ${nodes.map((n) => `${n.label} (flags: ${flagsFor(n).join(" ") || "none"})`).join(", ")}`);
    console.log(`memory-read ceiling (plain streaming read, ${threads} threads, this run): ${(ceiling / 1e9).toFixed(1)} GB/s\n`);
    console.log("| weights (ours / llama.cpp) | ours on (kernel build) | prefill tok/s ours | llama.cpp | ratio | decode tok/s ours | llama.cpp | ratio | ours weight GB/s in decode (of ceiling) | load s ours | llama.cpp | peak RSS ours | llama.cpp | ours RSS / weight bytes |");
    console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    const breakdowns: string[] = [];
    for (const pair of allPairs) {
      const theirs = only === "ours" ? undefined : runLlamaCpp(anchor, resolve(modelDir ?? "", pair.gguf), threads, reps, lengths);
      if (nodes.length === 0) console.log(row(pair.label, "-", undefined, theirs, ceiling));
      for (const node of nodes) {
        const ours = runOurs(node, resolve(modelDir ?? "", pair.ours.hf), pair.ours.dtype, ["--threads", String(threads), "--reps", String(reps), ...lengths], flagsFor(node));
        console.log(row(pair.label, `${node.label} (${ours.build})`, ours, theirs, ceiling));
        breakdowns.push(`- ${node.label}, ${ours.weightDType} prefill: ${opBreakdown(ours.prefillOps, ours.prefillSeconds)}`);
        breakdowns.push(`- ${node.label}, ${ours.weightDType} decode: ${opBreakdown(ours.decodeOps, ours.decodeSeconds)}`);
      }
    }
    if (breakdowns.length > 0) console.log(`\nwhere our time goes (wall time per backend op, last repetition):\n${breakdowns.join("\n")}`);
  },
};
