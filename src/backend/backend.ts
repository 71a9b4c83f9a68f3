// The Backend interface: the operations the forward pass needs, on float32 activations and weights
// of any float dtype or Q8_0 (the backend dispatches on the weight's dtype). The model calls only
// these, so a faster backend (SIMD, threads, WebGPU later) swaps in without touching model code.
// Operations are synchronous; a threaded backend blocks on its workers (Atomics.wait) rather than
// changing this shape.

import type { AttentionShape, KvRows } from "../tensor/attention-rows.js";
import type { FloatTensor, WeightTensor } from "../tensor/tensor.js";

export type { AttentionShape, KvRows };

/** A set of kernels the forward pass runs on. Shapes are in the reference kernels' comments. */
export interface Backend {
  readonly name: string;
  /**
   * out (nTokens, outFeatures) = x (nTokens, inFeatures) @ w^T, w (outFeatures, inFeatures). For a
   * q8_0 w, x is quantized to Q8_0 first, as llama.cpp does (kernels/reference/quantized.ts).
   */
  matmul(out: Float32Array, x: Float32Array, w: WeightTensor, nTokens: number): void;
  /** out (nTokens, dim) = rows of table (vocabSize, dim), as float32. */
  embed(out: Float32Array, table: WeightTensor, ids: readonly number[]): void;
  /** out (nTokens, dim) = RMSNorm(x) * weight. */
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, eps: number): void;
  /** Rotate x (nTokens, nHeads, headDim) in place; cos/sin (nTokens, headDim / 2). */
  rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array): void;
  /**
   * Causal grouped-query attention of q against cached keys/values, stored in float32 or 16-bit
   * floats (a compact KV cache) and widened inside the kernel: like matmul's weights, the rows carry
   * their dtype and the backend dispatches on it, so the forward pass has one call for every cache.
   */
  attention(out: Float32Array, q: Float32Array, keys: KvRows, values: KvRows, shape: AttentionShape): void;
  /** out = silu(gate) * up. */
  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array): void;
  /** out += x. */
  addInPlace(out: Float32Array, x: Float32Array): void;
  /**
   * Optional: a weight tensor whose data lives in the backend's own memory (contents unspecified
   * until written), so a loader reads each tensor straight into it and kernels use it in place. A
   * backend without it takes weights in ordinary arrays (copying them in on first use if it must).
   */
  allocateWeight?(dtype: WeightTensor["dtype"], shape: readonly number[]): WeightTensor;
  /**
   * Optional: `stored` converted to `dtype` in the backend's own memory, for a loader whose
   * checkpoint stores another dtype than the one wanted: a float cast byte-identical to
   * tensor/cast.ts castFloat, or blocks byte-identical to tensor/quant-formats.ts quantizeTensor (so a
   * backend may use its threads and SIMD kernels, and no converted copy is made in ordinary
   * arrays). A backend without it gets weights converted in JavaScript (then allocateWeight + copy).
   * @param stored the tensor as read (q/k rows already in the rotary halves layout)
   * @param name the tensor's name, for error messages
   * @returns a weight of `dtype` and `stored`'s shape that kernels use in place
   * @throws as quantizeTensor for a block format (UnsupportedError for a shape that is not rows of whole
   *   blocks, NumericalError for a non-finite weight or a scale past float16); ShapeError when the
   *   data does not match the shape
   * @example
   * const w = backend.convertWeight?.(await source.read(name) as FloatTensor, "q8_0", name);
   */
  convertWeight?(stored: FloatTensor, dtype: WeightTensor["dtype"], name?: string): WeightTensor;
  /** Optional: a zero-filled float32 array in the backend's memory (activations, the KV cache). */
  allocateFloat32?(length: number): Float32Array;
  /** Optional: give back an array from allocateFloat32; it must not be used after. */
  freeFloat32?(array: Float32Array): void;
}
