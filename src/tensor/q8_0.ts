// The Q8_0 block format of llama.cpp, as data: int8 weights in blocks of 32 along a row, each block
// a float16 scale `d` followed by 32 int8 quants, weight = d * q. Byte for byte the layout of ggml's
// `block_q8_0` (ggml/src/ggml-common.h) and of GGUF's Q8_0 tensor data, so a row of blocks here is a
// row there. The quantizer is a port of ggml's reference quantizer `quantize_row_q8_0_ref`
// (ggml/src/ggml-quants.c), bit-exact: amax over the block, d = amax / 127 in float32, id = 1 / d
// from that unrounded d, q = roundf(x * id) (ties away from zero), and d stored as float16 (nearest,
// ties to even, as GGML_FP32_TO_FP16). No matrix math here: the q8_0 kernels are in
// kernels/reference/quantized.ts.

import type { BlockFormat } from "./block-format.js";
import { f16ToF32, f32ToF16 } from "./float16.js";

/** Weights per block: `#define QK8_0 32` in ggml/src/ggml-common.h. */
export const Q8_0_BLOCK_SIZE = 32;

/**
 * Bytes per block: `sizeof(ggml_half) + QK8_0` = 2 + 32, the static_assert on `block_q8_0` in
 * ggml/src/ggml-common.h (GGUF's Q8_0 type size, gguf-py GGML_QUANT_SIZES[Q8_0] = (32, 34)).
 */
export const Q8_0_BLOCK_BYTES = 34;

/** Bytes of the float16 scale at the start of a block (`ggml_half d`, little-endian). */
export const Q8_0_SCALE_BYTES = 2;

/** Largest quant magnitude: `(1 << 7) - 1` in quantize_row_q8_0_ref. */
export const Q8_0_MAX_QUANT = 127;

/** roundf: to nearest, ties away from zero (Math.round sends -2.5 to -2; C's roundf to -3). */
export function roundHalfAwayFromZero(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Quantize `nBlocks` blocks of 32 float32 values from `src` (at element `srcOffset`) into `dst` (at
 * byte `dstOffset`): quantize_row_q8_0_ref, operation for operation in float32 (Math.fround after
 * each float operation; the inputs are float32 already). Does not check its input: a NaN or
 * infinite value gives the garbage the C code gives (quant-formats.ts quantizeTensor checks weights first).
 */
export function quantizeBlocksQ8_0(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * Q8_0_BLOCK_SIZE;
    const y = dstOffset + b * Q8_0_BLOCK_BYTES;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) {
      const a = Math.abs(src[x + j]!);
      amax = amax > a ? amax : a; // MAX(amax, fabsf(v)) as the C macro evaluates it
    }
    const d = Math.fround(amax / Q8_0_MAX_QUANT);
    const id = d !== 0 ? Math.fround(1 / d) : 0; // from the float32 d, not the float16 one stored
    const dBits = f32ToF16(d);
    dst[y] = dBits & 0xff;
    dst[y + 1] = dBits >>> 8;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) {
      const q = roundHalfAwayFromZero(Math.fround(src[x + j]! * id));
      dst[y + Q8_0_SCALE_BYTES + j] = q & 0xff; // int8 two's complement
    }
  }
}

/** The float16 scale of the block starting at byte `blockOffset`, as a number. */
export function q8_0Scale(data: Uint8Array, blockOffset: number): number {
  return f16ToF32(data[blockOffset]! | (data[blockOffset + 1]! << 8));
}

/** Quant `j` (0..31) of the block starting at byte `blockOffset`, as a signed integer. */
export function q8_0Quant(data: Uint8Array, blockOffset: number, j: number): number {
  return (data[blockOffset + Q8_0_SCALE_BYTES + j]! << 24) >> 24;
}

/**
 * Dequantize `nBlocks` blocks from byte `blockOffset` into `out` (from element `outOffset`): d * q, as
 * dequantize_row_q8_0 (exact: an int8 times a float16 fits float32).
 */
export function dequantizeBlocksQ8_0(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset = 0): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q8_0_BLOCK_BYTES;
    const d = q8_0Scale(data, block);
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) out[outOffset + b * Q8_0_BLOCK_SIZE + j] = q8_0Quant(data, block, j) * d;
  }
}

/** Q8_0's row in the table of block formats (quant-formats.ts): GGML_TYPE_Q8_0 = 8. */
export const Q8_0_FORMAT: BlockFormat = {
  type: "q8_0",
  ggmlName: "Q8_0",
  ggmlType: 8,
  blockSize: Q8_0_BLOCK_SIZE,
  blockBytes: Q8_0_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ8_0,
  quantizeBlocks: quantizeBlocksQ8_0,
};
