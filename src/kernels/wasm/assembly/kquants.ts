// K-quant kernels in WebAssembly SIMD: the Q8_K activation quantizer and the matrix products by Q4_K
// and Q5_K weights (their tile; the loop and exports are kquant-matmul.ts) (llama.cpp's super-blocks of QK_K = 256 weights; Q6_K is q6_k.ts), twins of the
// reference kernels in src/ (tensor/q8_k.ts quantize_row_q8_K_ref, kernels/reference/k-quants.ts
// ggml_vec_dot_q4_K_q8_K_generic and ggml_vec_dot_q5_K_q8_K_generic of ggml-cpu/quants.c).
//
// Bit-exact with the reference. The generic C kernels keep eight int32 lanes aux32[l] (l = weight
// index mod 8), each sub-block's products times its 6-bit scale, then per super-block eight float
// lanes sums[l] += d * aux32[l], minus dmin * (the Q8_K block sums times the mins), and add the lanes
// in order at the end. Here those eight lanes are two i32x4 / f32x4 vectors: kquant-vec.ts pairDot
// forms eight int16 lanes of products (lane = index mod 8), the two 16-weight halves of a sub-block
// are summed in int16 (at most 4 x 128 x 31 = 15872: no overflow), and the two sub-blocks sharing
// 32 bytes of qs (low and high nibbles) are scaled together into int32 lanes by one
// i32x4.dot_i16x8_s each for lanes 0..3 and 4..7. Integer sums are exact in any order; the float
// operations are the C code's, per lane, in its order, without fused multiply-add in either build.
//
// Tiles: decode (one token) takes two weight rows per pass over the token's activations; prefill one
// weight row per pass over two tokens' activations (its unpacked nibbles serve both). Larger tiles
// need more than the 16 vector registers of x86-64 (every row x token pair holds two accumulators).
//
// Layouts (ggml-common.h): block_q8_K = float d, int8 qs[256], int16 bsums[16] (292 bytes);
// block_q4_K = half d, half dmin, uint8 scales[12] (eight 6-bit scales and mins), uint8 qs[128]
// (144 bytes); block_q5_K = block_q4_K with uint8 qh[32] (each weight's fifth bit) before qs.

import { Q8_K_BSUMS, Q8_K_BYTES, QK_K, addLanes, addScaled, arrange, fifthBit, highNibbles, hsumI32, lowNibbles, pairDot, scalePair, scaledHigh, scaledLow, scalesU16 } from "./kquant-vec";
import { f16ToF32 } from "./vec";

/** Bytes of a block_q4_K. */
export const Q4_K_BYTES: usize = 144;
/** Bytes of a block_q5_K. */
export const Q5_K_BYTES: usize = 176;


/**
 * Quantize x (nTokens, inF) float32 into Q8_K blocks at xq (nTokens * inF / 256 blocks, row after
 * row), as quantize_row_q8_K_ref: max = the first element of largest magnitude, iscale = -127 / max,
 * q = min(127, round-half-even(iscale * x)), bsums = sums of 16 quants, d = 1 / iscale. A block of
 * zeros gets d = 0 and zero quants and sums.
 */
export function quantize_q8_k(xq: usize, x: usize, nTokens: u32, inF: u32): void {
  const nBlocks = nTokens * (inF / QK_K);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const src = x + (<usize>b << 10);
    const dst = xq + <usize>b * Q8_K_BYTES;
    let vmax = f32x4.splat(0);
    for (let j: usize = 0; j < 1024; j += 16) vmax = f32x4.max(vmax, f32x4.abs(v128.load(src + j)));
    const m2 = f32x4.max(vmax, v128.shuffle<f32>(vmax, vmax, 2, 3, 0, 1));
    const amax = f32x4.extract_lane(f32x4.max(m2, v128.shuffle<f32>(m2, m2, 1, 0, 3, 2)), 0);
    if (amax == 0) {
      store<f32>(dst, 0);
      memory.fill(dst + 4, 0, 256 + 32);
      continue;
    }
    let max: f32 = 0;
    for (let j: usize = 0; j < 1024; j += 4) {
      const v = load<f32>(src + j);
      if (Mathf.abs(v) == amax) {
        max = v;
        break;
      }
    }
    const iscale: f32 = -127 / max;
    const s = f32x4.splat(iscale);
    const top = i32x4.splat(127);
    for (let g: usize = 0; g < 16; g++) {
      const p = src + (g << 6);
      const q0 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, v128.load(p)))), top);
      const q1 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, v128.load(p, 16)))), top);
      const q2 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, v128.load(p, 32)))), top);
      const q3 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, v128.load(p, 48)))), top);
      const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
      v128.store(dst + 4 + (g << 4), i8x16.narrow_i16x8_s(h0, h1)); // |q| <= 127: exact
      store<i16>(dst + Q8_K_BSUMS + (g << 1), <i16>hsumI32(i32x4.extadd_pairwise_i16x8_s(i16x8.add(h0, h1))));
    }
    store<f32>(dst, 1 / iscale);
  }
}


