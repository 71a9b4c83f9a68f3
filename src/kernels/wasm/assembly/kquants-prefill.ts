// The Q4_K and Q5_K pieces of the K-quant prefill with scratch (matmul_q4_k / matmul_q5_k with
// nTokens > 1 and a scratch block; the loop over token chunks and row blocks is kquant-matmul.ts
// prefillK, as for Q6_K, q6_k-prefill.ts; decode and calls without scratch take kquants.ts tileK45).
// Each token's Q8_K activations are arranged once per call and each row's 4- or 5-bit quants are
// unpacked once per token chunk, so the inner loop is only the dots of one row against four tokens.
//
// Bit-exact with the reference as tileK45: the same int32 lanes aux32[e mod 8] per super-block and
// the same float steps. The layout: the sub-block pair c (sub-blocks 2c and 2c + 1, which share the
// 32 bytes qs[32c..32c + 32), low and high nibbles) is 64 weights; the first halves (weights 0..15)
// of its two sub-blocks are interleaved into two vectors (interleaveLo/Hi: lanes 0..3 and 4..7), the
// second halves (16..31) into two more, for the activations and the quants alike. So two pairDots
// and an int16 add give lanes (t_2c[l], t_2c+1[l]) of the pair's whole sub-block sums (at most
// 4 x 128 x 31 = 15872: no overflow), which i32x4.dot_i16x8_s scales by the pair of scales straight
// into int32 lane l, with no shuffle per row and token.

import { Q8_K_BYTES, addLanes, addScaled, fifthBit, highNibbles, interleaveHi, interleaveLo, lowNibbles, pairDot } from "./kquant-vec";
import { minsDotOf, minsHigh, minsLow, minsOf, scalesOf } from "./kquants";
import { f16ToF32 } from "./vec";

/** Bytes of one token's arranged Q8_K block: per sub-block pair, four vectors (lanes 0..3 and 4..7 of its first halves, then of its second halves). */
export const K45_ACT_BLOCK: usize = 256;
/**
 * Bytes of one row's unpacked Q4_K/Q5_K block: the quants arranged as the activations (256), the
 * scales as int16 lanes (int32 lane c = the pair of sub-blocks 2c, 2c + 1; 16), the mins as minsLow
 * and minsHigh (32), the floats d and dmin (8), padding to 16.
 */
export const K45_W_BLOCK: usize = 320;
const W_SCALES: usize = 256;
const W_MINS: usize = 272;
const W_D: usize = 304;
const W_DMIN: usize = 308;

/** The 256 int8 activations of the Q8_K block at y, arranged per sub-block pair, at dst (K45_ACT_BLOCK bytes). */
// @ts-ignore: decorator
@inline export function arrangeK45(dst: usize, y: usize): void {
  for (let c: usize = 0; c < 4; c++) {
    const xa = y + 4 + (c << 6), d = dst + (c << 6);
    const a0 = v128.load(xa), a1 = v128.load(xa, 16), a2 = v128.load(xa, 32), a3 = v128.load(xa, 48);
    v128.store(d, interleaveLo(a0, a2));
    v128.store(d, interleaveHi(a0, a2), 16);
    v128.store(d, interleaveLo(a1, a3), 32);
    v128.store(d, interleaveHi(a1, a3), 48);
  }
}

/**
 * The Q4_K (q5 false) or Q5_K (q5 true) block at x unpacked at dst (K45_W_BLOCK bytes): for pair c,
 * the low nibbles of qs[32c..32c + 32) are sub-block 2c, the high nibbles 2c + 1, with Q5_K's fifth
 * bits (bits 2c and 2c + 1 of qh[l], l the weight's index in its sub-block) OR'd in at bit 4.
 */
// @ts-ignore: decorator
@inline export function unpackK45(q5: bool, dst: usize, x: usize): void {
  const qsAt: usize = q5 ? 48 : 16;
  const zero = i32x4.splat(0);
  const qhA = q5 ? v128.load(x, 16) : zero, qhB = q5 ? v128.load(x, 32) : zero;
  for (let c: usize = 0; c < 4; c++) {
    const q0 = v128.load(x + qsAt + (c << 5)), q1 = v128.load(x + qsAt + (c << 5), 16);
    let a0 = lowNibbles(q0), b0 = highNibbles(q0), a1 = lowNibbles(q1), b1 = highNibbles(q1);
    if (q5) {
      const bit = <u32>c << 1;
      a0 = v128.or(a0, fifthBit(qhA, bit)); b0 = v128.or(b0, fifthBit(qhA, bit + 1));
      a1 = v128.or(a1, fifthBit(qhB, bit)); b1 = v128.or(b1, fifthBit(qhB, bit + 1));
    }
    const d = dst + (c << 6);
    v128.store(d, interleaveLo(a0, b0));
    v128.store(d, interleaveHi(a0, b0), 16);
    v128.store(d, interleaveLo(a1, b1), 32);
    v128.store(d, interleaveHi(a1, b1), 48);
  }
  v128.store(dst + W_SCALES, scalesOf(x));
  const mins = minsOf(x);
  v128.store(dst + W_MINS, minsLow(mins));
  v128.store(dst + W_MINS, minsHigh(mins), 16);
  store<f32>(dst + W_D, f16ToF32(<u32>load<u16>(x)));
  store<f32>(dst + W_DMIN, f16ToF32(<u32>load<u16>(x, 2)));
}

