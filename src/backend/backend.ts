// The Backend interface: the operations the forward pass needs, on float32 activations and weights
// of any float dtype (the backend dispatches on the weight's dtype). The model calls only these, so a
// faster backend (SIMD, threads, WebGPU later) swaps in without touching model code. Operations are
// synchronous; a threaded backend blocks on its workers (Atomics.wait) rather than changing this
// shape.

import type { AttentionShape } from "../kernels/reference/attention.js";
import type { FloatTensor } from "../tensor/tensor.js";

export type { AttentionShape };

/** A set of kernels the forward pass runs on. Shapes are in the reference kernels' comments. */
export interface Backend {
  readonly name: string;
  /** out (nTokens, outFeatures) = x (nTokens, inFeatures) @ w^T, w (outFeatures, inFeatures). */
  matmul(out: Float32Array, x: Float32Array, w: FloatTensor, nTokens: number): void;
  /** out (nTokens, dim) = rows of table (vocabSize, dim). */
  embed(out: Float32Array, table: FloatTensor, ids: readonly number[]): void;
  /** out (nTokens, dim) = RMSNorm(x) * weight. */
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, eps: number): void;
  /** Rotate x (nTokens, nHeads, headDim) in place; cos/sin (nTokens, headDim / 2). */
  rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array): void;
  /** Causal grouped-query attention of q against cached keys/values. */
  attention(out: Float32Array, q: Float32Array, keys: Float32Array, values: Float32Array, shape: AttentionShape): void;
  /** out = silu(gate) * up. */
  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array): void;
  /** out += x. */
  addInPlace(out: Float32Array, x: Float32Array): void;
}
