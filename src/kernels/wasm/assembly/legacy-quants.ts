// The Q4_0 and Q5_0 matrix products in WebAssembly SIMD: weights times activations quantized to Q8_0
// by quantize_q8_0 (q8_0.ts), twins of kernels/reference/legacy-quants.ts (llama.cpp's
// ggml_vec_dot_q4_0_q8_0_generic and ggml_vec_dot_q5_0_q8_0_generic). Block layouts (ggml's
// block_q4_0, block_q5_0): per 32 weights a little-endian float16 scale d, for Q5_0 a uint32 qh of
// fifth bits (bit j: weight j), then 16 bytes whose low nibbles are weights 0..15 and high nibbles
// 16..31; weight = d * (q - 8), or d * (q5 - 16); 18 and 22 bytes.
//
// Bit-exact with the reference: each block's integer dot product is exact (see blockSums), then per
// output, in block order, the C code's float32 steps: Q4_0 sumf += (sumi * d_w) * d_x, Q5_0 sumf +=
// (d_w * d_x) * sumi, with no fused multiply-add. Four output rows share the lanes of that chain.

import { f16High, f16Lo, f16ToF32 } from "./vec";

/** Weights per block (QK4_0). */
const QK: u32 = 32;
/** Bytes per Q4_0 block: float16 d + 16 bytes of nibbles; Q5_0 adds a uint32 qh before the nibbles. */
const Q4_0_BYTES: usize = 18;
const Q5_0_BYTES: usize = 22;

/** Byte masks of Q5_0's fifth bits: byte j of 16 tests bit j mod 8 (of qh byte j / 8, or 2 + j / 8). */
const BIT_OF_BYTE: usize = memory.data<u8>([1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128], 16);
const QH_LOW: usize = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], 16);
const QH_HIGH: usize = memory.data<u8>([2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3], 16);

/** 16 where bit j (j = 0..15 of `which`'s half: QH_LOW weights 0..15, QH_HIGH 16..31) of qh is set, else 0. */
// @ts-ignore: decorator
@inline function fifthBits(qh: v128, which: usize): v128 {
  const bytes = i8x16.swizzle(qh, v128.load(which));
  const bit = v128.load(BIT_OF_BYTE);
  return v128.and(i8x16.eq(v128.and(bytes, bit), bit), i8x16.splat(16));
}
/** Bytes per Q8_0 activation block. */
const X_BYTES: usize = 34;

/**
 * Exact int32 partial sums (4 lanes) of one block's products: the quants of the Q4_0 (q5 false) or
 * Q5_0 block at pw against the Q8_0 quants x0 (weights 0..15) and x1 (16..31). Relaxed SIMD:
 * i16x8.relaxed_dot_i8x16_i7x16_s (one pmaddubsw) of the activations with the unsigned quants 0..15
 * or 0..31 (a 7-bit operand: exact on every engine), the offset (8 or 16) left to offsetOf; plain
 * SIMD: (q - offset) x a by extended multiplies. int16 sums of at most 4 x 128 x 31 products.
 */
// @ts-ignore: decorator
@inline function blockSums(q5: bool, pw: usize, x0: v128, x1: v128): v128 {
  const q = q5 ? v128.load(pw, 6) : v128.load(pw, 2);
  const nibble = i8x16.splat(0x0f);
  let lo = v128.and(q, nibble), hi = v128.and(i16x8.shr_u(q, 4), nibble);
  if (q5) {
    const qh = i32x4.splat(load<u32>(pw, 2));
    lo = v128.or(lo, fifthBits(qh, QH_LOW));
    hi = v128.or(hi, fifthBits(qh, QH_HIGH));
  }
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, lo), i16x8.relaxed_dot_i8x16_i7x16_s(x1, hi)));
  }
  const offset = i8x16.splat(q5 ? 16 : 8);
  const l8 = i8x16.sub(lo, offset), h8 = i8x16.sub(hi, offset);
  const t = i16x8.add(
    i16x8.add(i16x8.extmul_low_i8x16_s(l8, x0), i16x8.extmul_high_i8x16_s(l8, x0)),
    i16x8.add(i16x8.extmul_low_i8x16_s(h8, x1), i16x8.extmul_high_i8x16_s(h8, x1)),
  );
  return i32x4.extadd_pairwise_i16x8_s(t);
}

