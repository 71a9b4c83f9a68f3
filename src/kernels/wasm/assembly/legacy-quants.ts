// The 32-weight block formats in WebAssembly SIMD: the Q8_1 activation quantizer and the matrix
// products by Q4_0, Q5_0 (activations in Q8_0, quantize_q8_0 of q8_0.ts), Q4_1 and Q5_1 (activations
// in Q8_1) weights, twins of tensor/q8_1.ts (quantize_row_q8_1_ref) and kernels/reference/
// legacy-quants.ts (llama.cpp's ggml_vec_dot_q4_0_q8_0_generic, ..._q5_0_q8_0_, ..._q4_1_q8_1_,
// ..._q5_1_q8_1_). Block layouts (ggml-common.h), per 32 weights: half d, for Q4_1/Q5_1 half m, for
// Q5_0/Q5_1 a uint32 qh of fifth bits (bit j: weight j), then 16 bytes whose low nibbles are weights
// 0..15 and high nibbles 16..31; weight = d (q - 8), d (q5 - 16), d q + m, d q5 + m (18, 22, 20, 24
// bytes). block_q8_1 = half d, half s (d x the sum of the quants), int8 qs[32] (36 bytes).
//
// Bit-exact with the reference: each block's integer dot product is exact (see blockSums), then per
// output, in block order, the C code's float32 steps: Q4_0 sumf += (sumi * d_w) * d_x, Q5_0 sumf +=
// (d_w * d_x) * sumi, Q4_1/Q5_1 sumf += (d_w * d_x) * sumi + m_w * s_x, with no fused multiply-add.
// Four output rows share the lanes of that chain. The Q4_0/Q5_0 prefill with scratch, where each row
// is unpacked once per token chunk and four tokens share the lanes instead, is legacy-prefill.ts.

import { Q4_0, Q4_1, Q5_0, Q5_1, QK, fifthBitsOf, highQuants, lowQuants, nibbles, transposeSum, wBytes } from "./legacy-vec";
import { legacyScratchBytes, prefillLegacy } from "./legacy-prefill";
import { f16High, f16Lo, f16ToF32, f32ToF16, roundAway, storeLanes } from "./vec";

/** Bytes of the activation block `kind` dots against: Q8_0 (34) or Q8_1 (36). */
// @ts-ignore: decorator
@inline function xBytes(kind: u32): usize {
  return kind < Q4_1 ? 34 : 36;
}

/** The 32 activation quants of the block at px: x0 (0..15) or x1 (16..31), after d (Q8_0) or d and s (Q8_1). */
// @ts-ignore: decorator
@inline function xq0(kind: u32, px: usize): v128 {
  return kind < Q4_1 ? v128.load(px, 2) : v128.load(px, 4);
}
// @ts-ignore: decorator
@inline function xq1(kind: u32, px: usize): v128 {
  return kind < Q4_1 ? v128.load(px, 18) : v128.load(px, 20);
}

/**
 * Quantize x (nTokens, inF) float32 into Q8_1 blocks at xq (nTokens * inF / 32 blocks of 36 bytes),
 * as quantize_row_q8_1_ref: quantize_q8_0's d, id and quants (round half away from zero), then s =
 * fp16(float(sum of the quants) * d) with the float32 d.
 */
