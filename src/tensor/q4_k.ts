// The Q4_K block format of llama.cpp: super-blocks of 256 weights in 8 sub-blocks of 32, each
// sub-block a 6-bit scale and a 6-bit min, each weight a 4-bit quant; weight = d * scale * q -
// dmin * min. Byte for byte ggml's `block_q4_K` (ggml/src/ggml-common.h): half d, half dmin, uint8
// scales[12] (the eight scales and mins packed as get_scale_min_k4 reads them), uint8 qs[128]
// (sub-block 2c in the low nibbles of qs[32c..32c+32), 2c + 1 in the high nibbles); 144 bytes.
// dequantize_row_q4_K and quantize_row_q4_K_ref (ggml/src/ggml-quants.c) ported operation for
// operation in float32 (bit-exact). The scale/min search and packing are shared with Q5_K (q5_k.ts).

import type { BlockFormat } from "./block-format.js";
import { QK_K, type ScaleMin, clamp, loadF16, makeQkx2Quants, nearestInt, scaleMinK4, storeF16 } from "./k-quant-math.js";

/** Bytes per block: 2 * sizeof(ggml_half) + K_SCALE_SIZE (12) + QK_K/2, the static_assert on block_q4_K. */
export const Q4_K_BLOCK_BYTES = 144;
/** Byte offset of the packed scales in a block_q4_K or block_q5_K (after half d, half dmin). */
export const K4_SCALES = 4;
/** Byte offset of qs in a block_q4_K. */
export const Q4_K_QS = 16;

const fr = Math.fround;
const weights = new Float32Array(32);
const laux = new Uint8Array(32);
const scales = new Float32Array(QK_K / 32);
const mins = new Float32Array(QK_K / 32);
const result: ScaleMin = { scale: 0, min: 0 };

/**
 * The part quantize_row_q4_K_ref and quantize_row_q5_K_ref share, for the block of 256 values at
 * src[x] written at byte y: per sub-block make_qkx2_quants (weights av_x + |x|, nmax 15 or 31, with
 * the C code's rmin/rdelta/nstep), the scales and mins as 6-bit numbers of d = max_scale / 63 and
 * dmin = max_min / 63, then every quant again from the stored scales. Leaves the quants in L.
 */
export function quantizeSuperBlockK45(src: Float32Array, x: number, dst: Uint8Array, y: number, nmax: number, rmin: number, rdelta: number, nstep: number, L: Uint8Array): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < QK_K / 32; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(src[x + 32 * j + l]! * src[x + 32 * j + l]!));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(src[x + 32 * j + l]!));
    makeQkx2Quants(32, nmax, src, x + 32 * j, weights, L, 32 * j, laux, rmin, rdelta, nstep, false, result);
    scales[j] = result.scale;
    mins[j] = result.min;
    if (result.scale > maxScale) maxScale = result.scale;
    if (result.min > maxMin) maxMin = result.min;
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const s = y + K4_SCALES;
  for (let j = 0; j < QK_K / 32; j++) {
    const ls = Math.min(63, nearestInt(fr(invScale * scales[j]!)) & 0xff); // uint8_t, then MIN(63, .)
    const lm = Math.min(63, nearestInt(fr(invMin * mins[j]!)) & 0xff);
    if (j < 4) {
      dst[s + j] = ls;
      dst[s + j + 4] = lm;
    } else {
      dst[s + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      dst[s + j - 4] = dst[s + j - 4]! | ((ls >> 4) << 6);
      dst[s + j] = dst[s + j]! | ((lm >> 4) << 6);
    }
  }
  storeF16(dst, y, fr(maxScale / 63));
  storeF16(dst, y + 2, fr(maxMin / 63));
  const d = loadF16(dst, y);
  const dmin = loadF16(dst, y + 2);
  for (let j = 0; j < QK_K / 32; j++) {
    const sm = scaleMinK4(j, dst, s);
    const dj = fr(d * (sm & 0xff));
    if (dj === 0) continue;
    const dm = fr(dmin * (sm >> 8));
    for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = clamp(nearestInt(fr(fr(src[x + 32 * j + ii]! + dm) / dj)), 0, nmax);
  }
}

const L = new Uint8Array(QK_K);

/** quantize_row_q4_K_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ4_K(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const y = dstOffset + b * Q4_K_BLOCK_BYTES;
    quantizeSuperBlockK45(src, srcOffset + b * QK_K, dst, y, 15, -1, fr(0.1), 20, L);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) dst[y + Q4_K_QS + 32 * c + l] = L[64 * c + l]! | (L[64 * c + l + 32]! << 4);
    }
  }
}

/**
 * dequantize_row_q4_K (and, with `qh`, dequantize_row_q5_K): weight 64c + l (l < 32) is
 * d1 * q - m1 with d1 = d * scale, m1 = dmin * min of sub-block 2c (each rounded to float32),
 * q the low nibble of qs[32c + l] (+ 16 when bit 2c of qh[l] is set); weight 64c + 32 + l the
 * same with sub-block 2c + 1, the high nibble and bit 2c + 1.
 */
export function dequantizeK45(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number, blockBytes: number, qsAt: number, qhAt: number | undefined): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * blockBytes;
    const d = loadF16(data, block);
    const dmin = loadF16(data, block + 2);
    const o = outOffset + b * QK_K;
    for (let c = 0; c < 4; c++) {
      const sm1 = scaleMinK4(2 * c, data, block + K4_SCALES);
      const sm2 = scaleMinK4(2 * c + 1, data, block + K4_SCALES);
      const d1 = fr(d * (sm1 & 0xff)), m1 = fr(dmin * (sm1 >> 8));
      const d2 = fr(d * (sm2 & 0xff)), m2 = fr(dmin * (sm2 >> 8));
      for (let l = 0; l < 32; l++) {
        const q = data[block + qsAt + 32 * c + l]!;
        const h = qhAt === undefined ? 0 : data[block + qhAt + l]! >> (2 * c);
        out[o + 64 * c + l] = fr(d1 * ((q & 0xf) + ((h & 1) << 4))) - m1;
        out[o + 64 * c + 32 + l] = fr(d2 * ((q >> 4) + ((h & 2) << 3))) - m2;
      }
    }
  }
}

/** dequantize_row_q4_K. */
export function dequantizeBlocksQ4_K(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  dequantizeK45(data, blockOffset, nBlocks, out, outOffset, Q4_K_BLOCK_BYTES, Q4_K_QS, undefined);
}

/** Q4_K's row in the table of block formats: GGML_TYPE_Q4_K = 12. */
export const Q4_K_FORMAT: BlockFormat = {
  type: "q4_k",
  ggmlName: "Q4_K",
  ggmlType: 12,
  blockSize: QK_K,
  blockBytes: Q4_K_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ4_K,
  quantizeBlocks: quantizeBlocksQ4_K,
};