/**
 * What blockSums leaves out in the relaxed build, per token block: the offset (8 for Q4_0, 16 for
 * Q5_0) x the activations' sum, as four partial sums to subtract from a row's partial sums (their
 * total is then sum (q - offset) x a); zero in the plain build.
 */
// @ts-ignore: decorator
@inline function offsetOf(q5: bool, x0: v128, x1: v128): v128 {
  if (!ASC_FEATURE_RELAXED_SIMD) return i32x4.splat(0);
  const one = i8x16.splat(1);
  return i32x4.shl(i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, one), i16x8.relaxed_dot_i8x16_i7x16_s(x1, one))), q5 ? 4 : 3);
}

/** blockSums minus the offset (relaxed build); blockSums itself (plain). */
// @ts-ignore: decorator
@inline function sums(q5: bool, pw: usize, x0: v128, x1: v128, off: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i32x4.sub(blockSums(q5, pw, x0, x1), off) : blockSums(q5, pw, x0, x1);
}

/** sumf + the block's term: Q4_0 (sumi * d_w) * d_x, Q5_0 (d_w * d_x) * sumi, as the C code orders them. */
// @ts-ignore: decorator
@inline function addBlock(q5: bool, sumf: v128, sumi: v128, dw: v128, dx: v128): v128 {
  const s = f32x4.convert_i32x4_s(sumi);
  return f32x4.add(sumf, q5 ? f32x4.mul(f32x4.mul(dw, dx), s) : f32x4.mul(f32x4.mul(s, dw), dx));
}

/** [sum(s0), sum(s1), sum(s2), sum(s3)] of four i32x4 vectors. */
// @ts-ignore: decorator
@inline function transposeSum(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const t0 = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 4, 1, 5), v128.shuffle<i32>(s0, s1, 2, 6, 3, 7));
  const t1 = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 4, 1, 5), v128.shuffle<i32>(s2, s3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}

/** float32 scales of the blocks at p, p + stride, p + 2 stride, p + 3 stride (lanes 0..3). */
// @ts-ignore: decorator
@inline function scales4(p: usize, stride: usize): v128 {
  let h = v128.load16_lane(p, i16x8.splat(0), 0);
  h = v128.load16_lane(p + stride, h, 1);
  h = v128.load16_lane(p + stride * 2, h, 2);
  h = v128.load16_lane(p + stride * 3, h, 3);
  return f16Lo(h, f16High(h));
}

/** Rows r .. r+3 of w times tokens t and t+1 (t1 = t for a last token alone); out rows of outF. */
// @ts-ignore: decorator
@inline function rows4x2(q5: bool, out: usize, xq: usize, w: usize, nBlocks: u32, outF: u32, r: u32, t: u32, t1: u32): void {
  const wBytes = q5 ? Q5_0_BYTES : Q4_0_BYTES;
  const rowBytes = <usize>nBlocks * wBytes;
  const xRowBytes = <usize>nBlocks * X_BYTES;
  const w0 = w + <usize>r * rowBytes;
  const xa = xq + <usize>t * xRowBytes, xb = xq + <usize>t1 * xRowBytes;
  let sumf0 = f32x4.splat(0), sumf1 = f32x4.splat(0);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const pw = w0 + <usize>b * wBytes;
    const pa = xa + <usize>b * X_BYTES, pb = xb + <usize>b * X_BYTES;
    const a0 = v128.load(pa, 2), a1 = v128.load(pa, 18), b0 = v128.load(pb, 2), b1 = v128.load(pb, 18);
    const oa = offsetOf(q5, a0, a1), ob = offsetOf(q5, b0, b1);
    const sa = transposeSum(sums(q5, pw, a0, a1, oa), sums(q5, pw + rowBytes, a0, a1, oa), sums(q5, pw + rowBytes * 2, a0, a1, oa), sums(q5, pw + rowBytes * 3, a0, a1, oa));
    const sb = transposeSum(sums(q5, pw, b0, b1, ob), sums(q5, pw + rowBytes, b0, b1, ob), sums(q5, pw + rowBytes * 2, b0, b1, ob), sums(q5, pw + rowBytes * 3, b0, b1, ob));
    const dw = scales4(pw, rowBytes);
    sumf0 = addBlock(q5, sumf0, sa, dw, f32x4.splat(f16ToF32(<u32>load<u16>(pa))));
    sumf1 = addBlock(q5, sumf1, sb, dw, f32x4.splat(f16ToF32(<u32>load<u16>(pb))));
  }
  v128.store(out + ((<usize>t * outF + r) << 2), sumf0);
  v128.store(out + ((<usize>t1 * outF + r) << 2), sumf1);
}

