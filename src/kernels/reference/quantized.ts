// Reference kernels for Q8_0 weights (tensor/q8_0.ts): the matrix multiply as llama.cpp's CPU
// backend computes it, and the embedding lookup. Plain loops, the specification that optimized twins
// (the WebAssembly kernels) are tested against.
//
// The multiply never dequantizes the weights: like ggml's mul_mat for a Q8_0 weight (vec_dot_type
// Q8_0 in ggml-cpu.c), each activation row is first quantized to Q8_0 blocks, then every output is
// ggml_vec_dot_q8_0_q8_0_generic (ggml/src/ggml-cpu/quants.c): per block an exact integer dot
// product of the 32 int8 pairs, times d_w * d_x, summed in float32. Every float operation here
// rounds to float32 (Math.fround) in the C code's order, so the result is bit-exact with that
// generic C kernel compiled without fused multiply-add.
//
// Departure: llama.cpp's x86 build quantizes activations with its SIMD quantize_row_q8_0, which
// scales by 127 / amax and rounds ties to even; we use the reference quantizer (1 / (amax / 127),
// ties away from zero) for activations too, as its generic build does. The two differ by one quant
// step on rare near-ties.

import {
  Q8_0_BLOCK_BYTES, Q8_0_BLOCK_SIZE, type Q8_0Tensor, dequantizeBlocksQ8_0, q8_0BlocksPerRow, q8_0Quant, q8_0Scale,
  quantizeBlocksQ8_0,
} from "../../tensor/q8_0.js";

/**
 * The dot product of two rows of `nBlocks` Q8_0 blocks, `a` from byte `aOffset` and `b` from byte
 * `bOffset`: ggml_vec_dot_q8_0_q8_0_generic. sumi is exact (|sumi| <= 32 x 127 x 127 < 2^24, so also
 * exact as a float32), d_a * d_b is exact (two 11-bit significands), the rest rounds as float32.
 */
export function vecDotQ8_0(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number, nBlocks: number): number {
  let sumf = 0;
  for (let ib = 0; ib < nBlocks; ib++) {
    const blockA = aOffset + ib * Q8_0_BLOCK_BYTES;
    const blockB = bOffset + ib * Q8_0_BLOCK_BYTES;
    let sumi = 0;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) sumi += q8_0Quant(a, blockA, j) * q8_0Quant(b, blockB, j);
    const scale = Math.fround(q8_0Scale(a, blockA) * q8_0Scale(b, blockB));
    sumf = Math.fround(sumf + Math.fround(sumi * scale));
  }
  return sumf;
}

/**
 * out = x @ w^T for a Q8_0 weight, with x quantized to Q8_0 row by row first.
 * @param out (nTokens, outFeatures)
 * @param x (nTokens, inFeatures)
 * @param w (outFeatures, inFeatures), inFeatures a multiple of 32
 */
export function matmulQ8_0(out: Float32Array, x: Float32Array, w: Q8_0Tensor, nTokens: number): void {
  const [outFeatures, inFeatures] = w.shape;
  const nBlocks = q8_0BlocksPerRow(inFeatures);
  const rowBytes = nBlocks * Q8_0_BLOCK_BYTES;
  const xq = new Uint8Array(rowBytes); // (nBlocks) blocks: one activation row as Q8_0
  for (let t = 0; t < nTokens; t++) {
    quantizeBlocksQ8_0(x, t * inFeatures, nBlocks, xq, 0);
    for (let o = 0; o < outFeatures; o++) out[t * outFeatures + o] = vecDotQ8_0(w.data, o * rowBytes, xq, 0, nBlocks);
  }
}

/**
 * out[t] = table[ids[t]], dequantizing only the rows read (as ggml_get_rows on a Q8_0 table).
 * @param out (nTokens, dim)
 * @param table (vocabSize, dim)
 */
export function embedQ8_0(out: Float32Array, table: Q8_0Tensor, ids: readonly number[]): void {
  const dim = table.shape[1];
  const nBlocks = q8_0BlocksPerRow(dim);
  ids.forEach((id, t) => {
    dequantizeBlocksQ8_0(table.data, id * nBlocks * Q8_0_BLOCK_BYTES, nBlocks, out.subarray(t * dim, (t + 1) * dim));
  });
}
