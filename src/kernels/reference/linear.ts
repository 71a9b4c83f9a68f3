// Reference kernels for the dense layers: matrix multiply by a weight in any float dtype or block format,
// and the embedding lookup. Plain loops, the specification that optimized twins are tested against.
// Weights use PyTorch's Linear layout: (outFeatures, inFeatures), row-major. Block-format weights go
// to quant-dot.ts (computed as llama.cpp does: activations quantized too, integer block dot products).

import type { WeightTensor } from "../../tensor/tensor.js";
import { isQuantTensor } from "../../tensor/quant-formats.js";
import { embedQuant, matmulQuant } from "./quant-dot.js";
import { widenRange } from "./widen.js";

/**
 * out = x @ w^T.
 * @param out (nTokens, outFeatures)
 * @param x (nTokens, inFeatures)
 * @param w (outFeatures, inFeatures)
 */
export function matmul(out: Float32Array, x: Float32Array, w: WeightTensor, nTokens: number): void {
  if (isQuantTensor(w)) return matmulQuant(out, x, w, nTokens);
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
export function embed(out: Float32Array, table: WeightTensor, ids: readonly number[]): void {
  if (isQuantTensor(table)) return embedQuant(out, table, ids);
  const dim = table.shape[1]!;
  const row = new Float32Array(dim); // (dim) one table row as float32
  ids.forEach((id, t) => {
    widenRange(table, id * dim, dim, row);
    out.set(row, t * dim);
  });
}