/** Rows r .. r+3 of w times the one token xq (decode): the token's quants and offset serve four rows. */
// @ts-ignore: decorator
@inline function rows4x1(q5: bool, out: usize, xq: usize, w: usize, nBlocks: u32, r: u32): void {
  const wBytes = q5 ? Q5_0_BYTES : Q4_0_BYTES;
  const rowBytes = <usize>nBlocks * wBytes;
  const w0 = w + <usize>r * rowBytes;
  let sumf = f32x4.splat(0);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const pw = w0 + <usize>b * wBytes, px = xq + <usize>b * X_BYTES;
    const x0 = v128.load(px, 2), x1 = v128.load(px, 18);
    const off = offsetOf(q5, x0, x1);
    const s = transposeSum(sums(q5, pw, x0, x1, off), sums(q5, pw + rowBytes, x0, x1, off), sums(q5, pw + rowBytes * 2, x0, x1, off), sums(q5, pw + rowBytes * 3, x0, x1, off));
    sumf = addBlock(q5, sumf, s, scales4(pw, rowBytes), f32x4.splat(f16ToF32(<u32>load<u16>(px))));
  }
  v128.store(out + (<usize>r << 2), sumf);
}

/** out[t, r] for one row r and token t: the row tails. */
// @ts-ignore: decorator
@inline function row1x1(q5: bool, out: usize, xq: usize, w: usize, nBlocks: u32, outF: u32, r: u32, t: u32): void {
  const wBytes = q5 ? Q5_0_BYTES : Q4_0_BYTES;
  const w0 = w + <usize>r * <usize>nBlocks * wBytes;
  const x0 = xq + <usize>t * <usize>nBlocks * X_BYTES;
  let sumf: f32 = 0;
  for (let b: u32 = 0; b < nBlocks; b++) {
    const pw = w0 + <usize>b * wBytes, px = x0 + <usize>b * X_BYTES;
    const x0v = v128.load(px, 2), x1v = v128.load(px, 18);
    const s = sums(q5, pw, x0v, x1v, offsetOf(q5, x0v, x1v));
    const s2 = i32x4.add(s, v128.shuffle<i32>(s, s, 2, 3, 0, 1));
    const sumi = <f32>i32x4.extract_lane(i32x4.add(s2, v128.shuffle<i32>(s2, s2, 1, 0, 3, 2)), 0);
    const dw = f16ToF32(<u32>load<u16>(pw)), dx = f16ToF32(<u32>load<u16>(px));
    sumf = sumf + (q5 ? (dw * dx) * sumi : (sumi * dw) * dx);
  }
  store<f32>(out + ((<usize>t * outF + r) << 2), sumf);
}

/** The Q4_0 / Q5_0 matmul loop: decode four rows per token pass, prefill four rows x two tokens, then the row tails. */
// @ts-ignore: decorator
@inline function matmulLegacy(q5: bool, out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  const nBlocks = inF / QK;
  let r = rowStart;
  if (nTokens == 1) for (; r + 4 <= rowEnd; r += 4) rows4x1(q5, out, xq, w, nBlocks, r);
  for (; r + 4 <= rowEnd; r += 4) {
    for (let t: u32 = 0; t < nTokens; t += 2) rows4x2(q5, out, xq, w, nBlocks, outF, r, t, t + 1 < nTokens ? t + 1 : t);
  }
  for (; r < rowEnd; r++) {
    for (let t: u32 = 0; t < nTokens; t++) row1x1(q5, out, xq, w, nBlocks, outF, r, t);
  }
}

/**
 * out (nTokens, outF) rows [rowStart, rowEnd) = xq @ w^T: xq (nTokens, inF) from quantize_q8_0, w
 * (outF, inF) Q4_0 blocks, inF a multiple of 32.
 */
export function matmul_q4_0(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulLegacy(false, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** As matmul_q4_0 for Q5_0 weights (22-byte blocks). */
export function matmul_q5_0(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulLegacy(true, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}