/** The eight mins (bytes 0..7 of `mins`) as int16 lanes for bsums 0..7: mins 0, 0, 1, 1, 2, 2, 3, 3 (each sub-block has two bsums). */
// @ts-ignore: decorator
@inline export function minsLow(mins: v128): v128 {
  return i8x16.shuffle(mins, i8x16.splat(0), 0, 16, 0, 16, 1, 16, 1, 16, 2, 16, 2, 16, 3, 16, 3, 16);
}

/** minsLow for bsums 8..15: mins 4, 4, 5, 5, 6, 6, 7, 7. */
// @ts-ignore: decorator
@inline export function minsHigh(mins: v128): v128 {
  return i8x16.shuffle(mins, i8x16.splat(0), 4, 16, 4, 16, 5, 16, 5, 16, 6, 16, 6, 16, 7, 16, 7, 16);
}

/** sumi of vec_dot_q4_K_q8_K: the Q8_K block's bsums (at q8) times the mins as minsLow, minsHigh (exact int32). */
// @ts-ignore: decorator
@inline export function minsDotOf(q8: usize, lo: v128, hi: v128): i32 {
  return hsumI32(i32x4.add(i32x4.dot_i16x8_s(v128.load(q8, Q8_K_BSUMS), lo), i32x4.dot_i16x8_s(v128.load(q8, Q8_K_BSUMS + 16), hi)));
}

/** minsDotOf for the eight 6-bit mins in bytes 0..7 of `mins`. */
// @ts-ignore: decorator
@inline function minsDot(q8: usize, mins: v128): i32 {
  return minsDotOf(q8, minsLow(mins), minsHigh(mins));
}

/** The eight 6-bit scales of the Q4_K/Q5_K block at x as int16 lanes (int32 lane c = scales 2c, 2c + 1), as the C code's utmp. */
// @ts-ignore: decorator
@inline export function scalesOf(x: usize): v128 {
  const u0 = load<u32>(x, 4), u2 = load<u32>(x, 12);
  return scalesU16(u0 & 0x3f3f3f3f, (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4));
}

/** The eight 6-bit mins of the block at x in bytes 0..7. */
// @ts-ignore: decorator
@inline export function minsOf(x: usize): v128 {
  const u1 = load<u32>(x, 8), u2 = load<u32>(x, 12);
  return i32x4.replace_lane(i32x4.splat(u1 & 0x3f3f3f3f), 1, ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4));
}

/** The int16 sum over a sub-block's two halves: activations a0, a1 against weight quants w0, w1. */
// @ts-ignore: decorator
@inline function subDot(a0: v128, a1: v128, w0: v128, w1: v128): v128 {
  return i16x8.add(pairDot(a0, w0), pairDot(a1, w1));
}

/**
 * A tile of vec_dot_q4_K_q8_K (q5 false) or vec_dot_q5_K_q8_K (q5 true) over nb blocks: weight row
 * x0 with token y0 into o00, and with twoRows row x1 with y0 into o10, or with twoTokens row x0 with
 * token y1 into o01 (not both). Each result is its own lanes, bit-exact with the C code.
 */
