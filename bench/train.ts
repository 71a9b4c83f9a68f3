// `npm run bench -- train [--reps 3] [--steps 2] [--threads 2] [--only speed|memory] [--no-torch]
// [--long-seq-len 1024] [--memory-seq-len 64] [--node 24|none]`: tokens/s of one optimizer step (forward, loss,
// backward, clipping, AdamW) of full fine-tuning and of LoRA (r 8 on q_proj, v_proj, dropout 0) on
// a small synthetic Llama (dim 512, 8 layers, 8 heads, 4 kv heads, ffn 2048, vocab 32768, untied;
// seeded random bf16 weights written once by synthetic-model.ts) with a batch of 4 x 128 tokens, ours
// on the WebAssembly backend against PyTorch (train_torch.py, Debian's python3-torch, see
// torch-setup.ts) reading the very same safetensors file, same batch shape, threads and optimizer.
// Ours: full fine-tuning in float32 and bf16 mixed precision, LoRA on a frozen bf16 and q8_0 base.
// PyTorch: full fine-tuning in float32 and under bf16 autocast, LoRA on a float32 and a bf16 base.
// Our rows run on the machine's Node and on each Node of --node (default the current LTS,
// node-binary.ts: Node 22+ runs the relaxed-SIMD kernel build by default, Node 20 the plain one).
// Every row runs in its own child process (train-child.ts, train_torch.py), so its peak RSS is its
// own; the rows are interleaved, ours and torch alternating and their order flipped every
// repetition, so that load from other processes on the machine falls on both sides, and the ratios
// are the medians of per-repetition ratios. The first repetition also profiles one step of each of
// our rows (train-profile.ts). Memory: LoRA on a frozen 1B-shaped bf16 base (Llama 3.2 1B's shapes,
// synthetic weights, a short sequence) and full fine-tuning with and without gradient
// checkpointing at a longer sequence, peak RSS against weights + training state + activations.
// Not a test: the numbers go to docs/PERFORMANCE.md.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Bench } from "./bench.js";
import { type NodeBinary, benchNodes } from "./node-binary.js";
import { LLAMA_32_1B_SHAPE, type SyntheticShape, ensureSyntheticCheckpoint } from "./synthetic-model.js";
import { PYTHON, type TorchSetup, ensureTorch } from "./torch-setup.js";

const SHAPE: SyntheticShape = {
  hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 8, num_attention_heads: 8,
  num_key_value_heads: 4, vocab_size: 32768, tie_word_embeddings: false,
};
const ROWS = 4;
const SEQ_LEN = 128;
const CACHE = join(process.env["TMPDIR"] ?? tmpdir(), "llama3-ts-bench");
const MIB = 1024 ** 2;

/** What a child prints (train-child.ts and train_torch.py share these fields). */
interface ChildResult {
  stepSeconds: number[];
  peakRssBytes: number;
  baselineRssBytes: number;
  weightBytes: number;
  /** ours: float32 masters apart from the weights, gradients and AdamW moments */
  trainStateBytes?: number;
  activationBytes?: number;
  nTrainable: number;
  /** torch: seconds per phase of each timed step */
  phases?: { forward: number; backward: number; optimizer: number }[];
  /** ours with --profile: seconds by "phase / op" of one step */
  profile?: { seconds: number; breakdown: Record<string, number> };
  blas?: string[];
  torch?: string;
  /** ours: the kernel build the backend ran (simd or relaxed-simd) */
  build?: string;
  error?: string;
}

interface Row {
  readonly key: string;
  readonly side: "ours" | "torch";
  readonly label: string;
  readonly args: readonly string[];
  /** ours: the Node that runs the child (the machine's when absent) */
  readonly node?: NodeBinary;
  /** ours: the key of the row before its Node was added (what AGAINST is keyed by) */
  readonly base?: string;
}

/** Our rows once per Node, the machine's first; with one Node the rows are as they are. */
function oursOn(nodes: readonly NodeBinary[]): Row[] {
  if (nodes.length <= 1) return [...OURS];
  return OURS.flatMap((row) => nodes.map((node) => ({ ...row, key: `${row.key}@${node.label}`, label: `${row.label}, ${node.label}`, node, base: row.key })));
}

