// The Q3_K block format of llama.cpp: super-blocks of 256 weights in 16 groups of 16, each group a
// signed 6-bit scale, each weight a 3-bit quant (2 low bits in qs, the high bit in hmask) minus 4;
// weight = d * (scale - 32) * (q - 4). Byte for byte ggml's `block_q3_K` (ggml/src/ggml-common.h):
// uint8 hmask[32], uint8 qs[64], uint8 scales[12], half d; 110 bytes. Weight 128h + 32k + l (h < 2,
// k < 4, l < 32) is bits 2k..2k+1 of qs[32h + l] with its high bit in bit 4h + k of hmask[l]; group g
// (weight / 16) has the low 4 bits of its scale in nibble (g >= 8) of scales[g mod 8] and the high 2 in
// bits 2(g / 4).. of scales[8 + g mod 4]. dequantize_row_q3_K and quantize_row_q3_K_ref
// (ggml/src/ggml-quants.c) ported operation for operation in float32 (bit-exact): per group
// make_q3_quants (nmax 4, with its error-reducing passes), the scales as 6-bit numbers of max / -32,
// then every quant again from the stored scales.

import type { BlockFormat } from "./block-format.js";
import { QK_K, clamp, loadF16, makeQ3Quants, nearestInt, storeF16 } from "./k-quant-math.js";

/** Bytes per block: QK_K/8 + QK_K/4 + 12 + sizeof(ggml_half), the static_assert on block_q3_K. */
export const Q3_K_BLOCK_BYTES = 110;
/** Byte offsets inside a block_q3_K. */
export const Q3_K_QS = 32;
export const Q3_K_SCALES = 96;
export const Q3_K_D = 108;

const fr = Math.fround;
const L = new Int8Array(QK_K);
const scales = new Float32Array(QK_K / 16);

/** The scale of group g (0..15) of the Q3_K block at `block`, minus 32 (-32..31). */
export function q3_KScale(data: Uint8Array, block: number, g: number): number {
  const s = block + Q3_K_SCALES;
  const low = g < 8 ? data[s + g]! & 0xf : data[s + g - 8]! >> 4;
  return (low | (((data[s + 8 + (g & 3)]! >> (2 * (g >> 2))) & 3) << 4)) - 32;
}

/** The quant of weight i (0..255) of the Q3_K block at `block`, minus 4 (-4..3). */
export function q3_KQuant(data: Uint8Array, block: number, i: number): number {
  const k = (i >> 5) & 3, h = i >> 7, l = i & 31;
  const low = (data[block + Q3_K_QS + 32 * h + l]! >> (2 * k)) & 3;
  return low - ((data[block + l]! >> (4 * h + k)) & 1 ? 0 : 4);
}

/** quantize_row_q3_K_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ3_K(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * QK_K;
    const y = dstOffset + b * Q3_K_BLOCK_BYTES;
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < QK_K / 16; j++) {
      scales[j] = makeQ3Quants(16, 4, src, x + 16 * j, L, 16 * j);
      const scale = Math.abs(scales[j]!);
      if (scale > amax) {
        amax = scale;
        maxScale = scales[j]!;
      }
    }
    const s = y + Q3_K_SCALES;
    dst.fill(0, s, s + 12);
    if (maxScale !== 0) {
      const iscale = fr(-32 / maxScale);
      for (let j = 0; j < QK_K / 16; j++) {
        const l8 = (nearestInt(fr(iscale * scales[j]!)) << 24) >> 24; // int8_t l = nearest_int(...)
        const l = clamp(l8, -32, 31) + 32;
        if (j < 8) dst[s + j] = l & 0xf;
        else dst[s + j - 8] = dst[s + j - 8]! | ((l & 0xf) << 4);
        dst[s + 8 + (j % 4)] = dst[s + 8 + (j % 4)]! | ((l >> 4) << (2 * (j >> 2)));
      }
      storeF16(dst, y + Q3_K_D, fr(1 / iscale));
    } else {
      storeF16(dst, y + Q3_K_D, 0);
    }
    const d = loadF16(dst, y + Q3_K_D);
    for (let j = 0; j < QK_K / 16; j++) {
      const dj = fr(d * q3_KScale(dst, y, j));
      if (dj === 0) continue;
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = clamp(nearestInt(fr(src[x + 16 * j + ii]! / dj)), -4, 3) + 4;
    }
    dst.fill(0, y, y + QK_K / 8);
    for (let j = 0; j < QK_K; j++) {
      if (L[j]! > 3) {
        dst[y + (j & 31)] = dst[y + (j & 31)]! | (1 << (j >> 5));
        L[j] = L[j]! - 4;
      }
    }
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const j = 128 * h + l;
        dst[y + Q3_K_QS + 32 * h + l] = L[j]! | (L[j + 32]! << 2) | (L[j + 64]! << 4) | (L[j + 96]! << 6);
      }
    }
  }
}

/** dequantize_row_q3_K: (d * (scale - 32)) * (q - 4), exact in float32. */
export function dequantizeBlocksQ3_K(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q3_K_BLOCK_BYTES;
    const d = loadF16(data, block + Q3_K_D);
    for (let i = 0; i < QK_K; i++) out[outOffset + b * QK_K + i] = fr(d * q3_KScale(data, block, i >> 4)) * q3_KQuant(data, block, i);
  }
}

/** Q3_K's row in the table of block formats: GGML_TYPE_Q3_K = 11. */
export const Q3_K_FORMAT: BlockFormat = {
  type: "q3_k",
  ggmlName: "Q3_K",
  ggmlType: 11,
  blockSize: QK_K,
  blockBytes: Q3_K_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ3_K,
  quantizeBlocks: quantizeBlocksQ3_K,
};