export function quantize_q8_1(xq: usize, x: usize, nTokens: u32, inF: u32): void {
  const nBlocks = nTokens * (inF / QK);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const src = x + (<usize>b << 7);
    const dst = xq + <usize>b * 36;
    let m = f32x4.abs(v128.load(src));
    for (let j: usize = 16; j < 128; j += 16) m = f32x4.max(m, f32x4.abs(v128.load(src + j)));
    const m2 = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    const amax = f32x4.extract_lane(f32x4.max(m2, v128.shuffle<f32>(m2, m2, 1, 0, 3, 2)), 0);
    const d: f32 = amax / 127;
    const idv = f32x4.splat(d != 0 ? 1 / d : 0);
    let sum = i16x8.splat(0);
    for (let h: usize = 0; h < 2; h++) {
      const p = src + (h << 6);
      const q0 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v128.load(p), idv)));
      const q1 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v128.load(p, 16), idv)));
      const q2 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v128.load(p, 32), idv)));
      const q3 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v128.load(p, 48), idv)));
      const lo = i16x8.narrow_i32x4_s(q0, q1), hi = i16x8.narrow_i32x4_s(q2, q3);
      v128.store(dst + 4 + (h << 4), i8x16.narrow_i16x8_s(lo, hi)); // |q| <= 127: exact
      sum = i16x8.add(sum, i16x8.add(lo, hi));
    }
    const s4 = i32x4.extadd_pairwise_i16x8_s(sum);
    const s2 = i32x4.add(s4, v128.shuffle<i32>(s4, s4, 2, 3, 0, 1));
    const total = i32x4.extract_lane(i32x4.add(s2, v128.shuffle<i32>(s2, s2, 1, 0, 3, 2)), 0);
    store<u16>(dst, <u16>f32ToF16(d));
    store<u16>(dst, <u16>f32ToF16(<f32>total * d), 2);
  }
}

/**
 * Exact int32 partial sums (4 lanes) of one block's products: the quants of the `kind` block at pw
 * against the activation quants x0 (weights 0..15) and x1 (16..31). Relaxed SIMD:
 * i16x8.relaxed_dot_i8x16_i7x16_s (one pmaddubsw) of the activations with the unsigned quants 0..15
 * or 0..31 (a 7-bit operand: exact on every engine), Q4_0/Q5_0's offset (8, 16) left to offsetOf;
 * plain SIMD: (q - offset) x a by extended multiplies. int16 sums of at most 4 x 128 x 31 products.
 */
// @ts-ignore: decorator
@inline function blockSums(kind: u32, pw: usize, x0: v128, x1: v128): v128 {
  const q = nibbles(kind, pw), qh = fifthBitsOf(kind, pw);
  let lo = lowQuants(kind, q, qh), hi = highQuants(kind, q, qh);
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, lo), i16x8.relaxed_dot_i8x16_i7x16_s(x1, hi)));
  }
  if (kind == Q4_0 || kind == Q5_0) {
    const offset = i8x16.splat(kind == Q5_0 ? 16 : 8);
    lo = i8x16.sub(lo, offset);
    hi = i8x16.sub(hi, offset);
  }
  const t = i16x8.add(
    i16x8.add(i16x8.extmul_low_i8x16_s(lo, x0), i16x8.extmul_high_i8x16_s(lo, x0)),
    i16x8.add(i16x8.extmul_low_i8x16_s(hi, x1), i16x8.extmul_high_i8x16_s(hi, x1)),
  );
  return i32x4.extadd_pairwise_i16x8_s(t);
}

/**
 * What blockSums leaves out in the relaxed build for Q4_0/Q5_0, per token block: the offset (8 or
 * 16) x the activations' sum, as four partial sums to subtract from a row's partial sums (their
 * total is then sum (q - offset) x a); zero otherwise.
 */
// @ts-ignore: decorator
@inline function offsetOf(kind: u32, x0: v128, x1: v128): v128 {
  if (!ASC_FEATURE_RELAXED_SIMD || kind >= Q4_1) return i32x4.splat(0);
  const one = i8x16.splat(1);
  return i32x4.shl(i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, one), i16x8.relaxed_dot_i8x16_i7x16_s(x1, one))), kind == Q5_0 ? 4 : 3);
}

/** blockSums minus the offset (relaxed build, Q4_0/Q5_0); blockSums itself otherwise. */
// @ts-ignore: decorator
@inline function sums(kind: u32, pw: usize, x0: v128, x1: v128, off: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD && kind < Q4_1 ? i32x4.sub(blockSums(kind, pw, x0, x1), off) : blockSums(kind, pw, x0, x1);
}

/**
 * sumf + the block's term, as the C code orders it: Q4_0 (sumi * d_w) * d_x, Q5_0 (d_w * d_x) *
 * sumi, Q4_1/Q5_1 (d_w * d_x) * sumi + m_w * s_x (mw, sx unused for the first two).
 */
