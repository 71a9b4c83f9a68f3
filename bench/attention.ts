// `npm run bench -- attention [--reps 3]`: the WebAssembly attention kernel at long context (2k and
// 8k cached positions; 32 query heads, 8 kv heads, headDim 64, as Llama 3 8B), one thread, for each
// KV cache dtype. "grouped" is one call over all heads: the 4 query heads of a GQA group share each
// key/value tile. "per head" calls the kernel once per query head, so every head reads the cache
// itself: the access pattern of the kernel before grouping. Decode (1 query token) and a prefill
// chunk (16 query tokens at the end of the context).

import { Rng } from "../src/tensor/rng.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../src/tensor/float16.js";
import { KERNEL_RESERVED_BYTES, compileKernels, createKernelMemory, instantiateKernels } from "../src/kernels/wasm/module.js";
import type { Bench } from "./bench.js";

const [N_HEADS, N_KV_HEADS, HEAD_DIM] = [32, 8, 64];
const CONTEXTS = [2048, 8192];
const PAGE = 65536;

export const attentionBench: Bench = {
  name: "attention",
  summary: "wasm attention kernel at 2k/8k context: GQA-grouped vs per-head, f32/f16/bf16 KV",
  async run(argv) {
    const repsAt = argv.indexOf("--reps");
    const reps = repsAt >= 0 ? Number(argv[repsAt + 1]) : 3;
    const maxCtx = Math.max(...CONTEXTS);
    const kvBytes = maxCtx * N_KV_HEADS * HEAD_DIM * 4;
    const pages = Math.ceil((KERNEL_RESERVED_BYTES + 2 * kvBytes + (4 << 20)) / PAGE);
    const memory = createKernelMemory(pages, pages);
    const k = instantiateKernels(await compileKernels(), memory);
    let next = KERNEL_RESERVED_BYTES;
    const put = (data: Float32Array | Uint16Array): number => {
      const ptr = next;
      next += Math.ceil(data.byteLength / 16) * 16;
      new Uint8Array(memory.buffer, ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return ptr;
    };
    const rng = new Rng(1);
    const normals = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
    const keys = normals(maxCtx * N_KV_HEADS * HEAD_DIM);
    const values = normals(keys.length);
    const rows = { f32: [keys, values], f16: [f32ArrayToF16(keys), f32ArrayToF16(values)], bf16: [f32ArrayToBf16(keys), f32ArrayToBf16(values)] } as const;
    const maxTokens = 16;
    const q = put(normals(maxTokens * N_HEADS * HEAD_DIM));
    const out = put(new Float32Array(maxTokens * N_HEADS * HEAD_DIM));
    const group = N_HEADS / N_KV_HEADS;
    const scratch = put(new Float32Array(k.attention_scratch_bytes(HEAD_DIM, group) / 4));
    const base = next;
    console.log(`| KV dtype | context | query tokens | per head (ms) | grouped (ms) | speedup |`);
    console.log(`|---|---|---|---|---|---|`);
    for (const dtype of ["f32", "f16", "bf16"] as const) {
      next = base;
      const kPtr = put(rows[dtype][0]);
      const vPtr = put(rows[dtype][1]);
      const kernel = { f32: k.attention, f16: k.attention_f16, bf16: k.attention_bf16 }[dtype];
      for (const ctx of CONTEXTS) {
        for (const nTokens of [1, maxTokens]) {
          const startPos = ctx - nTokens;
          const time = (body: () => void): number => {
            body(); // warm
            let best = Infinity;
            for (let r = 0; r < reps; r++) {
              const t0 = performance.now();
              body();
              best = Math.min(best, performance.now() - t0);
            }
            return best;
          };
          const perHead = time(() => {
            for (let h = 0; h < N_HEADS; h++) kernel(out, q, kPtr, vPtr, nTokens, startPos, N_HEADS, N_KV_HEADS, HEAD_DIM, h, h + 1, scratch);
          });
          const grouped = time(() => kernel(out, q, kPtr, vPtr, nTokens, startPos, N_HEADS, N_KV_HEADS, HEAD_DIM, 0, N_HEADS, scratch));
          console.log(`| ${dtype} | ${ctx} | ${nTokens} | ${perHead.toFixed(2)} | ${grouped.toFixed(2)} | ${(perHead / grouped).toFixed(2)}x |`);
        }
      }
    }
  },
};
