// `npm run bench -- browser [--files gguf-small-q8_0,gguf-small-q4_k_m] [--threads N] [--reps 3]
// [--prompt-tokens 128] [--gen-tokens 64] [--node-simd auto|simd] [--ops]`: prefill and decode tokens/s of one GGUF model in headless
// Chromium (Debian's /usr/bin/chromium via playwright-core, as the browser tests; page
// cross-origin isolated, threads = cores by default), three ways in one run on the same machine:
// ours in the browser (the browser build's fromPretrained on the GGUF URL, in a Web Worker:
// browser-page.ts), ours on Node (speed-child.ts, a fresh process, the same file and prompt), and
// wllama (@wllama/wllama, llama.cpp compiled to WebAssembly, its wasm loaded from node_modules by
// the same loopback server, no CDN) on the same file in the same browser. Ours use speed-child's
// prompt (BOS + 127 fixed pseudo-random ids); wllama is given that prompt's text (decoded by the
// file's tokenizer; llama.cpp's prompt_n is printed) and reports llama.cpp's own timings.
// --files names fixtures (../shared/fixtures/gguf, llama.cpp-quantized) or paths of .gguf files, such
// as the speed bench's 1B-shape files (`npm run bench -- speed --preset 1b-shape --dtypes q4_k_m`
// writes $TMPDIR/llama3-ts-bench/anchor-models/1b-shape-gguf/1b-shape-q4_k_m.gguf). Ours on Node runs
// the kernel build the browser runs: on Node 20 that takes --experimental-wasm-relaxed-simd
// (--node-simd simd leaves it off). The table says which build and whether the bench worker was
// cross-origin isolated (its pool has threads only then); a line per file says what each side ran
// on (threads, kernel build, weight dtype, bytes in the wasm memories), and --ops adds the last
// decode repetition op by op on both sides (backend.opStats). Load average is printed.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "../src/tokenizer/index.js";
import { CHROMIUM_PATH, launchChromium, pageLog } from "../test/support/browser.js";
import { PROJECT_ROOT, fixturePath } from "../test/support/paths.js";
import { startStaticServer } from "../test/support/static-server.js";
import type { Bench } from "./bench.js";
import { OURS_WORKER, WLLAMA_PAGE } from "./browser-page.js";
import { anchorPrompt } from "./speed-anchor-prompt.js";

interface Figures {
  threads: number;
  loadSeconds: number;
  prefillTokS: number;
  decodeTokS: number;
  promptTokens?: number;
  multithread?: boolean;
  version?: string;
  build?: string;
  isolated?: boolean;
  cores?: number;
  weightDType?: string;
  arenaBytes?: number;
  decodeSeconds?: number;
  decodeOps?: Record<string, { calls: number; seconds: number }>;
}

/**
 * The last decode repetition op by op, Node beside Chromium (backend.opStats of each): microseconds
 * per decode step in each op, and what the step spent outside the ops (JS between kernels, argmax).
 */
function opRows(name: string, steps: number, node: Figures, ours: Figures): string[] {
  const us = (seconds: number | undefined): string => (seconds === undefined ? "" : ((seconds / steps) * 1e6).toFixed(0));
  const outside = (f: Figures): number => f.decodeSeconds! - Object.values(f.decodeOps!).reduce((sum, s) => sum + s.seconds, 0);
  const ops = [...new Set([...Object.keys(node.decodeOps ?? {}), ...Object.keys(ours.decodeOps ?? {})])];
  const rows = ops.map((op) => {
    const a = node.decodeOps?.[op];
    const b = ours.decodeOps?.[op];
    return `| ${name} | ${op} | ${((a?.calls ?? b?.calls ?? 0) / steps).toFixed(0)} | ${us(a?.seconds)} | ${us(b?.seconds)} | ${a !== undefined && b !== undefined ? pct(b.seconds, a.seconds) : ""} |`;
  });
  rows.push(`| ${name} | (outside the ops) | | ${us(outside(node))} | ${us(outside(ours))} | ${pct(outside(ours), outside(node))} |`);
  rows.push(`| ${name} | (whole step) | | ${us(node.decodeSeconds)} | ${us(ours.decodeSeconds)} | ${pct(ours.decodeSeconds!, node.decodeSeconds!)} |`);
  return rows;
}