// @ts-ignore: decorator
@inline function addBlock(kind: u32, sumf: v128, sumi: v128, dw: v128, dx: v128, mw: v128, sx: v128): v128 {
  const s = f32x4.convert_i32x4_s(sumi);
  if (kind == Q4_0) return f32x4.add(sumf, f32x4.mul(f32x4.mul(s, dw), dx));
  if (kind == Q5_0) return f32x4.add(sumf, f32x4.mul(f32x4.mul(dw, dx), s));
  return f32x4.add(sumf, f32x4.add(f32x4.mul(f32x4.mul(dw, dx), s), f32x4.mul(mw, sx)));
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

/** The float32 of the half at p + 2 (Q8_1's s; Q4_1/Q5_1's m), for kinds that have one, else 0. */
// @ts-ignore: decorator
@inline function second(kind: u32, p: usize): f32 {
  return kind >= Q4_1 ? f16ToF32(<u32>load<u16>(p, 2)) : 0;
}

/** Rows r .. r+3 of w times tokens t and t+1 (t1 = t for a last token alone); out rows of outF. */
// @ts-ignore: decorator
@inline function rows4x2(kind: u32, out: usize, xq: usize, w: usize, nBlocks: u32, outF: u32, r: u32, t: u32, t1: u32): void {
  const rowBytes = <usize>nBlocks * wBytes(kind);
  const xRowBytes = <usize>nBlocks * xBytes(kind);
  const w0 = w + <usize>r * rowBytes;
  const xa = xq + <usize>t * xRowBytes, xb = xq + <usize>t1 * xRowBytes;
  let sumf0 = f32x4.splat(0), sumf1 = f32x4.splat(0);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const pw = w0 + <usize>b * wBytes(kind);
    const pa = xa + <usize>b * xBytes(kind), pb = xb + <usize>b * xBytes(kind);
    const a0 = xq0(kind, pa), a1 = xq1(kind, pa), b0 = xq0(kind, pb), b1 = xq1(kind, pb);
    const oa = offsetOf(kind, a0, a1), ob = offsetOf(kind, b0, b1);
    const sa = transposeSum(sums(kind, pw, a0, a1, oa), sums(kind, pw + rowBytes, a0, a1, oa), sums(kind, pw + rowBytes * 2, a0, a1, oa), sums(kind, pw + rowBytes * 3, a0, a1, oa));
    const sb = transposeSum(sums(kind, pw, b0, b1, ob), sums(kind, pw + rowBytes, b0, b1, ob), sums(kind, pw + rowBytes * 2, b0, b1, ob), sums(kind, pw + rowBytes * 3, b0, b1, ob));
    const dw = scales4(pw, rowBytes);
    const mw = kind >= Q4_1 ? scales4(pw + 2, rowBytes) : dw;
    sumf0 = addBlock(kind, sumf0, sa, dw, f32x4.splat(f16ToF32(<u32>load<u16>(pa))), mw, f32x4.splat(second(kind, pa)));
    sumf1 = addBlock(kind, sumf1, sb, dw, f32x4.splat(f16ToF32(<u32>load<u16>(pb))), mw, f32x4.splat(second(kind, pb)));
  }
  v128.store(out + ((<usize>t * outF + r) << 2), sumf0);
  v128.store(out + ((<usize>t1 * outF + r) << 2), sumf1);
}

/** Bytes of the token data decodeToken prepares per block (float32 d, int32 offset term). */
const PREP_BYTES: usize = 8;

/**
 * The one token's per-block data for the decode tiles (Q4_0/Q5_0, with scratch), at prep: its
 * float32 scale and, in the relaxed build, the offset (8 or 16) x the sum of its quants as one
 * int32, so rows4x1 neither converts the half nor forms offsetOf per tile.
 */
