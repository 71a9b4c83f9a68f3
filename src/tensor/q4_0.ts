// The Q4_0 block format of llama.cpp: per 32 weights a float16 scale `d` and 32 4-bit quants q,
// weight = d * (q - 8). Byte for byte ggml's `block_q4_0` (ggml/src/ggml-common.h): half d, uint8
// qs[16], weight j (< 16) in the low nibble of qs[j], weight 16 + j in its high nibble; 18 bytes.
// quantize_row_q4_0_ref and dequantize_row_q4_0 (ggml/src/ggml-quants.c), bit-exact: max = the first
// value of largest magnitude, d = max / -8, id = 1 / d (from the float32 d), q = min(15, (int8)(x * id
// + 8.5)) (truncation: the C cast), d stored as float16.

import type { BlockFormat } from "./block-format.js";
import { loadF16, storeF16 } from "./k-quant-math.js";

/** Weights per block: `#define QK4_0 32`. */
export const Q4_0_BLOCK_SIZE = 32;
/** Bytes per block: sizeof(ggml_half) + QK4_0 / 2, the static_assert on block_q4_0. */
export const Q4_0_BLOCK_BYTES = 18;
/** Byte offset of qs in a block_q4_0. */
export const Q4_0_QS = 2;

const fr = Math.fround;

/**
 * The value of largest magnitude of n values from src[x], the first one on a tie, as the
 * reference quantizers' `if (amax < fabsf(v))` loop finds it.
 */
export function signedAbsMax(src: Float32Array, x: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = src[x + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

/** quantize_row_q4_0_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ4_0(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * Q4_0_BLOCK_SIZE;
    const y = dstOffset + b * Q4_0_BLOCK_BYTES;
    const d = fr(signedAbsMax(src, x, Q4_0_BLOCK_SIZE) / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    storeF16(dst, y, d);
    for (let j = 0; j < 16; j++) {
      const xi0 = Math.min(15, Math.trunc(fr(fr(src[x + j]! * id) + 8.5)));
      const xi1 = Math.min(15, Math.trunc(fr(fr(src[x + 16 + j]! * id) + 8.5)));
      dst[y + Q4_0_QS + j] = xi0 | (xi1 << 4);
    }
  }
}

/** Quant j (0..31) of the Q4_0 block at `block`, minus 8 (-8..7). */
export function q4_0Quant(data: Uint8Array, block: number, j: number): number {
  const byte = data[block + Q4_0_QS + (j & 15)]!;
  return (j < 16 ? byte & 0xf : byte >> 4) - 8;
}

/** dequantize_row_q4_0: (q - 8) * d (exact in float32). */
export function dequantizeBlocksQ4_0(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q4_0_BLOCK_BYTES;
    const d = loadF16(data, block);
    for (let j = 0; j < Q4_0_BLOCK_SIZE; j++) out[outOffset + b * Q4_0_BLOCK_SIZE + j] = q4_0Quant(data, block, j) * d;
  }
}

/** Q4_0's row in the table of block formats: GGML_TYPE_Q4_0 = 2. */
export const Q4_0_FORMAT: BlockFormat = {
  type: "q4_0",
  ggmlName: "Q4_0",
  ggmlType: 2,
  blockSize: Q4_0_BLOCK_SIZE,
  blockBytes: Q4_0_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ4_0,
  quantizeBlocks: quantizeBlocksQ4_0,
};