// @ts-ignore: decorator
@inline export function tileK45(q5: bool, twoRows: bool, twoTokens: bool, x0: usize, x1: usize, y0: usize, y1: usize, nb: u32, o00: usize, o10: usize, o01: usize): void {
  const blockBytes = q5 ? Q5_K_BYTES : Q4_K_BYTES;
  const qsAt: usize = q5 ? 48 : 16;
  const zero = i32x4.splat(0);
  let fALo = f32x4.splat(0), fAHi = fALo, fBLo = fALo, fBHi = fALo, fCLo = fALo, fCHi = fALo;
  let sumfA: f32 = 0, sumfB: f32 = 0, sumfC: f32 = 0;
  for (let i: u32 = 0; i < nb; i++) {
    const p0 = x0 + <usize>i * blockBytes, p1 = x1 + <usize>i * blockBytes;
    const q0 = y0 + <usize>i * Q8_K_BYTES, q1 = y1 + <usize>i * Q8_K_BYTES;
    const sc0 = scalesOf(p0), sc1 = twoRows ? scalesOf(p1) : sc0;
    // Q5_K's fifth bits of weights 64c + l (l < 16: qhA, l >= 16: qhB), arranged as the quants.
    const qhA0 = q5 ? arrange(v128.load(p0, 16)) : zero, qhB0 = q5 ? arrange(v128.load(p0, 32)) : zero;
    const qhA1 = q5 && twoRows ? arrange(v128.load(p1, 16)) : zero, qhB1 = q5 && twoRows ? arrange(v128.load(p1, 32)) : zero;
    let aLo = zero, aHi = zero, bLo = zero, bHi = zero, cLo = zero, cHi = zero;
    for (let c: usize = 0; c < 4; c++) {
      // Sub-block 2c: activations xa[0..32), weights the low nibbles of qs[32c..32c+32); 2c + 1: xa[32..64), the high nibbles.
      const xa = q0 + 4 + (c << 6);
      const a0 = arrange(v128.load(xa)), a1 = arrange(v128.load(xa, 16)), a2 = arrange(v128.load(xa, 32)), a3 = arrange(v128.load(xa, 48));
      const bit = <u32>c << 1;
      {
        const qa = arrange(v128.load(p0 + qsAt + (c << 5))), qb = arrange(v128.load(p0 + qsAt + (c << 5), 16));
        let la = lowNibbles(qa), lb = lowNibbles(qb), ha = highNibbles(qa), hb = highNibbles(qb);
        if (q5) {
          la = v128.or(la, fifthBit(qhA0, bit)); lb = v128.or(lb, fifthBit(qhB0, bit));
          ha = v128.or(ha, fifthBit(qhA0, bit + 1)); hb = v128.or(hb, fifthBit(qhB0, bit + 1));
        }
        const s = scalePair(sc0, c);
        const tA = subDot(a0, a1, la, lb), tB = subDot(a2, a3, ha, hb);
        aLo = scaledLow(aLo, tA, tB, s);
        aHi = scaledHigh(aHi, tA, tB, s);
        if (twoTokens) {
          const xb = q1 + 4 + (c << 6);
          const uA = subDot(arrange(v128.load(xb)), arrange(v128.load(xb, 16)), la, lb);
          const uB = subDot(arrange(v128.load(xb, 32)), arrange(v128.load(xb, 48)), ha, hb);
          cLo = scaledLow(cLo, uA, uB, s);
          cHi = scaledHigh(cHi, uA, uB, s);
        }
      }
      if (twoRows) {
        const qa = arrange(v128.load(p1 + qsAt + (c << 5))), qb = arrange(v128.load(p1 + qsAt + (c << 5), 16));
        let la = lowNibbles(qa), lb = lowNibbles(qb), ha = highNibbles(qa), hb = highNibbles(qb);
        if (q5) {
          la = v128.or(la, fifthBit(qhA1, bit)); lb = v128.or(lb, fifthBit(qhB1, bit));
          ha = v128.or(ha, fifthBit(qhA1, bit + 1)); hb = v128.or(hb, fifthBit(qhB1, bit + 1));
        }
        const s = scalePair(sc1, c);
        const tA = subDot(a0, a1, la, lb), tB = subDot(a2, a3, ha, hb);
        bLo = scaledLow(bLo, tA, tB, s);
        bHi = scaledHigh(bHi, tA, tB, s);
      }
    }
    // The C code's float steps per result: sums[l] += d * aux32[l]; sumf -= dmin * sumi.
    const yd0 = load<f32>(q0);
    const dw0 = f16ToF32(<u32>load<u16>(p0)), dmin0 = f16ToF32(<u32>load<u16>(p0, 2));
    const mins0 = minsOf(p0);
    fALo = addScaled(fALo, dw0 * yd0, aLo);
    fAHi = addScaled(fAHi, dw0 * yd0, aHi);
    sumfA -= (dmin0 * yd0) * <f32>minsDot(q0, mins0);
    if (twoRows) {
      const dw1 = f16ToF32(<u32>load<u16>(p1)), dmin1 = f16ToF32(<u32>load<u16>(p1, 2));
      fBLo = addScaled(fBLo, dw1 * yd0, bLo);
      fBHi = addScaled(fBHi, dw1 * yd0, bHi);
      sumfB -= (dmin1 * yd0) * <f32>minsDot(q0, minsOf(p1));
    }
    if (twoTokens) {
      const yd1 = load<f32>(q1);
      fCLo = addScaled(fCLo, dw0 * yd1, cLo);
      fCHi = addScaled(fCHi, dw0 * yd1, cHi);
      sumfC -= (dmin0 * yd1) * <f32>minsDot(q1, mins0);
    }
  }
  store<f32>(o00, addLanes(sumfA, fALo, fAHi));
  if (twoRows) store<f32>(o10, addLanes(sumfB, fBLo, fBHi));
  if (twoTokens) store<f32>(o01, addLanes(sumfC, fCLo, fCHi));
}
