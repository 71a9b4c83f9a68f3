// Reference kernels for weights in a block format (tensor/quant-formats.ts): the matrix multiply as
// llama.cpp's CPU backend computes it, and the embedding lookup. ggml's `type_traits_cpu`
// (ggml/src/ggml-cpu/ggml-cpu.c) as a table: per weight format, the activation format it dots
// against (`vec_dot_type`) and the reference dot product of one weight row with one quantized
// activation row (`vec_dot`, the *_generic C kernels of ggml-cpu/quants.c).
//
// The multiply never dequantizes the weights: each activation row is first quantized to the
// activation format with that format's reference quantizer (as ggml's mul_mat does with
// from_float), then every output is one vec_dot. Plain loops, the specification that optimized
// twins (the WebAssembly kernels) are tested against.

import type { BlockType, QuantTensor, QuantType } from "../../tensor/block-format.js";
import { BLOCK_FORMATS, dequantizeRows, quantRowBytes } from "../../tensor/quant-formats.js";
import { vecDotQ2_K, vecDotQ3_K, vecDotQ4_K, vecDotQ5_K, vecDotQ6_K } from "./k-quants.js";
import { vecDotQ4_0, vecDotQ4_1, vecDotQ5_0, vecDotQ5_1 } from "./legacy-quants.js";
import { vecDotQ8_0 } from "./quantized.js";

/** One row of ggml's type_traits_cpu: how a weight format is multiplied. */
export interface QuantDot {
  /** The format activations are quantized to before the dot (ggml's vec_dot_type). */
  readonly activation: BlockType;
  /**
   * The dot product of `n` weights: a weight row of `w` from byte `wOffset` with an activation row
   * of `a` (in the activation format) from byte `aOffset`, as ggml's vec_dot for the pair.
   */
  dot(n: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number;
}

/** Every weight format's dot product. */
export const QUANT_DOTS: Readonly<Record<QuantType, QuantDot>> = {
  q8_0: { activation: "q8_0", dot: (n, w, wOffset, a, aOffset) => vecDotQ8_0(w, wOffset, a, aOffset, n / 32) },
  q4_0: { activation: "q8_0", dot: (n, w, wOffset, a, aOffset) => vecDotQ4_0(w, wOffset, a, aOffset, n / 32) },
  q4_1: { activation: "q8_1", dot: (n, w, wOffset, a, aOffset) => vecDotQ4_1(w, wOffset, a, aOffset, n / 32) },
  q5_0: { activation: "q8_0", dot: (n, w, wOffset, a, aOffset) => vecDotQ5_0(w, wOffset, a, aOffset, n / 32) },
  q5_1: { activation: "q8_1", dot: (n, w, wOffset, a, aOffset) => vecDotQ5_1(w, wOffset, a, aOffset, n / 32) },
  q2_k: { activation: "q8_k", dot: (n, w, wOffset, a, aOffset) => vecDotQ2_K(w, wOffset, a, aOffset, n / 256) },
  q3_k: { activation: "q8_k", dot: (n, w, wOffset, a, aOffset) => vecDotQ3_K(w, wOffset, a, aOffset, n / 256) },
  q4_k: { activation: "q8_k", dot: (n, w, wOffset, a, aOffset) => vecDotQ4_K(w, wOffset, a, aOffset, n / 256) },
  q5_k: { activation: "q8_k", dot: (n, w, wOffset, a, aOffset) => vecDotQ5_K(w, wOffset, a, aOffset, n / 256) },
  q6_k: { activation: "q8_k", dot: (n, w, wOffset, a, aOffset) => vecDotQ6_K(w, wOffset, a, aOffset, n / 256) },
};

/**
 * out = x @ w^T for a quantized weight, with x quantized to the weight's activation format row by
 * row first.
 * @param out (nTokens, outFeatures)
 * @param x (nTokens, inFeatures)
 * @param w (outFeatures, inFeatures), inFeatures a multiple of the block sizes of w and of its activation format
 */
export function matmulQuant(out: Float32Array, x: Float32Array, w: QuantTensor, nTokens: number): void {
  const [outFeatures, inFeatures] = w.shape;
  const { activation, dot } = QUANT_DOTS[w.dtype];
  const act = BLOCK_FORMATS[activation];
  const rowBytes = quantRowBytes(w.dtype, inFeatures);
  const xq = new Uint8Array(quantRowBytes(activation, inFeatures)); // one activation row, quantized
  for (let t = 0; t < nTokens; t++) {
    act.quantizeBlocks!(x, t * inFeatures, inFeatures / act.blockSize, xq, 0);
    for (let o = 0; o < outFeatures; o++) out[t * outFeatures + o] = dot(inFeatures, w.data, o * rowBytes, xq, 0);
  }
}

/**
 * out[t] = table[ids[t]], dequantizing only the rows read (as ggml_get_rows on a quantized table).
 * @param out (nTokens, dim)
 * @param table (vocabSize, dim)
 */
export function embedQuant(out: Float32Array, table: QuantTensor, ids: readonly number[]): void {
  const dim = table.shape[1];
  ids.forEach((id, t) => dequantizeRows(table, id, 1, out.subarray(t * dim, (t + 1) * dim)));
}