// @ts-ignore: decorator
@inline function decodeToken(kind: u32, prep: usize, xq: usize, nBlocks: u32): void {
  for (let b: u32 = 0; b < nBlocks; b++) {
    const px = xq + <usize>b * xBytes(kind), p = prep + <usize>b * PREP_BYTES;
    store<f32>(p, f16ToF32(<u32>load<u16>(px)));
    if (ASC_FEATURE_RELAXED_SIMD) {
      const o = offsetOf(kind, xq0(kind, px), xq1(kind, px));
      const o2 = i32x4.add(o, v128.shuffle<i32>(o, o, 2, 3, 0, 1));
      store<i32>(p, i32x4.extract_lane(i32x4.add(o2, v128.shuffle<i32>(o2, o2, 1, 0, 3, 2)), 0), 4);
    }
  }
}

/**
 * Rows r, r + gap, r + 2 gap, r + 3 gap of w times the one token xq (decode): the token's quants and
 * offset serve four rows. The rows are `gap` apart so that tile r + 1 continues each of the four
 * streams where this one ended (see matmulLegacy). With pre (a constant; Q4_0/Q5_0), the token's
 * scale and offset term come from decodeToken's data at prep: the relaxed build subtracts the
 * offset term from the four rows' sums after the transpose (integers: the same sums).
 */
// @ts-ignore: decorator
@inline function rows4x1(kind: u32, pre: bool, out: usize, xq: usize, prep: usize, w: usize, nBlocks: u32, r: u32, gap: u32): void {
  const stride = <usize>gap * <usize>nBlocks * wBytes(kind); // bytes between the tile's rows
  const w0 = w + <usize>r * <usize>nBlocks * wBytes(kind);
  let sumf = f32x4.splat(0);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const pw = w0 + <usize>b * wBytes(kind), px = xq + <usize>b * xBytes(kind);
    const x0 = xq0(kind, px), x1 = xq1(kind, px);
    const dw = scales4(pw, stride);
    const mw = kind >= Q4_1 ? scales4(pw + 2, stride) : dw;
    if (pre) {
      const p = prep + <usize>b * PREP_BYTES;
      let s = transposeSum(blockSums(kind, pw, x0, x1), blockSums(kind, pw + stride, x0, x1), blockSums(kind, pw + stride * 2, x0, x1), blockSums(kind, pw + stride * 3, x0, x1));
      if (ASC_FEATURE_RELAXED_SIMD) s = i32x4.sub(s, v128.load32_splat(p, 4));
      sumf = addBlock(kind, sumf, s, dw, v128.load32_splat(p), mw, mw);
    } else {
      const off = offsetOf(kind, x0, x1);
      const s = transposeSum(sums(kind, pw, x0, x1, off), sums(kind, pw + stride, x0, x1, off), sums(kind, pw + stride * 2, x0, x1, off), sums(kind, pw + stride * 3, x0, x1, off));
      sumf = addBlock(kind, sumf, s, dw, f32x4.splat(f16ToF32(<u32>load<u16>(px))), mw, f32x4.splat(second(kind, px)));
    }
  }
  storeLanes(out + (<usize>r << 2), <usize>gap << 2, sumf);
}

/** out[t, r] for one row r and token t: the row tails (the same float32 steps on lane 0). */
// @ts-ignore: decorator
@inline function row1x1(kind: u32, out: usize, xq: usize, w: usize, nBlocks: u32, outF: u32, r: u32, t: u32): void {
  const w0 = w + <usize>r * <usize>nBlocks * wBytes(kind);
  const x0 = xq + <usize>t * <usize>nBlocks * xBytes(kind);
  let sumf = f32x4.splat(0);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const pw = w0 + <usize>b * wBytes(kind), px = x0 + <usize>b * xBytes(kind);
    const x0v = xq0(kind, px), x1v = xq1(kind, px);
    const s = sums(kind, pw, x0v, x1v, offsetOf(kind, x0v, x1v));
    const s2 = i32x4.add(s, v128.shuffle<i32>(s, s, 2, 3, 0, 1));
    const sumi = i32x4.add(s2, v128.shuffle<i32>(s2, s2, 1, 0, 3, 2));
    const dw = f32x4.splat(f16ToF32(<u32>load<u16>(pw))), dx = f32x4.splat(f16ToF32(<u32>load<u16>(px)));
    sumf = addBlock(kind, sumf, sumi, dw, dx, f32x4.splat(second(kind, pw)), f32x4.splat(second(kind, px)));
  }
  store<f32>(out + ((<usize>t * outF + r) << 2), f32x4.extract_lane(sumf, 0));
}

