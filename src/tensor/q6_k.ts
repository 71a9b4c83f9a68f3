// The Q6_K block format of llama.cpp: super-blocks of 256 weights in 16 groups of 16, each group an
// int8 scale, each weight a 6-bit quant (low 4 bits in ql, high 2 in qh) minus 32; weight =
// d * scale * q. Byte for byte ggml's `block_q6_K` (ggml/src/ggml-common.h): uint8 ql[128], uint8
// qh[64], int8 scales[16], half d (210 bytes). Weight 128h + 32k + l (h < 2 halves, k < 4, l < 32)
// takes nibble (k >= 2) of ql[64h + 32(k & 1) + l] and bits 2k..2k+1 of qh[32h + l]; its scale is
// scales[8h + 2k + l / 16]. dequantize_row_q6_K and the reference quantizer quantize_row_q6_K_ref
// (ggml/src/ggml-quants.c) are ported operation for operation in float32 (bit-exact).

import type { BlockFormat } from "./block-format.js";
import { GROUP_MAX_EPS, QK_K, clamp, loadF16, makeQxQuants, nearestInt, storeF16 } from "./k-quant-math.js";

/** Bytes per block: QK_K/2 + QK_K/4 + QK_K/16 + sizeof(ggml_half), the static_assert on block_q6_K. */
export const Q6_K_BLOCK_BYTES = 210;
/** Byte offsets inside a block_q6_K. */
export const Q6_K_QH = 128;
export const Q6_K_SCALES = 192;
export const Q6_K_D = 208;

const L = new Int8Array(QK_K); // the 256 quants of one block + 32 (0..63)
const scales = new Float32Array(QK_K / 16);

/** quantize_row_q6_K_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ6_K(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * QK_K;
    const y = dstOffset + b * Q6_K_BLOCK_BYTES;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < QK_K / 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      const absScale = Math.abs(scale);
      if (absScale > maxAbsScale) {
        maxAbsScale = absScale;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      dst.fill(0, y, y + Q6_K_BLOCK_BYTES);
      continue;
    }
    const iscale = Math.fround(-128 / maxScale);
    storeF16(dst, y + Q6_K_D, Math.fround(1 / iscale));
    const d = loadF16(dst, y + Q6_K_D);
    for (let ib = 0; ib < QK_K / 16; ib++) dst[y + Q6_K_SCALES + ib] = Math.min(127, nearestInt(Math.fround(iscale * scales[ib]!))) & 0xff;
    for (let j = 0; j < QK_K / 16; j++) {
      const dj = Math.fround(d * ((dst[y + Q6_K_SCALES + j]! << 24) >> 24));
      if (dj === 0) continue;
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = clamp(nearestInt(Math.fround(src[x + 16 * j + ii]! / dj)), -32, 31) + 32;
    }
    for (let h = 0; h < 2; h++) {
      const j = 128 * h;
      const ql = y + 64 * h;
      const qh = y + Q6_K_QH + 32 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l]!, q2 = L[j + l + 32]!, q3 = L[j + l + 64]!, q4 = L[j + l + 96]!;
        dst[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        dst[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
}

/** Quant (6 bits, minus 32) of weight `i` (0..255) of the block at `block`. */
export function q6_KQuant(data: Uint8Array, block: number, i: number): number {
  const h = i >> 7, k = (i >> 5) & 3, l = i & 31;
  const low = data[block + 64 * h + 32 * (k & 1) + l]!;
  const nibble = k >= 2 ? low >> 4 : low & 0xf;
  return (nibble | (((data[block + Q6_K_QH + 32 * h + l]! >> (2 * k)) & 3) << 4)) - 32;
}

const groupScales = new Float32Array(QK_K / 16); // (16) d * scale of each group of 16 of one block

/** dequantize_row_q6_K: d * scale (rounded to float32), times q; the C code's loop order. */
export function dequantizeBlocksQ6_K(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  const sc = groupScales;
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q6_K_BLOCK_BYTES;
    const d = loadF16(data, block + Q6_K_D);
    for (let g = 0; g < QK_K / 16; g++) sc[g] = d * ((data[block + Q6_K_SCALES + g]! << 24) >> 24);
    for (let h = 0; h < 2; h++) {
      const o = outOffset + b * QK_K + 128 * h;
      for (let l = 0; l < 32; l++) {
        const ql0 = data[block + 64 * h + l]!, ql1 = data[block + 64 * h + 32 + l]!, qh = data[block + Q6_K_QH + 32 * h + l]!;
        const g = 8 * h + (l >> 4);
        out[o + l] = sc[g]! * (((ql0 & 0xf) | ((qh & 3) << 4)) - 32);
        out[o + 32 + l] = sc[g + 2]! * (((ql1 & 0xf) | (((qh >> 2) & 3) << 4)) - 32);
        out[o + 64 + l] = sc[g + 4]! * (((ql0 >> 4) | (((qh >> 4) & 3) << 4)) - 32);
        out[o + 96 + l] = sc[g + 6]! * (((ql1 >> 4) | (((qh >> 6) & 3) << 4)) - 32);
      }
    }
  }
}

/** Q6_K's row in the table of block formats: GGML_TYPE_Q6_K = 14. */
export const Q6_K_FORMAT: BlockFormat = {
  type: "q6_k",
  ggmlName: "Q6_K",
  ggmlType: 14,
  blockSize: QK_K,
  blockBytes: Q6_K_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ6_K,
  quantizeBlocks: quantizeBlocksQ6_K,
};