const OURS: readonly Row[] = [
  { key: "full-f32", side: "ours", label: "ours full fine-tuning, float32", args: ["--dtype", "float32"] },
  { key: "full-bf16", side: "ours", label: "ours full fine-tuning, bf16 mixed", args: ["--dtype", "bfloat16"] },
  { key: "lora-bf16", side: "ours", label: "ours LoRA, frozen bf16 base", args: ["--dtype", "bfloat16", "--lora"] },
  { key: "lora-q8", side: "ours", label: "ours LoRA, frozen q8_0 base", args: ["--dtype", "q8_0", "--lora"] },
];
const TORCH: readonly Row[] = [
  { key: "torch-full-f32", side: "torch", label: "torch full fine-tuning, float32", args: ["--mode", "full", "--dtype", "float32"] },
  { key: "torch-full-bf16", side: "torch", label: "torch full fine-tuning, bf16 autocast", args: ["--mode", "full", "--dtype", "bfloat16"] },
  { key: "torch-lora-f32", side: "torch", label: "torch LoRA, float32 base", args: ["--mode", "lora", "--dtype", "float32"] },
  { key: "torch-lora-bf16", side: "torch", label: "torch LoRA, bf16 base (autocast)", args: ["--mode", "lora", "--dtype", "bfloat16"] },
];
/** Our row -> the torch rows its ratio columns divide by: [float32, bf16]. */
const AGAINST: Readonly<Record<string, readonly [string, string]>> = {
  "full-f32": ["torch-full-f32", "torch-full-bf16"], "full-bf16": ["torch-full-f32", "torch-full-bf16"],
  "lora-bf16": ["torch-lora-f32", "torch-lora-bf16"], "lora-q8": ["torch-lora-f32", "torch-lora-bf16"],
};

function flag(argv: readonly string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i === -1 ? fallback : argv[i + 1]!;
}

/** The project root (the folder with package.json), found from this file (src or dist). */
function projectRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error("train bench: project root (package.json) not found");
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Run one row's child; its JSON line, or an error record. */
function runChild(row: Row, common: readonly string[], torch: TorchSetup | undefined, env?: NodeJS.ProcessEnv): ChildResult {
  const [cmd, script] = row.side === "ours"
    ? [row.node?.path ?? process.execPath, join(dirname(fileURLToPath(import.meta.url)), "train-child.js")]
    : [PYTHON, join(projectRoot(), "bench", "train_torch.py")];
  try {
    const out = execFileSync(cmd, [script, ...row.args, ...common], {
      encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26, ...(row.side === "torch" ? { env: env ?? torch!.env } : {}),
    });
    return JSON.parse(out.trim().split("\n").at(-1)!) as ChildResult;
  } catch (e) {
    return { stepSeconds: [], peakRssBytes: 0, baselineRssBytes: 0, weightBytes: 0, nTrainable: 0, error: (e as Error).message.split("\n")[0]! };
  }
}

const tokS = (r: ChildResult, nTokens: number): number => (r.stepSeconds.length === 0 ? Number.NaN : nTokens / median(r.stepSeconds));
const mib = (bytes: number): string => (bytes / MIB).toFixed(0);

