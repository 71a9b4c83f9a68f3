// The Q6_K pieces of the K-quant prefill with scratch (matmul_q6_k with nTokens > 1 and a scratch
// block; the loop over token chunks and row blocks is kquant-matmul.ts prefillK, decode and calls
// without scratch take the register tiles of q6_k.ts). Both operands are rearranged once into the
// scratch, so the inner loop does only the dots: the activations of a chunk of tokens, then the
// unpacked 6-bit quants of a block of rows, and every row then meets four tokens per pass. Where the
// register tile unpacks a row's quants once per two tokens and arranges each token's activations once
// per row, here both happen once per call (rows: once per token chunk).
//
// Bit-exact with the reference as q6_k.ts: the same int32 lanes aux32[e mod 8] per super-block, the
// same float steps. The layout differs: a quarter's two 16-weight groups A and B are interleaved so
// that one dot gives int16 lanes (A_l, B_l) for l = 0..3 (or 4..7), which i32x4.dot_i16x8_s scales by
// the pair (s_A, s_B) straight into int32 lanes l (no shuffle of the sums per row and token).

import { Q8_K_BYTES, addLanes, addScaled, bytes32, high2, interleaveHi, interleaveLo, offsetSums, weightDot } from "./kquant-vec";
import { Q6_K_BYTES, Q6_K_D, Q6_K_QH, Q6_K_SCALES } from "./q6_k";
import { f16ToF32 } from "./vec";


/** Bytes of one token's arranged Q8_K block: per quarter (32 weights) the lanes-0..3 and lanes-4..7 vectors. */
export const Q6_K_ACT_BLOCK: usize = 256;
/**
 * Bytes of one row's unpacked Q6_K block: per quarter the lanes-0..3 and 4..7 quant vectors (256),
 * per quarter its scale pair s_A | s_B << 16 (32), the float d (4), padding to 16.
 */
export const Q6_K_W_BLOCK: usize = 304;
const W_SCALES: usize = 256;
const W_D: usize = 288;

/** The 256 int8 activations of the Q8_K block at y, interleaved per quarter, at dst (Q6_K_ACT_BLOCK bytes). */
// @ts-ignore: decorator
@inline export function arrangeQ6K(dst: usize, y: usize): void {
  for (let q: usize = 0; q < 8; q++) {
    const a = v128.load(y + 4 + (q << 5)), b = v128.load(y + 4 + (q << 5), 16);
    v128.store(dst + (q << 5), interleaveLo(a, b));
    v128.store(dst + (q << 5), interleaveHi(a, b), 16);
  }
}

/**
 * The Q6_K block at x unpacked at dst (Q6_K_W_BLOCK bytes): quarter q = 4h + k's quants (the low (k < 2)
 * or high nibbles of ql[64h + 32(k & 1) ..] with bits 2k..2k+1 of qh[32h ..] at bits 4-5; int16
 * shifts, what crosses between bytes masked off), relaxed 0..63 (the 7-bit operand), plain less 32;
 * then its scale pair (scales[2q], scales[2q + 1]) and d.
 */
// @ts-ignore: decorator
@inline export function unpackQ6K(dst: usize, x: usize): void {
  const nibble = v128.load(NIBBLE_MASK);
  for (let q: u32 = 0; q < 8; q++) {
    const h = <usize>(q >> 2), k = q & 3;
    const ql = x + (h << 6) + (<usize>(k & 1) << 5), qh = x + Q6_K_QH + (h << 5);
    const nibShift = (k >> 1) << 2, bitShift = k << 1;
    let qa = v128.or(v128.and(i16x8.shr_u(v128.load(ql), nibShift), nibble), high2(i16x8.shl(i16x8.shr_u(v128.load(qh), bitShift), 4)));
    let qb = v128.or(v128.and(i16x8.shr_u(v128.load(ql, 16), nibShift), nibble), high2(i16x8.shl(i16x8.shr_u(v128.load(qh, 16), bitShift), 4)));
    if (!ASC_FEATURE_RELAXED_SIMD) {
      qa = i8x16.sub(qa, bytes32());
      qb = i8x16.sub(qb, bytes32());
    }
    v128.store(dst + (<usize>q << 5), interleaveLo(qa, qb));
    v128.store(dst + (<usize>q << 5), interleaveHi(qa, qb), 16);
    const sa = <i32>load<i8>(x + Q6_K_SCALES + (<usize>q << 1)), sb = <i32>load<i8>(x + Q6_K_SCALES + (<usize>q << 1) + 1);
    store<i32>(dst + W_SCALES + (<usize>q << 2), (sa & 0xffff) | (sb << 16));
  }
  store<f32>(dst + W_D, f16ToF32(<u32>load<u16>(x + Q6_K_D)));
}

