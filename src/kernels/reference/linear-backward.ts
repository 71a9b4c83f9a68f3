// Reference backward kernels of the dense layers (linear.ts): the gradients of out = x @ w^T with
// respect to x and w, and of the embedding lookup with respect to the table. Sums in float64,
// accumulated into float32 gradient buffers (callers zero them; accumulation is what gradient
// accumulation and tied embeddings need). A weight in any float dtype or block format is read as
// the forward reads it (widened exactly, or dequantized), so a frozen bf16 or q8_0 base passes
// gradients to its input as the forward used it. llm.c's matmul_backward (train_gpt2.c).

import type { WeightTensor } from "../../tensor/tensor.js";
import { dequantizeRows, isQuantTensor } from "../../tensor/quant-formats.js";
import { widenRange } from "./widen.js";

/** Row o of w (outFeatures, inFeatures) as float32 into `row`. */
function weightRow(w: WeightTensor, o: number, row: Float32Array): void {
  if (isQuantTensor(w)) dequantizeRows(w, o, 1, row);
  else widenRange(w, o * row.length, row.length, row);
}

/**
 * dx += alpha * dy @ w.
 * @param dx (nTokens, inFeatures)
 * @param dy (nTokens, outFeatures)
 * @param w (outFeatures, inFeatures)
 */
export function matmulBackwardInput(dx: Float32Array, dy: Float32Array, w: WeightTensor, nTokens: number, alpha = 1): void {
  const [outFeatures, inFeatures] = w.shape as [number, number];
  const row = new Float32Array(inFeatures); // (inFeatures) one weight row
  const acc = new Float64Array(nTokens * inFeatures); // (nTokens, inFeatures) float64 sums
  for (let o = 0; o < outFeatures; o++) {
    weightRow(w, o, row);
    for (let t = 0; t < nTokens; t++) {
      const g = dy[t * outFeatures + o]!;
      if (g === 0) continue;
      const base = t * inFeatures;
      for (let i = 0; i < inFeatures; i++) acc[base + i] = acc[base + i]! + g * row[i]!;
    }
  }
  for (let i = 0; i < acc.length; i++) dx[i] = dx[i]! + alpha * acc[i]!;
}

/**
 * dw += alpha * dy^T @ x.
 * @param dw (outFeatures, inFeatures)
 * @param dy (nTokens, outFeatures)
 * @param x (nTokens, inFeatures)
 */
export function matmulBackwardWeight(dw: Float32Array, dy: Float32Array, x: Float32Array, nTokens: number, outFeatures: number, alpha = 1): void {
  const inFeatures = dw.length / outFeatures;
  const acc = new Float64Array(inFeatures); // (inFeatures) one gradient row
  for (let o = 0; o < outFeatures; o++) {
    acc.fill(0);
    for (let t = 0; t < nTokens; t++) {
      const g = dy[t * outFeatures + o]!;
      if (g === 0) continue;
      const base = t * inFeatures;
      for (let i = 0; i < inFeatures; i++) acc[i] = acc[i]! + g * x[base + i]!;
    }
    const base = o * inFeatures;
    for (let i = 0; i < inFeatures; i++) dw[base + i] = dw[base + i]! + alpha * acc[i]!;
  }
}

/**
 * dTable[ids[t]] += dx[t]: the embedding's gradient (a repeated id sums its rows).
 * @param dTable (vocabSize, dim)
 * @param dx (nTokens, dim)
 */
export function embedBackward(dTable: Float32Array, dx: Float32Array, ids: readonly number[], dim: number): void {
  const acc = new Map<number, Float64Array>(); // id -> (dim) float64 sum of its rows
  ids.forEach((id, t) => {
    let row = acc.get(id);
    if (row === undefined) acc.set(id, (row = new Float64Array(dim)));
    for (let i = 0; i < dim; i++) row[i] = row[i]! + dx[t * dim + i]!;
  });
  for (const [id, row] of acc) for (let i = 0; i < dim; i++) dTable[id * dim + i] = dTable[id * dim + i]! + row[i]!;
}