/** The speed table: every row `reps` times, interleaved; our profiles from the first repetition. */
function speedSection(dir: string, reps: number, shape: readonly string[], steps: string, torch: TorchSetup | undefined, ours: readonly Row[]): void {
  const common = [...shape, "--steps", steps, "--warmup", "1"];
  const results = new Map<string, ChildResult[]>();
  const torchRows = torch === undefined ? [] : TORCH;
  for (let rep = 0; rep < reps; rep++) {
    // ours, torch, ours, torch ... on even repetitions; torch first on odd ones.
    const order: Row[] = [];
    // Each torch row beside our rows of the same kind (one per Node).
    const perTorch = Math.max(1, ours.length / OURS.length);
    for (let i = 0; i < Math.max(OURS.length, torchRows.length); i++) {
      const group = [...ours.slice(i * perTorch, (i + 1) * perTorch), torchRows[i]].filter((r): r is Row => r !== undefined);
      order.push(...(rep % 2 === 0 ? group : group.reverse()));
    }
    for (const row of order) {
      const extra = row.side === "ours" && rep === 0 ? ["--profile"] : [];
      const r = runChild(row, ["--dir", dir, ...common, ...extra], torch);
      results.set(row.key, [...(results.get(row.key) ?? []), r]);
      console.error(`train bench: rep ${rep + 1}/${reps} ${row.label}: ${r.error ?? `${tokS(r, ROWS * SEQ_LEN).toFixed(1)} tok/s`}`);
    }
  }
  const nTokens = ROWS * SEQ_LEN;
  const ok = (key: string): ChildResult[] => (results.get(key) ?? []).filter((r) => r.error === undefined);
  /** Median over repetitions of (ours / torch) within each repetition. */
  const ratio = (ours: string, against: string): string => {
    const a = results.get(ours) ?? [];
    const b = results.get(against) ?? [];
    const per = a.map((r, i) => tokS(r, nTokens) / tokS(b[i] ?? r, nTokens)).filter((x, i) => Number.isFinite(x) && b[i] !== undefined && b[i]!.error === undefined);
    return per.length === 0 ? "-" : `${median(per).toFixed(2)}x`;
  };
  console.log("| row | tokens/s (median) | per repetition | peak RSS MiB | weights + training state + activations MiB | vs torch f32 | vs torch bf16 |");
  console.log("|---|---|---|---|---|---|---|");
  for (const row of [...ours, ...torchRows]) {
    const rs = ok(row.key);
    const failed = (results.get(row.key) ?? []).find((r) => r.error !== undefined);
    if (rs.length === 0) {
      console.log(`| ${row.label} | failed: ${failed?.error ?? "not run"} | | | | | |`);
      continue;
    }
    const speeds = rs.map((r) => tokS(r, nTokens));
    const last = rs.at(-1)!;
    const expected = last.trainStateBytes === undefined ? "" : mib(last.weightBytes + last.trainStateBytes + (last.activationBytes ?? 0));
    const [f32, bf16] = AGAINST[row.base ?? row.key] ?? ["", ""];
    const label = row.side === "ours" && last.build !== undefined ? `${row.label} (${last.build})` : row.label;
    console.log(`| ${label} | ${median(speeds).toFixed(1)} | ${speeds.map((s) => s.toFixed(1)).join(", ")} | ${mib(median(rs.map((r) => r.peakRssBytes)))} | ${expected} | ${f32 === "" ? "" : ratio(row.key, f32)} | ${bf16 === "" ? "" : ratio(row.key, bf16)} |`);
  }
  const blas = ok("torch-full-f32")[0];
  if (blas !== undefined) console.log(`\ntorch ${blas.torch}, BLAS mapped: ${blas.blas?.join(", ") || "none found"}`);
  if (torch !== undefined && torch.openblasDir !== undefined) {
    // For the record: the same torch on whatever libblas.so.3 the system resolves (one step, no warm-up: it is slow).
    const r = runChild(TORCH[0]!, ["--dir", dir, ...shape, "--steps", "1", "--warmup", "0"], torch, torch.systemBlasEnv);
    console.log(`torch full fine-tuning, float32, on the system's libblas.so.3 (${r.blas?.join(", ") ?? "?"}): ${r.error ?? `${tokS(r, nTokens).toFixed(1)} tokens/s (one step, no warm-up)`}`);
  }
  printBreakdown(results, torchRows, ours);
}

/** Where the time goes: our profiled steps by phase / op; torch's timed phases. */
function printBreakdown(results: Map<string, ChildResult[]>, torchRows: readonly Row[], ours: readonly Row[]): void {
  console.log("\nWhere the time of one step goes (ours: CPU profile of the main thread, share of the step):\n");
  for (const row of ours) {
    const p = results.get(row.key)?.[0]?.profile;
    if (p === undefined) continue;
    const parts = Object.entries(p.breakdown).sort((a, b) => b[1] - a[1]).filter(([, s]) => s / p.seconds >= 0.005);
    console.log(`- ${row.label} (${p.seconds.toFixed(2)} s): ${parts.map(([k, s]) => `${k} ${((100 * s) / p.seconds).toFixed(1)}%`).join(", ")}`);
  }
  for (const row of torchRows) {
    const phases = (results.get(row.key) ?? []).flatMap((r) => r.phases ?? []);
    if (phases.length === 0) continue;
    const m = (k: "forward" | "backward" | "optimizer"): string => median(phases.map((p) => p[k])).toFixed(2);
    console.log(`- ${row.label}: forward + loss ${m("forward")} s, backward ${m("backward")} s, clip + AdamW ${m("optimizer")} s (medians)`);
  }
}

