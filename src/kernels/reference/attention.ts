// Reference kernel for causal grouped-query attention over a key/value cache. One query row at a
// time: scores against every cached position up to its own, softmax, weighted sum of values. Memory
// is one score row per call (O(context)), never a (tokens x context) matrix, so long prompts do not
// need quadratic memory. Query head h reads kv head floor(h / (nHeads / nKvHeads)) (Llama's
// repeat_kv). Keys and values may be stored as float32 or as 16-bit floats (a compact KV cache); they
// are widened exactly as they are read, so there is one loop for every dtype.

import type { AttentionShape, KvRows } from "../../tensor/attention-rows.js";
import { bf16ToF32, f16ToF32 } from "../../tensor/float16.js";

export type { AttentionShape, KvDType, KvRows } from "../../tensor/attention-rows.js";

/** Element i of `rows` as a number (exact widening). */
function reader(rows: KvRows): (i: number) => number {
  switch (rows.dtype) {
    case "f32": { const d = rows.data; return (i) => d[i]!; }
    case "f16": { const d = rows.data; return (i) => f16ToF32(d[i]!); }
    case "bf16": { const d = rows.data; return (i) => bf16ToF32(d[i]!); }
  }
}

/**
 * @param out (nTokens, nHeads, headDim)
 * @param q (nTokens, nHeads, headDim), already rotated
 * @param keyRows (>= startPos + nTokens, nKvHeads, headDim), rotated, in any KvDType
 * @param valueRows (>= startPos + nTokens, nKvHeads, headDim)
 */
export function attention(out: Float32Array, q: Float32Array, keyRows: KvRows, valueRows: KvRows, shape: AttentionShape): void {
  const keys = reader(keyRows);
  const values = reader(valueRows);
  const { nTokens, startPos, nHeads, nKvHeads, headDim } = shape;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float64Array(startPos + nTokens); // (context) one query's scores
  for (let t = 0; t < nTokens; t++) {
    const nVisible = startPos + t + 1; // causal: positions 0 ..= startPos + t
    for (let h = 0; h < nHeads; h++) {
      const qOffset = (t * nHeads + h) * headDim;
      const kvOffset = Math.floor(h / group) * headDim;
      let max = -Infinity;
      for (let p = 0; p < nVisible; p++) {
        let dot = 0;
        for (let i = 0; i < headDim; i++) dot += q[qOffset + i]! * keys(p * kvDim + kvOffset + i);
        scores[p] = Math.fround(dot) * scale;
        if (scores[p]! > max) max = scores[p]!;
      }
      let sum = 0;
      for (let p = 0; p < nVisible; p++) {
        scores[p] = Math.exp(scores[p]! - max);
        sum += scores[p]!;
      }
      for (let i = 0; i < headDim; i++) {
        let acc = 0;
        for (let p = 0; p < nVisible; p++) acc += scores[p]! * values(p * kvDim + kvOffset + i);
        out[qOffset + i] = acc / sum;
      }
    }
  }
}
