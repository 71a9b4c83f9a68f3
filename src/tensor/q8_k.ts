// The Q8_K block format of llama.cpp: the activation format the K-quants (Q2_K ... Q6_K) dot against
// (their `vec_dot_type` in ggml-cpu.c). A super-block of 256 values: float32 `d`, int8 qs[256], and
// int16 bsums[16] (the sum of each 16 quants, which the K-quant dots use for their mins), byte for
// byte ggml's `block_q8_K` (ggml/src/ggml-common.h). The quantizer is quantize_row_q8_K_ref
// (ggml/src/ggml-quants.c), bit-exact: max = the first value of largest magnitude, iscale = -127 /
// max, q = min(127, nearest_int(iscale * x)) (ties to even), d = 1 / iscale. Departure: for an
// all-zero block the C code leaves bsums unwritten; we write zeros (as the WebAssembly twin does).

import type { BlockFormat } from "./block-format.js";
import { QK_K, loadF32, nearestInt, storeF32 } from "./k-quant-math.js";

/** Bytes per block: sizeof(float) + QK_K + QK_K/16 * sizeof(int16_t), the static_assert on block_q8_K. */
export const Q8_K_BLOCK_BYTES = 292;

/** Byte offset of qs in a block_q8_K (after float d). */
export const Q8_K_QS = 4;

/** Byte offset of bsums in a block_q8_K. */
export const Q8_K_BSUMS = 260;

/** quantize_row_q8_K_ref over `nBlocks` blocks of 256 float32 values from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ8_K(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * QK_K;
    const y = dstOffset + b * Q8_K_BLOCK_BYTES;
    let max = 0;
    let amax = 0;
    for (let j = 0; j < QK_K; j++) {
      const ax = Math.abs(src[x + j]!);
      if (ax > amax) {
        amax = ax;
        max = src[x + j]!;
      }
    }
    if (amax === 0) {
      dst.fill(0, y, y + Q8_K_BLOCK_BYTES);
      continue;
    }
    const iscale = Math.fround(-127 / max);
    for (let g = 0; g < QK_K / 16; g++) {
      let sum = 0;
      for (let j = g * 16; j < g * 16 + 16; j++) {
        const q = Math.min(127, nearestInt(Math.fround(iscale * src[x + j]!)));
        dst[y + Q8_K_QS + j] = q & 0xff;
        sum += (q << 24) >> 24; // the int8 stored
      }
      dst[y + Q8_K_BSUMS + 2 * g] = sum & 0xff;
      dst[y + Q8_K_BSUMS + 2 * g + 1] = (sum >> 8) & 0xff;
    }
    storeF32(dst, y, Math.fround(1 / iscale));
  }
}

/** dequantize_row_q8_K: d * q (exact products rounded once to float32). */
export function dequantizeBlocksQ8_K(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q8_K_BLOCK_BYTES;
    const d = loadF32(data, block);
    for (let j = 0; j < QK_K; j++) out[outOffset + b * QK_K + j] = d * ((data[block + Q8_K_QS + j]! << 24) >> 24);
  }
}

/** Q8_K's row in the table of block formats: GGML_TYPE_Q8_K = 15 (ggml.h), an activation format. */
export const Q8_K_FORMAT: BlockFormat = {
  type: "q8_k",
  ggmlName: "Q8_K",
  ggmlType: 15,
  blockSize: QK_K,
  blockBytes: Q8_K_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ8_K,
  quantizeBlocks: quantizeBlocksQ8_K,
};
