// `npm run bench -- convert [--dir DIR] [--runs N]`: peak resident memory and throughput of
// converting a Meta original checkpoint to the Hugging Face layout (loader/convert-meta.ts). It
// writes (once) a synthetic Meta folder with the Llama 3.2 1B shape, untied (dim 2048, 16 layers, 32
// heads, 8 kv heads, ffn 8192, vocab 128256, a separate output head: 1.50 B parameters, 3.0 GB of
// bf16) split into 4 model-parallel shards the way Meta splits 70B into 8, into DIR (default
// $TMPDIR/llama3-ts-bench/meta-1b-mp4), then converts it in a fresh child process (so its peak RSS is
// the converter's own) into 1 GB safetensors shards. The claim under test: peak RSS is a few tensors
// (the largest is the 0.53 GB embedding), not the 3 GB model.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { weightNames } from "../src/convert/names.js";
import { type TensorSpec, writeTorchSave } from "../src/io/pytorch/torch-save-writer.js";
import { Rng } from "../src/tensor/rng.js";
import type { Bench } from "./bench.js";

/** Meta's params.json of the benchmark model (Llama 3.2 1B's numbers; ffn 8192 from multiple_of/multiplier). */
const PARAMS = {
  dim: 2048, n_layers: 16, n_heads: 32, n_kv_heads: 8, vocab_size: 128256, ffn_dim_multiplier: 1.5,
  multiple_of: 256, norm_eps: 1e-5, rope_theta: 500000.0, use_scaled_rope: true,
};
const HIDDEN_DIM = 8192;
const MODEL_PARALLEL = 4;
const GB = 1e9;
const GIB = 1024 ** 3;

export interface ConvertChildResult {
  readonly seconds: number;
  readonly weightBytes: number;
  readonly baselineRssBytes: number;
  readonly peakRssBytes: number;
  readonly files: readonly string[];
}

/** Random bf16 bits of moderate magnitude (as synthetic-model.ts): conversion cost does not depend on values. */
function randomBf16Bytes(n: number, rng: Rng): Uint8Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const r = rng.nextU32();
    out[i] = ((r & 1) << 15) | ((118 + ((r >>> 1) & 7)) << 7) | ((r >>> 4) & 0x7f);
  }
  return new Uint8Array(out.buffer);
}

/** Full (unsplit) shape of each Meta weight of the benchmark model. */
function fullShape(metaName: string): number[] {
  const { dim, n_heads: nHeads, n_kv_heads: nKvHeads, vocab_size: vocab } = PARAMS;
  const kv = (dim / nHeads) * nKvHeads;
  const kind = metaName.replace(/^layers\.\d+\./, "").replace(/\.weight$/, "");
  const shapes: Record<string, number[]> = {
    tok_embeddings: [vocab, dim], output: [vocab, dim], norm: [dim], attention_norm: [dim], ffn_norm: [dim],
    "attention.wq": [dim, dim], "attention.wk": [kv, dim], "attention.wv": [kv, dim], "attention.wo": [dim, dim],
    "feed_forward.w1": [HIDDEN_DIM, dim], "feed_forward.w3": [HIDDEN_DIM, dim], "feed_forward.w2": [dim, HIDDEN_DIM],
  };
  return shapes[kind]!;
}

/** Write (once) the Meta folder: params.json and consolidated.00..03.pth, each holding its slice of every weight. */
export function ensureMetaCheckpoint(dir: string): string {
  const last = join(dir, `consolidated.${String(MODEL_PARALLEL - 1).padStart(2, "0")}.pth`);
  if (existsSync(last) && existsSync(join(dir, "params.json"))) return dir;
  mkdirSync(dir, { recursive: true });
  const names = weightNames(PARAMS.n_layers);
  for (let shard = 0; shard < MODEL_PARALLEL; shard++) {
    const rng = new Rng(1000 + shard);
    const specs: TensorSpec[] = names.map((w, i) => {
      const shape = fullShape(w.meta);
      if (w.metaSplit === "dim0") shape[0] = shape[0]! / MODEL_PARALLEL;
      if (w.metaSplit === "dim1") shape[1] = shape[1]! / MODEL_PARALLEL;
      const n = shape.reduce((a, b) => a * b, 1);
      return { name: w.meta, storage: { key: String(i), dtype: "bf16", data: randomBf16Bytes(n, rng) }, shape };
    });
    // Meta's 3.1+ files carry the scaled rope frequencies too (the converter skips them).
    specs.push({ name: "rope.freqs", storage: { key: "freqs", dtype: "f32", data: new Uint8Array(4 * 32) }, shape: [32] });
    writeFileSync(join(dir, `consolidated.${String(shard).padStart(2, "0")}.pth`), writeTorchSave(specs, { archiveName: "consolidated" }));
  }
  writeFileSync(join(dir, "params.json"), JSON.stringify(PARAMS));
  return dir;
}

function convertInChild(input: string, output: string): ConvertChildResult {
  const child = join(dirname(fileURLToPath(import.meta.url)), "convert-child.js");
  const out = execFileSync(process.execPath, [child, input, output], { encoding: "utf8", maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split("\n").at(-1)!) as ConvertChildResult;
}

function flagValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

export const convertBench: Bench = {
  name: "convert",
  summary: "peak RSS and throughput of converting a 3 GB 4-shard Meta checkpoint to safetensors",
  async run(argv) {
    const dir = flagValue(argv, "dir") ?? join(tmpdir(), "llama3-ts-bench", "meta-1b-mp4");
    const runs = Number(flagValue(argv, "runs") ?? "1");
    const start = performance.now();
    ensureMetaCheckpoint(dir);
    console.log(`checkpoint: ${dir}, ${MODEL_PARALLEL} shards (ready in ${((performance.now() - start) / 1000).toFixed(1)} s)\n`);
    console.log("| run | weights written | time | throughput | peak RSS | peak RSS / weight bytes | node baseline RSS |");
    console.log("|---|---|---|---|---|---|---|");
    const output = join(dirname(dir), "convert-out");
    for (let run = 1; run <= runs; run++) {
      rmSync(output, { recursive: true, force: true });
      const r = convertInChild(dir, output);
      console.log(`| ${run} | ${(r.weightBytes / GB).toFixed(2)} GB in ${r.files.filter((f) => f.endsWith(".safetensors")).length} files | ${r.seconds.toFixed(1)} s | ${(r.weightBytes / GB / r.seconds).toFixed(2)} GB/s | ${(r.peakRssBytes / GIB).toFixed(2)} GiB | ${(r.peakRssBytes / r.weightBytes).toFixed(3)} | ${(r.baselineRssBytes / 1024 ** 2).toFixed(0)} MiB |`);
    }
    rmSync(output, { recursive: true, force: true });
  },
};
