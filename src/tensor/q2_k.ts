// The Q2_K block format of llama.cpp: super-blocks of 256 weights in 16 groups of 16, each group a
// 4-bit scale and a 4-bit min, each weight a 2-bit quant; weight = d * scale * q - dmin * min. Byte for
// byte ggml's `block_q2_K` (ggml/src/ggml-common.h): uint8 scales[16] (scale in the low nibble, min in
// the high), uint8 qs[64], half d, half dmin; 84 bytes. Weight 128h + 32k + l (h < 2, k < 4, l < 32)
// is bits 2k..2k+1 of qs[32h + l]; its group is weight / 16. dequantize_row_q2_K and
// quantize_row_q2_K_ref (ggml/src/ggml-quants.c) ported operation for operation in float32 (bit-exact):
// per group make_qkx2_quants (weights |x|, nmax 3, mean absolute error), scales and mins as 4-bit
// numbers of max / 15, then every quant again from the stored scales.

import type { BlockFormat } from "./block-format.js";
import { QK_K, type ScaleMin, clamp, loadF16, makeQkx2Quants, nearestInt, storeF16 } from "./k-quant-math.js";

/** Bytes per block: 2 * sizeof(ggml_half) + QK_K/16 + QK_K/4, the static_assert on block_q2_K. */
export const Q2_K_BLOCK_BYTES = 84;
/** Byte offsets inside a block_q2_K. */
export const Q2_K_QS = 16;
export const Q2_K_D = 80;
export const Q2_K_DMIN = 82;

const fr = Math.fround;
const L = new Uint8Array(QK_K);
const laux = new Uint8Array(16);
const weights = new Float32Array(16);
const scales = new Float32Array(QK_K / 16);
const mins = new Float32Array(QK_K / 16);
const result: ScaleMin = { scale: 0, min: 0 };

/** The 2-bit quant of weight i (0..255) of the Q2_K block at `block`. */
export function q2_KQuant(data: Uint8Array, block: number, i: number): number {
  return (data[block + Q2_K_QS + 32 * (i >> 7) + (i & 31)]! >> (2 * ((i >> 5) & 3))) & 3;
}

/** quantize_row_q2_K_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ2_K(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * QK_K;
    const y = dstOffset + b * Q2_K_BLOCK_BYTES;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < QK_K / 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[x + 16 * j + l]!);
      makeQkx2Quants(16, 3, src, x + 16 * j, weights, L, 16 * j, laux, -0.5, fr(0.1), 15, true, result);
      scales[j] = result.scale;
      mins[j] = result.min;
      if (result.scale > maxScale) maxScale = result.scale;
      if (result.min > maxMin) maxMin = result.min;
    }
    if (maxScale > 0) {
      const iscale = fr(15 / maxScale);
      for (let j = 0; j < QK_K / 16; j++) dst[y + j] = nearestInt(fr(iscale * scales[j]!)) & 0xff;
      storeF16(dst, y + Q2_K_D, fr(maxScale / 15));
    } else {
      dst.fill(0, y, y + QK_K / 16);
      storeF16(dst, y + Q2_K_D, 0);
    }
    if (maxMin > 0) {
      const iscale = fr(15 / maxMin);
      for (let j = 0; j < QK_K / 16; j++) dst[y + j] = (dst[y + j]! | (nearestInt(fr(iscale * mins[j]!)) << 4)) & 0xff;
      storeF16(dst, y + Q2_K_DMIN, fr(maxMin / 15));
    } else {
      storeF16(dst, y + Q2_K_DMIN, 0);
    }
    const d = loadF16(dst, y + Q2_K_D);
    const dmin = loadF16(dst, y + Q2_K_DMIN);
    for (let j = 0; j < QK_K / 16; j++) {
      const dj = fr(d * (dst[y + j]! & 0xf));
      if (dj === 0) continue;
      const dm = fr(dmin * (dst[y + j]! >> 4));
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = clamp(nearestInt(fr(fr(src[x + 16 * j + ii]! + dm) / dj)), 0, 3);
    }
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const j = 128 * h + l;
        dst[y + Q2_K_QS + 32 * h + l] = L[j]! | (L[j + 32]! << 2) | (L[j + 64]! << 4) | (L[j + 96]! << 6);
      }
    }
  }
}

/** dequantize_row_q2_K: (d * scale) * q - dmin * min, each product exact, one rounding. */
export function dequantizeBlocksQ2_K(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q2_K_BLOCK_BYTES;
    const d = loadF16(data, block + Q2_K_D);
    const dmin = loadF16(data, block + Q2_K_DMIN);
    for (let i = 0; i < QK_K; i++) {
      const sc = data[block + (i >> 4)]!;
      out[outOffset + b * QK_K + i] = fr(d * (sc & 0xf)) * q2_KQuant(data, block, i) - fr(dmin * (sc >> 4));
    }
  }
}

/** Q2_K's row in the table of block formats: GGML_TYPE_Q2_K = 10. */
export const Q2_K_FORMAT: BlockFormat = {
  type: "q2_k",
  ggmlName: "Q2_K",
  ggmlType: 10,
  blockSize: QK_K,
  blockBytes: Q2_K_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ2_K,
  quantizeBlocks: quantizeBlocksQ2_K,
};
