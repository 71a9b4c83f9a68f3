// The Q5_1 block format of llama.cpp: Q4_1 (q4_1.ts) with a fifth bit per weight, weight = d * q + m.
// Byte for byte ggml's `block_q5_1` (ggml/src/ggml-common.h): half d, half m, uint8 qh[4] (bit j of
// the little-endian uint32: the fifth bit of weight j), uint8 qs[16] (as Q4_1's); 24 bytes.
// quantize_row_q5_1_ref and dequantize_row_q5_1 (ggml/src/ggml-quants.c), bit-exact: d = (max - min) /
// 31, q = (uint8)((x - min) * (1 / d) + 0.5) (no clamp in the C code: the value stays below 32).

import type { BlockFormat } from "./block-format.js";
import { loadF16, storeF16 } from "./k-quant-math.js";
import { blockMinMax } from "./q4_1.js";
import { quant5, storeQh } from "./q5_0.js";

/** Weights per block: `#define QK5_1 32`. */
export const Q5_1_BLOCK_SIZE = 32;
/** Bytes per block: 2 * sizeof(ggml_half) + sizeof(uint32_t) + QK5_1 / 2, the static_assert on block_q5_1. */
export const Q5_1_BLOCK_BYTES = 24;
/** Byte offsets of m, qh and qs in a block_q5_1. */
export const Q5_1_M = 2;
export const Q5_1_QH = 4;
export const Q5_1_QS = 8;

const fr = Math.fround;

/** quantize_row_q5_1_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ5_1(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * Q5_1_BLOCK_SIZE;
    const y = dstOffset + b * Q5_1_BLOCK_BYTES;
    const [min, max] = blockMinMax(src, x, Q5_1_BLOCK_SIZE);
    const d = fr(fr(max - min) / 31);
    const id = d !== 0 ? fr(1 / d) : 0;
    storeF16(dst, y, d);
    storeF16(dst, y + Q5_1_M, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const xi0 = Math.trunc(fr(fr(fr(src[x + j]! - min) * id) + 0.5)) & 0xff;
      const xi1 = Math.trunc(fr(fr(fr(src[x + 16 + j]! - min) * id) + 0.5)) & 0xff;
      dst[y + Q5_1_QS + j] = (xi0 & 0xf) | ((xi1 & 0xf) << 4);
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + 16);
    }
    storeQh(dst, y + Q5_1_QH, qh);
  }
}

/** dequantize_row_q5_1: q * d + m (q * d exact, one float32 rounding of the sum). */
export function dequantizeBlocksQ5_1(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q5_1_BLOCK_BYTES;
    const d = loadF16(data, block);
    const m = loadF16(data, block + Q5_1_M);
    for (let j = 0; j < Q5_1_BLOCK_SIZE; j++) out[outOffset + b * Q5_1_BLOCK_SIZE + j] = quant5(data, block + Q5_1_QH, block + Q5_1_QS, j) * d + m;
  }
}

/** Q5_1's row in the table of block formats: GGML_TYPE_Q5_1 = 7. */
export const Q5_1_FORMAT: BlockFormat = {
  type: "q5_1",
  ggmlName: "Q5_1",
  ggmlType: 7,
  blockSize: Q5_1_BLOCK_SIZE,
  blockBytes: Q5_1_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ5_1,
  quantizeBlocks: quantizeBlocksQ5_1,
};