/** A fixture name or a .gguf path: the file, its folder and the name it is served under. */
function ggufFile(spec: string): { path: string; dir: string; name: string } {
  const path = spec.endsWith(".gguf") ? spec : fixturePath("gguf", `${spec}.gguf`);
  return { path, dir: dirname(path), name: basename(path, ".gguf") };
}

function option(argv: readonly string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const pct = (a: number, b: number): string => `${a >= b ? "+" : ""}${(((a - b) / b) * 100).toFixed(0)}%`;

export const browserBench: Bench = {
  name: "browser",
  summary: "GGUF prefill/decode tok/s in headless Chromium: ours vs ours on Node vs wllama (same file, same browser)",
  perNode: true,
  async run(argv) {
    const files = option(argv, "--files", "gguf-small-q8_0,gguf-small-q4_k_m").split(",").map(ggufFile);
    // Relaxed SIMD is on by default in Chromium and in Node 22+, behind a flag in Node 20.
    const nodeFlags = option(argv, "--node-simd", "auto") === "simd" || Number(process.versions.node.split(".")[0]) > 20 ? [] : ["--experimental-wasm-relaxed-simd"];
    const threads = Number(option(argv, "--threads", String(cpus().length)));
    const reps = Number(option(argv, "--reps", "3"));
    const promptTokens = Number(option(argv, "--prompt-tokens", "128"));
    const genTokens = Number(option(argv, "--gen-tokens", "64"));
    const opsTable = argv.includes("--ops");
    const prompt = anchorPrompt(promptTokens);
    // Debian's Chromium, installed as `npm test` installs it (apt-get, when root) on a fresh machine.
    if (!existsSync(CHROMIUM_PATH)) execFileSync(process.execPath, [join(PROJECT_ROOT, "scripts", "ensure-chromium.mjs")], { stdio: "inherit" });
    if (!existsSync(CHROMIUM_PATH)) throw new Error(`browser bench: no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium, or set LLAMA3_CHROMIUM)`);
    const pageDir = join(process.env["TMPDIR"] ?? tmpdir(), "llama3-ts-bench", "browser-page");
    mkdirSync(pageDir, { recursive: true });
    writeFileSync(join(pageDir, "ours-worker.js"), OURS_WORKER);
    const http = await startStaticServer({
      "/dist/": [join(PROJECT_ROOT, "dist", "browser")],
      "/gguf/": [...new Set(files.map((f) => f.dir))],
      "/wllama/": [join(PROJECT_ROOT, "node_modules", "@wllama", "wllama", "esm")],
      "/bench/": [pageDir],
    }, { "/bench.html": "<!doctype html><title>llama3-ts browser bench</title>" });
    const browser = await launchChromium();
    const speedChild = join(dirname(fileURLToPath(import.meta.url)), "speed-child.js");
    console.log(`\nload average before: ${loadavg().map((x) => x.toFixed(2)).join(" ")} on ${cpus().length} cores (${cpus()[0]?.model ?? "?"}); ${threads} threads; prompt ${promptTokens} tokens, ${genTokens} decode steps, median of ${reps}\n`);
    const rows: string[] = [];
    const sameness: string[] = [];
    const ops: string[] = [];
    try {
      for (const { path, name } of files) {
        const text = (await Tokenizer.fromPretrained(path)).decode(prompt.slice(1));
        console.error(`browser bench: ${name}: ours on Node`);
        const node = JSON.parse(execFileSync(process.execPath, [...nodeFlags, speedChild, "--dir", path, "--dtype", "auto", "--threads", String(threads), "--prompt-tokens", String(promptTokens), "--gen-tokens", String(genTokens), "--reps", String(reps)], { encoding: "utf8" }).trim().split("\n").at(-1)!) as Figures;
        const page = await browser.newPage();
        const log = pageLog(page);
        try {
          await page.goto(`${http.url}/iso/bench.html`);
          const url = `${http.url}/iso/gguf/${name}.gguf`;
          console.error(`browser bench: ${name}: ours in Chromium`);
          const ours = (await page.evaluate(async (args) => {
            const g = globalThis as unknown as { Worker: new (u: string, o: object) => { onmessage: (e: { data: unknown }) => void; onerror: (e: { message?: string }) => void; postMessage(m: unknown): void; terminate(): void } };
            const worker = new g.Worker("bench/ours-worker.js", { type: "module" });
            const result = await new Promise((resolve) => {
              worker.onmessage = (e) => resolve(e.data);
              // A worker that fails to start (a module that does not load) reports here, not by message.
              worker.onerror = (e) => resolve({ ok: false, error: `worker error: ${e.message ?? "(no message; a module failed to load?)"}` });
              worker.postMessage(args);
            });
            worker.terminate();
            return result;
          }, { url, threads, prompt, genTokens, reps })) as Figures & { ok: boolean; error?: string };
          if (!ours.ok) throw new Error(`ours in the browser: ${ours.error}`);
          sameness.push(`${name}: Chromium ${ours.threads} thread(s), ${ours.build} kernels, ${ours.weightDType} weights, ${ours.arenaBytes} bytes in the wasm memories; Node ${node.threads} thread(s), ${node.build} kernels, ${node.weightDType} weights, ${node.arenaBytes} bytes`);
          if (opsTable) ops.push(...opRows(name, genTokens, node, ours));
          console.error(`browser bench: ${name}: wllama in Chromium`);
          // wllama can fail on a file (llama.cpp's JSON layer throws on the random models' invalid
          // UTF-8 output, Q4_K_M fixture): its row says so and the other files still run.
          const wllama = await (page.evaluate(`(${WLLAMA_PAGE})(${JSON.stringify({ url, threads, text, genTokens, reps })})`) as Promise<Figures>)
            .catch((error: unknown) => ({ failed: String(error).split("\n")[0] }));
          rows.push(`| ${name} | ours, Chromium (${ours.build}${ours.isolated === true ? ", isolated" : ", NOT isolated"}, ${ours.cores} cores) | ${ours.threads} | ${fmt(ours.prefillTokS)} | ${fmt(ours.decodeTokS)} | ${ours.loadSeconds.toFixed(2)} |`);
          rows.push(`| ${name} | ours, Node ${process.version} (${node.build}) | ${node.threads} | ${fmt(node.prefillTokS)} | ${fmt(node.decodeTokS)} | ${node.loadSeconds.toFixed(2)} |`);
          if ("failed" in wllama) {
            rows.push(`| ${name} | wllama, Chromium | failed: ${wllama.failed} | | | |`);
            rows.push(`| ${name} | browser vs Node | | ${pct(ours.prefillTokS, node.prefillTokS)} | ${pct(ours.decodeTokS, node.decodeTokS)} | |`);
          } else {
            rows.push(`| ${name} | wllama, Chromium${wllama.version === undefined ? "" : ` (llama.cpp ${wllama.version})`} | ${wllama.threads}${wllama.multithread === true ? "" : " (single-thread build)"} | ${fmt(wllama.prefillTokS)} (prompt_n ${wllama.promptTokens}) | ${fmt(wllama.decodeTokS)} | ${wllama.loadSeconds.toFixed(2)} |`);
            rows.push(`| ${name} | browser vs Node / vs wllama | | ${pct(ours.prefillTokS, node.prefillTokS)} / ${pct(ours.prefillTokS, wllama.prefillTokS)} | ${pct(ours.decodeTokS, node.decodeTokS)} / ${pct(ours.decodeTokS, wllama.decodeTokS)} | |`);
          }
        } catch (error) {
          console.error(log.join("\n"));
          throw error;
        } finally {
          await page.close();
        }
      }
    } finally {
      await browser.close();
      await http.close();
    }
    console.log("| file | engine | threads | prefill tok/s | decode tok/s | load s |");
    console.log("|---|---|---|---|---|---|");
    for (const row of rows) console.log(row);
    console.log("");
    for (const line of sameness) console.log(line);
    if (opsTable) {
      console.log(`\nThe last decode repetition op by op (backend.opStats; µs per step, ${genTokens} steps):\n`);
      console.log("| file | op | calls/step | Node µs | Chromium µs | Chromium vs Node |");
      console.log("|---|---|---|---|---|---|");
      for (const row of ops) console.log(row);
    }
    console.log(`\nload average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  },
};
