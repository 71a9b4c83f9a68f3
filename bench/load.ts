// `npm run bench -- load [--dir DIR] [--backend reference|wasm] [--dtypes auto,float32,q8_0] [--runs N]`:
// load time and peak resident memory of a ~1B-parameter bf16 checkpoint (Llama 3.2 1B shape,
// generated once into DIR, default $TMPDIR/llama3-ts-bench/1b-bf16), by default with dtype "auto"
// (weights stay bf16: the RSS / weight-bytes ratio should be close to 1) and "float32" (widened to 4
// bytes per parameter, as transformers' default); "q8_0" quantizes as it loads. With --backend wasm
// the weights go into a WebAssembly backend's memory (converted there when the dtype differs from
// the stored one). Each load runs in a fresh child process so its peak RSS is its own.

import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ArgumentError } from "../src/errors.js";
import type { Bench } from "./bench.js";
import { ensureSyntheticCheckpoint } from "./synthetic-model.js";

interface LoadResult {
  dtype: string;
  backend: string;
  loadSeconds: number;
  weightBytes: number;
  baselineRssBytes: number;
  peakRssBytes: number;
  rssAfterLoadBytes: number;
  weightDType: string;
}

const GIB = 1024 ** 3;
/** Loads per dtype: the first may find a cold page cache; the best shows the loader's own cost. */
const DEFAULT_RUNS = 3;

function loadInChild(dir: string, dtype: string, backend: string): LoadResult {
  const child = join(dirname(fileURLToPath(import.meta.url)), "load-child.js");
  const out = execFileSync(process.execPath, [child, dir, dtype, backend], { encoding: "utf8", maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split("\n").at(-1)!) as LoadResult;
}

export const loadBench: Bench = {
  name: "load",
  summary: "load time and peak RSS / weight bytes for a generated Llama 3.2 1B-shape bf16 checkpoint",
  async run(argv) {
    const flag = (name: string): string | undefined => {
      const i = argv.indexOf(name);
      return i >= 0 ? argv[i + 1] : undefined;
    };
    const dir = flag("--dir") ?? join(tmpdir(), "llama3-ts-bench", "1b-bf16");
    const backend = flag("--backend") ?? "reference";
    if (backend !== "reference" && backend !== "wasm") throw new ArgumentError(`--backend must be reference or wasm, got ${backend}`);
    const dtypes = (flag("--dtypes") ?? "auto,float32").split(",");
    const runCount = Number(flag("--runs") ?? DEFAULT_RUNS);
    if (!Number.isInteger(runCount) || runCount < 1) throw new ArgumentError(`--runs must be a positive integer`);
    const writeStart = performance.now();
    await ensureSyntheticCheckpoint(dir);
    const fileBytes = statSync(join(dir, "model.safetensors")).size;
    console.log(`checkpoint: ${dir}/model.safetensors, ${(fileBytes / GIB).toFixed(2)} GiB (ready in ${((performance.now() - writeStart) / 1000).toFixed(1)} s)\n`);
    console.log(`backend: ${backend}; load time: first run (page cache as found) and best of ${runCount}; peak RSS: largest of the runs\n`);
    console.log("| dtype | weights in memory | load, first | load, best | load rate (best) | peak RSS | peak RSS / weight bytes | node baseline RSS |");
    console.log("|---|---|---|---|---|---|---|---|");
    for (const dtype of dtypes) {
      const runs = Array.from({ length: runCount }, () => loadInChild(dir, dtype, backend));
      const r = runs[0]!;
      const best = Math.min(...runs.map((x) => x.loadSeconds));
      const peak = Math.max(...runs.map((x) => x.peakRssBytes));
      console.log(`| ${dtype} (${r.weightDType}) | ${(r.weightBytes / GIB).toFixed(2)} GiB | ${r.loadSeconds.toFixed(2)} s | ${best.toFixed(2)} s | ${(fileBytes / GIB / best).toFixed(2)} GiB/s | ${(peak / GIB).toFixed(2)} GiB | ${(peak / r.weightBytes).toFixed(3)} | ${(r.baselineRssBytes / 1024 ** 2).toFixed(0)} MiB |`);
    }
  },
};
