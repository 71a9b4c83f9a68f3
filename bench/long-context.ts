// `npm run bench -- long-context [--threads N] [--max 8192]`: prefill of 1k, 2k, 4k and 8k tokens
// through a small Llama (dim 512, 8 layers, 8 heads, 2 kv heads, headDim 64, vocab 32000; seeded
// bf16 weights from synthetic-model.ts) on the wasm backend, with an f32 and a bf16 KV cache, each
// in a fresh child process (long-context-child.ts): prefill time, the cache's bytes and peak RSS.
// Memory should grow linearly with the tokens (the KV cache; attention is flash-style, never a
// tokens x context matrix), and the bf16 cache should take half the f32 one's bytes.

import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Bench } from "./bench.js";
import { ensureSyntheticCheckpoint } from "./synthetic-model.js";

const SHAPE = {
  hidden_size: 512, intermediate_size: 1536, num_hidden_layers: 8, num_attention_heads: 8,
  num_key_value_heads: 2, vocab_size: 32000, tie_word_embeddings: false,
};
const MIB = 1024 ** 2;

export const longContextBench: Bench = {
  name: "long-context",
  summary: "prefill 1k..8k tokens (small Llama, wasm): time, KV cache bytes and peak RSS, f32 vs bf16 cache",
  async run(argv) {
    const flag = (name: string, fallback: number): number => {
      const i = argv.indexOf(name);
      return i >= 0 ? Number(argv[i + 1]) : fallback;
    };
    const threads = flag("--threads", 2);
    const max = flag("--max", 8192);
    const dir = await ensureSyntheticCheckpoint(join(process.env["TMPDIR"] ?? tmpdir(), "llama3-ts-bench", "long-context-512x8"), SHAPE, 7);
    const child = fileURLToPath(new URL("./long-context-child.js", import.meta.url));
    console.log(`threads ${threads}; model dim 512, 8 layers, 8 heads / 2 kv heads, headDim 64`);
    console.log("| tokens | KV dtype | prefill (s) | tok/s | attention (s) | KV cache (MiB) | RSS after load (MiB) | RSS after prefill (MiB) | peak RSS (MiB) |");
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (let n = 1024; n <= max; n *= 2) {
      for (const dtype of ["f32", "bf16"]) {
        const out = execFileSync(process.execPath, [child, dir, String(n), dtype, String(threads)], { encoding: "utf8" });
        const r = JSON.parse(out.trim().split("\n").at(-1)!) as { prefillSeconds: number; cacheBytes: number; loadedRss: number; rssAfter: number; peakRss: number; attentionSeconds: number };
        console.log(`| ${n} | ${dtype} | ${r.prefillSeconds.toFixed(2)} | ${(n / r.prefillSeconds).toFixed(0)} | ${r.attentionSeconds.toFixed(2)} | ${(r.cacheBytes / MIB).toFixed(1)} | ${(r.loadedRss / MIB).toFixed(0)} | ${(r.rssAfter / MIB).toFixed(0)} | ${(r.peakRss / MIB).toFixed(0)} |`);
      }
    }
  },
};
