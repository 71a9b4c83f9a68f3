// Reference kernels for the dense layers: matrix multiply by a weight in any float dtype, and the
// embedding lookup. Plain loops, the specification that optimized twins are tested against.
// Weights use PyTorch's Linear layout: (outFeatures, inFeatures), row-major.

import type { FloatTensor } from "../../tensor/tensor.js";
import { widenRange } from "./widen.js";

/**
 * out = x @ w^T.
 * @param out (nTokens, outFeatures)
 * @param x (nTokens, inFeatures)
 * @param w (outFeatures, inFeatures)
 */
export function matmul(out: Float32Array, x: Float32Array, w: FloatTensor, nTokens: number): void {
  const [outFeatures, inFeatures] = w.shape as [number, number];
  const row = new Float32Array(inFeatures); // (inFeatures) one weight row as float32
  for (let o = 0; o < outFeatures; o++) {
    widenRange(w, o * inFeatures, inFeatures, row);
    for (let t = 0; t < nTokens; t++) {
      let sum = 0;
      const xOffset = t * inFeatures;
      for (let i = 0; i < inFeatures; i++) sum += x[xOffset + i]! * row[i]!;
      out[t * outFeatures + o] = sum;
    }
  }
}

/**
 * out[t] = table[ids[t]].
 * @param out (nTokens, dim)
 * @param table (vocabSize, dim)
 */
export function embed(out: Float32Array, table: FloatTensor, ids: readonly number[]): void {
  const dim = table.shape[1]!;
  const row = new Float32Array(dim); // (dim) one table row as float32
  ids.forEach((id, t) => {
    widenRange(table, id * dim, dim, row);
    out.set(row, t * dim);
  });
}