const NIBBLE_MASK: usize = memory.data<u32>([0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f], 16);

/**
 * acc (int32 lanes l) += s_A t_A[l] + s_B t_B[l] for the arranged activations at `at` (one vector)
 * and the quants w of the same lanes; s = the scale pair in every int32 lane.
 */
// @ts-ignore: decorator
@inline function lanes(acc: v128, at: usize, w: v128, s: v128): v128 {
  const a = v128.load(at);
  return i32x4.add(acc, i32x4.dot_i16x8_s(weightDot(a, w, offsetSums(a, bytes32())), s));
}

/**
 * One unpacked row (w, nb blocks of Q6_K_W_BLOCK) against n tokens (1..4, a constant): arranged
 * activations at a + t * aStride, their Q8_K rows (for d) at y + t * yStride, results at o + t * oStride.
 */
// @ts-ignore: decorator
@inline export function prefillTileQ6K(n: u32, w: usize, a: usize, aStride: usize, y: usize, yStride: usize, nb: u32, o: usize, oStride: usize): void {
  const zero = i32x4.splat(0);
  let f0L = f32x4.splat(0), f0H = f0L, f1L = f0L, f1H = f0L, f2L = f0L, f2H = f0L, f3L = f0L, f3H = f0L;
  for (let i: u32 = 0; i < nb; i++) {
    const wb = w + <usize>i * Q6_K_W_BLOCK, ab = a + <usize>i * Q6_K_ACT_BLOCK;
    let c0L = zero, c0H = zero, c1L = zero, c1H = zero, c2L = zero, c2H = zero, c3L = zero, c3H = zero;
    for (let q: usize = 0; q < 8; q++) {
      const wl = v128.load(wb + (q << 5)), wh = v128.load(wb + (q << 5), 16), s = v128.load32_splat(wb + W_SCALES + (q << 2));
      const at = ab + (q << 5);
      c0L = lanes(c0L, at, wl, s); c0H = lanes(c0H, at + 16, wh, s);
      if (n > 1) { c1L = lanes(c1L, at + aStride, wl, s); c1H = lanes(c1H, at + aStride + 16, wh, s); }
      if (n > 2) { c2L = lanes(c2L, at + 2 * aStride, wl, s); c2H = lanes(c2H, at + 2 * aStride + 16, wh, s); }
      if (n > 3) { c3L = lanes(c3L, at + 3 * aStride, wl, s); c3H = lanes(c3H, at + 3 * aStride + 16, wh, s); }
    }
    // sums[l] += d * aux32[l], d = d_w * d_x.
    const d = load<f32>(wb + W_D), yb = y + <usize>i * Q8_K_BYTES;
    f0L = addScaled(f0L, d * load<f32>(yb), c0L); f0H = addScaled(f0H, d * load<f32>(yb), c0H);
    if (n > 1) { const d1 = d * load<f32>(yb + yStride); f1L = addScaled(f1L, d1, c1L); f1H = addScaled(f1H, d1, c1H); }
    if (n > 2) { const d2 = d * load<f32>(yb + 2 * yStride); f2L = addScaled(f2L, d2, c2L); f2H = addScaled(f2H, d2, c2H); }
    if (n > 3) { const d3 = d * load<f32>(yb + 3 * yStride); f3L = addScaled(f3L, d3, c3L); f3H = addScaled(f3H, d3, c3H); }
  }
  store<f32>(o, addLanes(0, f0L, f0H));
  if (n > 1) store<f32>(o + oStride, addLanes(0, f1L, f1H));
  if (n > 2) store<f32>(o + 2 * oStride, addLanes(0, f2L, f2H));
  if (n > 3) store<f32>(o + 3 * oStride, addLanes(0, f3L, f3H));
}