/**
 * The matmul loop: decode four rows per token pass (rows g, g + gap, g + 2 gap, g + 3 gap, gap a
 * quarter of the slice, so a thread reads four long sequential streams instead of starting four new
 * ones every four rows: a 2048-wide Q4_0 row is 1152 bytes, short for the hardware prefetcher),
 * prefill four rows x two tokens, then the row tails.
 */
// @ts-ignore: decorator
@inline function matmulLegacy(kind: u32, out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, prep: usize): void {
  const nBlocks = inF / QK;
  let r = rowStart;
  if (nTokens == 1) {
    const gap = (rowEnd - rowStart) >> 2;
    if (prep != 0 && (kind == Q4_0 || kind == Q5_0)) {
      decodeToken(kind, prep, xq, nBlocks);
      for (let g: u32 = 0; g < gap; g++) rows4x1(kind, true, out, xq, prep, w, nBlocks, rowStart + g, gap);
    } else {
      for (let g: u32 = 0; g < gap; g++) rows4x1(kind, false, out, xq, 0, w, nBlocks, rowStart + g, gap);
    }
    r = rowStart + gap * 4;
  }
  for (; r + 4 <= rowEnd; r += 4) {
    for (let t: u32 = 0; t < nTokens; t += 2) rows4x2(kind, out, xq, w, nBlocks, outF, r, t, t + 1 < nTokens ? t + 1 : t);
  }
  for (; r < rowEnd; r++) {
    for (let t: u32 = 0; t < nTokens; t++) row1x1(kind, out, xq, w, nBlocks, outF, r, t);
  }
}

/**
 * out (nTokens, outF) rows [rowStart, rowEnd) = xq @ w^T: xq (nTokens, inF) from quantize_q8_0, w
 * (outF, inF) Q4_0 blocks, inF a multiple of 32. scratch: 0, or this thread's
 * matmul_q4_0_scratch_bytes(nTokens, inF) bytes: a prefill unpacks each row there once per token
 * chunk (legacy-prefill.ts), decode keeps the token's per-block scale and offset term there
 * (decodeToken). A host passing no ninth argument passes 0.
 */
export function matmul_q4_0(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, scratch: usize): void {
  if (nTokens > 1 && scratch != 0) prefillLegacy(Q4_0, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, scratch);
  else matmulLegacy(Q4_0, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, scratch);
}

/** As matmul_q4_0 for Q5_0 weights (22-byte blocks); scratch: matmul_q5_0_scratch_bytes. */
export function matmul_q5_0(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, scratch: usize): void {
  if (nTokens > 1 && scratch != 0) prefillLegacy(Q5_0, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, scratch);
  else matmulLegacy(Q5_0, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, scratch);
}

/** Scratch bytes matmul_q4_0 takes for nTokens tokens of inF (a multiple of 32), per thread: decode's token data or the prefill's. */
export function matmul_q4_0_scratch_bytes(nTokens: u32, inF: u32): u32 {
  return nTokens == 1 ? (inF / QK) * <u32>PREP_BYTES : legacyScratchBytes(nTokens, inF);
}

/** Scratch bytes matmul_q5_0 takes (as matmul_q4_0_scratch_bytes). */
export function matmul_q5_0_scratch_bytes(nTokens: u32, inF: u32): u32 {
  return nTokens == 1 ? (inF / QK) * <u32>PREP_BYTES : legacyScratchBytes(nTokens, inF);
}

/** As matmul_q4_0 with xq from quantize_q8_1 and w Q4_1 blocks (20 bytes). */
export function matmul_q4_1(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulLegacy(Q4_1, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, 0);
}

/** As matmul_q4_1 for Q5_1 weights (24-byte blocks). */
export function matmul_q5_1(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulLegacy(Q5_1, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, 0);
}