/** Peak RSS against what it is made of, for the memory rows. */
function memoryRow(label: string, r: ChildResult, nTokens: number): void {
  if (r.error !== undefined) {
    console.log(`| ${label} | failed: ${r.error} | | | | | |`);
    return;
  }
  const expected = r.weightBytes + (r.trainStateBytes ?? 0) + (r.activationBytes ?? 0);
  console.log(`| ${label} | ${tokS(r, nTokens).toFixed(1)} | ${mib(r.peakRssBytes)} | ${mib(r.weightBytes)} | ${mib(r.trainStateBytes ?? 0)} | ${mib(r.activationBytes ?? 0)} | ${mib(r.peakRssBytes - expected)} (${mib(r.baselineRssBytes)} of it the bare process) |`);
}

async function memorySection(smallDir: string, threads: string, longSeqLen: number, memorySeqLen: number): Promise<void> {
  console.log("\n| memory row | tokens/s | peak RSS MiB | weights MiB | training state MiB | activations (kept) MiB | peak - sum MiB |\n|---|---|---|---|---|---|---|");
  const common = ["--threads", threads, "--warmup", "0", "--steps", "1"];
  for (const checkpointing of [false, true]) {
    const row: Row = { key: "long", side: "ours", label: "", args: ["--dtype", "bfloat16", ...(checkpointing ? ["--gradient-checkpointing"] : [])] };
    const r = runChild(row, ["--dir", smallDir, "--rows", "1", "--seq-len", String(longSeqLen), ...common], undefined);
    memoryRow(`full fine-tuning bf16 mixed, dim 512 x 8 layers, 1 x ${longSeqLen} tokens${checkpointing ? ", --gradient-checkpointing" : ""}`, r, longSeqLen);
  }
  const bigDir = await ensureSyntheticCheckpoint(join(CACHE, "train-1b-shape"), LLAMA_32_1B_SHAPE);
  const row: Row = { key: "1b", side: "ours", label: "", args: ["--dtype", "bfloat16", "--lora"] };
  const r = runChild(row, ["--dir", bigDir, "--rows", "1", "--seq-len", String(memorySeqLen), "--threads", threads, "--warmup", "1", "--steps", "1"], undefined);
  memoryRow(`LoRA r8 q,v on a frozen bf16 1B-shaped base (dim 2048, 16 layers, vocab 128256, tied), 1 x ${memorySeqLen} tokens`, r, memorySeqLen);
  console.log("\nTraining state: float32 masters kept apart from the weights the kernels read (bf16 mixed precision; the adapter), gradients and the two AdamW moments. Activations: what the forward keeps for the backward (activations.ts) plus logits; the backward's own scratch and the transposed weight copies of the backward products are not in the sum.");
}

export const trainBench: Bench = {
  name: "train",
  perNode: true,
  summary: "tokens/s of full fine-tuning and LoRA steps on a dim-512, 8-layer model, batch 4 x 128, vs PyTorch; training memory",
  async run(argv) {
    const reps = Number(flag(argv, "--reps", "3"));
    const steps = flag(argv, "--steps", "2");
    const threads = flag(argv, "--threads", "2");
    const only = flag(argv, "--only", "");
    const dir = await ensureSyntheticCheckpoint(join(CACHE, "train-512x8"), SHAPE);
    if (only !== "memory") {
      const torch = argv.includes("--no-torch") ? undefined : ensureTorch(CACHE, Number(threads));
      console.log(`model dim 512, 8 layers, 8 heads / 4 kv heads, ffn 2048, vocab 32768 (untied, ${dir}); batch ${ROWS} x ${SEQ_LEN}; ${threads} threads; each row: median of ${steps} steps after one warm-up, in its own process; ${reps} repetitions, interleaved\n`);
      const nodes = benchNodes(argv);
      console.log(`our rows on: ${nodes.map((n) => n.label).join(", ")}\n`);
      speedSection(dir, reps, ["--threads", threads, "--rows", String(ROWS), "--seq-len", String(SEQ_LEN)], steps, torch, oursOn(nodes));
    }
    if (only !== "speed") await memorySection(dir, threads, Number(flag(argv, "--long-seq-len", "1024")), Number(flag(argv, "--memory-seq-len", "64")));
  },
};
