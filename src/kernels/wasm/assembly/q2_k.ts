// The Q2_K matrix product in WebAssembly SIMD (its tile; the loop over rows and tokens and the export
// are kquant-matmul.ts): Q2_K weights times activations quantized to Q8_K by
// quantize_q8_k (kquants.ts), the twin of kernels/reference/k-quants.ts vecDotQ2_K (llama.cpp's
// ggml_vec_dot_q2_K_q8_K_generic). Block layout (ggml's block_q2_K, 84 bytes): uint8 scales[16]
// (per 16 weights a 4-bit scale, low nibble, and a 4-bit min, high nibble), uint8 qs[64] (2-bit
// quants: weight 128n + 32j + l is bits 2j..2j+1 of qs[32n + l]), half d, half dmin.
//
// Bit-exact with the reference: the C code sums every block's integers into one isum (the products
// of each 16 weights times their scale) and one summs (the Q8_K block sums times the mins), exact in
// any order, then sumf += dall * isum - dmin * summs in float32, dall = d_x * d, dmin = d_x * dmin,
// in its order, without fused multiply-add. The products by kquant-vec.ts pairDot (quants 0..3: a
// 7-bit operand), each group's int16 sums scaled with the next group's by one i32x4.dot_i16x8_s.

import { Q8_K_BSUMS, Q8_K_BYTES, hsumI32, pairDot, scalePair, scaledHigh, scaledLow } from "./kquant-vec";
import { f16ToF32 } from "./vec";

/** Bytes of a block_q2_K and the offsets in it. */
export const Q2_K_BYTES: usize = 84;
const Q2_K_QS: usize = 16;
const Q2_K_D: usize = 80;

/** The 2-bit quants at bits 2j..2j+1 of 16 bytes (an int16 shift: the mask drops what crossed bytes). */
// @ts-ignore: decorator
@inline function crumbs(q: v128, j: u32): v128 {
  return v128.and(i16x8.shr_u(q, j << 1), i8x16.splat(3));
}

/** summs: the Q8_K block's 16 bsums (at q8) times the 16 mins (high nibbles of `scales`), exact. */
// @ts-ignore: decorator
@inline function minsDot(q8: usize, scales: v128): i32 {
  const mins = v128.and(i16x8.shr_u(scales, 4), i8x16.splat(0x0f));
  const lo = i16x8.extend_low_i8x16_u(mins), hi = i16x8.extend_high_i8x16_u(mins);
  return hsumI32(i32x4.add(i32x4.dot_i16x8_s(v128.load(q8, Q8_K_BSUMS), lo), i32x4.dot_i16x8_s(v128.load(q8, Q8_K_BSUMS + 16), hi)));
}

/**
 * vec_dot_q2_K_q8_K over nb blocks: row x0 with token y0 into o00, and with twoRows row x1 with y0
 * into o10, or with twoTokens row x0 with token y1 into o01 (not both).
 */
// @ts-ignore: decorator
@inline export function tileQ2K(twoRows: bool, twoTokens: bool, x0: usize, x1: usize, y0: usize, y1: usize, nb: u32, o00: usize, o10: usize, o01: usize): void {
  const zero = i32x4.splat(0);
  let sumfA: f32 = 0, sumfB: f32 = 0, sumfC: f32 = 0;
  for (let i: u32 = 0; i < nb; i++) {
    const p0 = x0 + <usize>i * Q2_K_BYTES, p1 = x1 + <usize>i * Q2_K_BYTES;
    const q0 = y0 + <usize>i * Q8_K_BYTES, q1 = y1 + <usize>i * Q8_K_BYTES;
    const sc0 = v128.load(p0), sc1 = twoRows ? v128.load(p1) : sc0;
    let accA = zero, accB = zero, accC = zero;
    for (let n: usize = 0; n < 2; n++) {
      // The 4-bit scales of groups 8n .. 8n + 7 as int16 (int32 lane j = groups 8n + 2j, 8n + 2j + 1).
      const sA = n == 0 ? i16x8.extend_low_i8x16_u(v128.and(sc0, i8x16.splat(0x0f))) : i16x8.extend_high_i8x16_u(v128.and(sc0, i8x16.splat(0x0f)));
      const sB = n == 0 ? i16x8.extend_low_i8x16_u(v128.and(sc1, i8x16.splat(0x0f))) : i16x8.extend_high_i8x16_u(v128.and(sc1, i8x16.splat(0x0f)));
      const w0a = v128.load(p0 + Q2_K_QS + (n << 5)), w0b = v128.load(p0 + Q2_K_QS + (n << 5), 16);
      const w1a = twoRows ? v128.load(p1 + Q2_K_QS + (n << 5)) : zero, w1b = twoRows ? v128.load(p1 + Q2_K_QS + (n << 5), 16) : zero;
      for (let j: u32 = 0; j < 4; j++) {
        // Groups 8n + 2j (weights 128n + 32j + [0, 16)) and 8n + 2j + 1 ([16, 32)).
        const xa = q0 + 4 + (n << 7) + (<usize>j << 5);
        const a0 = v128.load(xa), a1 = v128.load(xa, 16);
        const qa = crumbs(w0a, j), qb = crumbs(w0b, j);
        const tA = pairDot(a0, qa), tB = pairDot(a1, qb);
        const s = scalePair(sA, j);
        accA = scaledHigh(scaledLow(accA, tA, tB, s), tA, tB, s);
        if (twoTokens) {
          const xb = q1 + 4 + (n << 7) + (<usize>j << 5);
          const uA = pairDot(v128.load(xb), qa), uB = pairDot(v128.load(xb, 16), qb);
          accC = scaledHigh(scaledLow(accC, uA, uB, s), uA, uB, s);
        }
        if (twoRows) {
          const rA = pairDot(a0, crumbs(w1a, j)), rB = pairDot(a1, crumbs(w1b, j));
          const s1 = scalePair(sB, j);
          accB = scaledHigh(scaledLow(accB, rA, rB, s1), rA, rB, s1);
        }
      }
    }
    // sumf += dall * isum - dmin * summs, dall = d_x * d, dmin = d_x * dmin.
    const yd0 = load<f32>(q0);
    const d0 = f16ToF32(<u32>load<u16>(p0, Q2_K_D)), m0 = f16ToF32(<u32>load<u16>(p0, Q2_K_D + 2));
    sumfA += (yd0 * d0) * <f32>hsumI32(accA) - (yd0 * m0) * <f32>minsDot(q0, sc0);
    if (twoRows) {
      const d1 = f16ToF32(<u32>load<u16>(p1, Q2_K_D)), m1 = f16ToF32(<u32>load<u16>(p1, Q2_K_D + 2));
      sumfB += (yd0 * d1) * <f32>hsumI32(accB) - (yd0 * m1) * <f32>minsDot(q0, sc1);
    }
    if (twoTokens) {
      const yd1 = load<f32>(q1);
      sumfC += (yd1 * d0) * <f32>hsumI32(accC) - (yd1 * m0) * <f32>minsDot(q1, sc0);
    }
  }
  store<f32>(o00, sumfA);
  if (twoRows) store<f32>(o10, sumfB);
  if (twoTokens) store<f32>(o01, sumfC);
}