/**
 * acc (int32 lanes l) += s_2c t_2c[l] + s_2c+1 t_2c+1[l]: the arranged activations at `at` (the
 * first halves' vector; the second halves' is 32 bytes on) against the quants w (first halves) and
 * v (second halves) of the same lanes; s = the scale pair in every int32 lane.
 */
// @ts-ignore: decorator
@inline function lanes(acc: v128, at: usize, w: v128, v: v128, s: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.add(pairDot(v128.load(at), w), pairDot(v128.load(at, 32), v)), s));
}

/**
 * One unpacked row (w, nb blocks of K45_W_BLOCK) against n tokens (1..4, a constant): arranged
 * activations at a + t * aStride, their Q8_K rows (d and bsums) at y + t * yStride, results at
 * o + t * oStride. The float steps per token are tileK45's: sums[l] += (d * d_x) * aux32[l],
 * sumf -= (dmin * d_x) * sumi, the lanes added in order at the end.
 */
// @ts-ignore: decorator
@inline export function prefillTileK45(n: u32, w: usize, a: usize, aStride: usize, y: usize, yStride: usize, nb: u32, o: usize, oStride: usize): void {
  const zero = i32x4.splat(0);
  let f0L = f32x4.splat(0), f0H = f0L, f1L = f0L, f1H = f0L, f2L = f0L, f2H = f0L, f3L = f0L, f3H = f0L;
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let i: u32 = 0; i < nb; i++) {
    const wb = w + <usize>i * K45_W_BLOCK, ab = a + <usize>i * K45_ACT_BLOCK;
    let c0L = zero, c0H = zero, c1L = zero, c1H = zero, c2L = zero, c2H = zero, c3L = zero, c3H = zero;
    for (let c: usize = 0; c < 4; c++) {
      const wq = wb + (c << 6);
      const w0 = v128.load(wq), w1 = v128.load(wq, 16), w2 = v128.load(wq, 32), w3 = v128.load(wq, 48);
      const s = v128.load32_splat(wb + W_SCALES + (c << 2));
      const at = ab + (c << 6);
      c0L = lanes(c0L, at, w0, w2, s); c0H = lanes(c0H, at + 16, w1, w3, s);
      if (n > 1) { c1L = lanes(c1L, at + aStride, w0, w2, s); c1H = lanes(c1H, at + aStride + 16, w1, w3, s); }
      if (n > 2) { c2L = lanes(c2L, at + 2 * aStride, w0, w2, s); c2H = lanes(c2H, at + 2 * aStride + 16, w1, w3, s); }
      if (n > 3) { c3L = lanes(c3L, at + 3 * aStride, w0, w2, s); c3H = lanes(c3H, at + 3 * aStride + 16, w1, w3, s); }
    }
    const d = load<f32>(wb + W_D), dmin = load<f32>(wb + W_DMIN);
    const mLo = v128.load(wb + W_MINS), mHi = v128.load(wb + W_MINS, 16);
    const yb = y + <usize>i * Q8_K_BYTES;
    {
      const yd = load<f32>(yb);
      f0L = addScaled(f0L, d * yd, c0L); f0H = addScaled(f0H, d * yd, c0H);
      s0 -= (dmin * yd) * <f32>minsDotOf(yb, mLo, mHi);
    }
    if (n > 1) {
      const yt = yb + yStride, yd = load<f32>(yt);
      f1L = addScaled(f1L, d * yd, c1L); f1H = addScaled(f1H, d * yd, c1H);
      s1 -= (dmin * yd) * <f32>minsDotOf(yt, mLo, mHi);
    }
    if (n > 2) {
      const yt = yb + 2 * yStride, yd = load<f32>(yt);
      f2L = addScaled(f2L, d * yd, c2L); f2H = addScaled(f2H, d * yd, c2H);
      s2 -= (dmin * yd) * <f32>minsDotOf(yt, mLo, mHi);
    }
    if (n > 3) {
      const yt = yb + 3 * yStride, yd = load<f32>(yt);
      f3L = addScaled(f3L, d * yd, c3L); f3H = addScaled(f3H, d * yd, c3H);
      s3 -= (dmin * yd) * <f32>minsDotOf(yt, mLo, mHi);
    }
  }
  store<f32>(o, addLanes(s0, f0L, f0H));
  if (n > 1) store<f32>(o + oStride, addLanes(s1, f1L, f1H));
  if (n > 2) store<f32>(o + 2 * oStride, addLanes(s2, f2L, f2H));
  if (n > 3) store<f32>(o + 3 * oStride, addLanes(s3, f3L, f3H));
}
