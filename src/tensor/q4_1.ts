// The Q4_1 block format of llama.cpp: per 32 weights a float16 scale `d`, a float16 offset `m` and
// 32 4-bit quants q, weight = d * q + m. Byte for byte ggml's `block_q4_1` (ggml/src/ggml-common.h):
// half d, half m, uint8 qs[16] (weight j < 16 in the low nibble of qs[j], 16 + j in its high nibble);
// 20 bytes. quantize_row_q4_1_ref and dequantize_row_q4_1 (ggml/src/ggml-quants.c), bit-exact: min and
// max of the block, d = (max - min) / 15, q = min(15, (int8)((x - min) * (1 / d) + 0.5)) with the
// float32 min and d (the stored ones are their float16 roundings).

import type { BlockFormat } from "./block-format.js";
import { loadF16, storeF16 } from "./k-quant-math.js";

/** Weights per block: `#define QK4_1 32`. */
export const Q4_1_BLOCK_SIZE = 32;
/** Bytes per block: 2 * sizeof(ggml_half) + QK4_1 / 2, the static_assert on block_q4_1. */
export const Q4_1_BLOCK_BYTES = 20;
/** Byte offsets of m and qs in a block_q4_1. */
export const Q4_1_M = 2;
export const Q4_1_QS = 4;

const fr = Math.fround;
const FLT_MAX = 3.4028234663852886e38;

/** min and max of n values from src[x] as the reference quantizers' loop finds them (from FLT_MAX / -FLT_MAX). */
export function blockMinMax(src: Float32Array, x: number, n: number): [min: number, max: number] {
  let min = FLT_MAX;
  let max = -FLT_MAX;
  for (let j = 0; j < n; j++) {
    const v = src[x + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** quantize_row_q4_1_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ4_1(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * Q4_1_BLOCK_SIZE;
    const y = dstOffset + b * Q4_1_BLOCK_BYTES;
    const [min, max] = blockMinMax(src, x, Q4_1_BLOCK_SIZE);
    const d = fr(fr(max - min) / 15);
    const id = d !== 0 ? fr(1 / d) : 0;
    storeF16(dst, y, d);
    storeF16(dst, y + Q4_1_M, min);
    for (let j = 0; j < 16; j++) {
      const xi0 = Math.min(15, Math.trunc(fr(fr(fr(src[x + j]! - min) * id) + 0.5)));
      const xi1 = Math.min(15, Math.trunc(fr(fr(fr(src[x + 16 + j]! - min) * id) + 0.5)));
      dst[y + Q4_1_QS + j] = xi0 | (xi1 << 4);
    }
  }
}

/** Quant j (0..31) of the Q4_1 block at `block` (0..15). */
export function q4_1Quant(data: Uint8Array, block: number, j: number): number {
  const byte = data[block + Q4_1_QS + (j & 15)]!;
  return j < 16 ? byte & 0xf : byte >> 4;
}

/** dequantize_row_q4_1: q * d + m (q * d exact, one float32 rounding of the sum). */
export function dequantizeBlocksQ4_1(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q4_1_BLOCK_BYTES;
    const d = loadF16(data, block);
    const m = loadF16(data, block + Q4_1_M);
    for (let j = 0; j < Q4_1_BLOCK_SIZE; j++) out[outOffset + b * Q4_1_BLOCK_SIZE + j] = q4_1Quant(data, block, j) * d + m;
  }
}

/** Q4_1's row in the table of block formats: GGML_TYPE_Q4_1 = 3. */
export const Q4_1_FORMAT: BlockFormat = {
  type: "q4_1",
  ggmlName: "Q4_1",
  ggmlType: 3,
  blockSize: Q4_1_BLOCK_SIZE,
  blockBytes: Q4_1_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ4_1,
  quantizeBlocks: quantizeBlocksQ4_1,
};
