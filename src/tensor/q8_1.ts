// The Q8_1 block format of llama.cpp: the activation format Q4_1 and Q5_1 weights dot against (their
// `vec_dot_type` in ggml-cpu.c). Q8_0 (q8_0.ts) plus the block's sum: per 32 values a float16 scale
// `d`, a float16 `s` = d * (sum of the quants), and 32 int8 quants; byte for byte ggml's `block_q8_1`
// (ggml/src/ggml-common.h), 36 bytes. The sum lets a dot with an offset format add `m * s` once per
// block instead of per weight. quantize_row_q8_1_ref (ggml/src/ggml-quants.c), bit-exact: the Q8_0
// scale and quants, then s = fp16(float(sum) * d) with the unrounded float32 d. (gguf-py's
// GGML_QUANT_SIZES, and so io/gguf/gguf-constants.ts, still give Q8_1 the 40 bytes of its old float32
// d and s; no file stores Q8_1, and a GGUF tensor of it is refused as unsupported either way.)

import type { BlockFormat } from "./block-format.js";
import { loadF16, storeF16 } from "./k-quant-math.js";
import { roundHalfAwayFromZero } from "./q8_0.js";

/** Weights per block: `#define QK8_1 32`. */
export const Q8_1_BLOCK_SIZE = 32;
/** Bytes per block: 2 * sizeof(ggml_half) + QK8_1, the static_assert on block_q8_1. */
export const Q8_1_BLOCK_BYTES = 36;
/** Byte offsets of s and qs in a block_q8_1 (after half d). */
export const Q8_1_S = 2;
export const Q8_1_QS = 4;

/** quantize_row_q8_1_ref over `nBlocks` blocks of 32 float32 values from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ8_1(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * Q8_1_BLOCK_SIZE;
    const y = dstOffset + b * Q8_1_BLOCK_BYTES;
    let amax = 0;
    for (let j = 0; j < Q8_1_BLOCK_SIZE; j++) {
      const a = Math.abs(src[x + j]!);
      amax = amax > a ? amax : a;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    storeF16(dst, y, d);
    let sum = 0;
    for (let j = 0; j < Q8_1_BLOCK_SIZE; j++) {
      const q = roundHalfAwayFromZero(Math.fround(src[x + j]! * id));
      dst[y + Q8_1_QS + j] = q & 0xff;
      sum += q;
    }
    storeF16(dst, y + Q8_1_S, Math.fround(sum * d));
  }
}

/** Quant `j` of the Q8_1 block at `block`, signed. */
export function q8_1Quant(data: Uint8Array, block: number, j: number): number {
  return (data[block + Q8_1_QS + j]! << 24) >> 24;
}

/** d * q (ggml has no dequantize_row_q8_1; an activation format is never stored). Exact. */
export function dequantizeBlocksQ8_1(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q8_1_BLOCK_BYTES;
    const d = loadF16(data, block);
    for (let j = 0; j < Q8_1_BLOCK_SIZE; j++) out[outOffset + b * Q8_1_BLOCK_SIZE + j] = d * q8_1Quant(data, block, j);
  }
}

/** Q8_1's row in the table of block formats: GGML_TYPE_Q8_1 = 9, an activation format. */
export const Q8_1_FORMAT: BlockFormat = {
  type: "q8_1",
  ggmlName: "Q8_1",
  ggmlType: 9,
  blockSize: Q8_1_BLOCK_SIZE,
  blockBytes: Q8_1_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ8_1,
  quantizeBlocks: quantizeBlocksQ8_1,
};
