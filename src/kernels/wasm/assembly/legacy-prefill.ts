// The Q4_0 and Q5_0 prefill with scratch (matmul_q4_0 / matmul_q5_0 with nTokens > 1 and a scratch
// block; decode and calls without scratch take legacy-quants.ts matmulLegacy). Per chunk of tokens,
// each token block's float32 scale (and, in the relaxed build, its offset term) is taken once; per
// block of rows, each row's quants are unpacked once; then each row meets four tokens per pass, and
// the four tokens' block sums share one transpose and the float32 lanes of one chain.
//
// Bit-exact with the reference (llama.cpp's ggml_vec_dot_q4_0_q8_0_generic, ..._q5_0_q8_0_): each
// block's integer dot is exact, then per output, in block order, Q4_0 sumf += (sumi * d_w) * d_x and
// Q5_0 sumf += (d_w * d_x) * sumi in float32 with no fused multiply-add; the four lanes are four
// tokens of one row. The unpacked quants: plain SIMD, (q - offset) widened to int16 (64 bytes per
// block: i32x4.dot_i16x8_s against the activations' widening loads); relaxed SIMD, the unsigned
// quants 0..15 / 0..31 (32 bytes: i16x8.relaxed_dot_i8x16_i7x16_s with them as the 7-bit operand,
// exact on every engine), the offset x the activations' sum subtracted per token block afterwards.
// The activations stay where quantize_q8_0 wrote them (34-byte blocks).

import { Q4_0, Q5_0, QK, fifthBitsOf, highQuants, lowQuants, nibbles, transposeSum, wBytes } from "./legacy-vec";
import { f16ToF32 } from "./vec";

/** Bytes of a Q8_0 activation block. */
const X_BYTES: usize = 34;
/** Bytes of one unpacked weight block (then, after a row's blocks, its float32 scales). */
const W_QUANTS: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** Rows whose unpacked weights the loop holds at once (they stay in cache while every token passes). */
const ROW_BLOCK: u32 = 16;
/** Tokens whose scales and offsets the loop holds at once (a longer prompt is taken in chunks). */
const TOKEN_CHUNK: u32 = 64;

/** The weights' offset: 8 (Q4_0) or 16 (Q5_0). */
// @ts-ignore: decorator
@inline function offset(kind: u32): i32 {
  return kind == Q5_0 ? 16 : 8;
}

/** Tokens per chunk in a call of nTokens, rounded up to four (the stride of the per-token arrays). */
// @ts-ignore: decorator
@inline function chunkStride(nTokens: u32): u32 {
  return ((nTokens < TOKEN_CHUNK ? nTokens : TOKEN_CHUNK) + 3) & ~3;
}

/** Scratch bytes the prefill needs for nTokens tokens of inF (a multiple of 32): per-token scales and offsets, and ROW_BLOCK unpacked rows. */
// @ts-ignore: decorator
@inline export function legacyScratchBytes(nTokens: u32, inF: u32): u32 {
  const nb = inF / QK;
  return nb * chunkStride(nTokens) * 8 + ROW_BLOCK * nb * (<u32>W_QUANTS + 4);
}

/** The offset term of the Q8_0 block at px (relaxed build): offset(kind) x the sum of its 32 quants. */
// @ts-ignore: decorator
@inline function offsetTerm(kind: u32, px: usize): i32 {
  const one = i8x16.splat(1);
  const s = i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(px, 2), one), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(px, 18), one)));
  const s2 = i32x4.add(s, v128.shuffle<i32>(s, s, 2, 3, 0, 1));
  return i32x4.extract_lane(i32x4.add(s2, v128.shuffle<i32>(s2, s2, 1, 0, 3, 2)), 0) * offset(kind);
}

/** The `kind` block at pw unpacked at dst (W_QUANTS bytes; see the header). */
// @ts-ignore: decorator
@inline function unpack(kind: u32, dst: usize, pw: usize): void {
  const q = nibbles(kind, pw), qh = fifthBitsOf(kind, pw);
  let lo = lowQuants(kind, q, qh), hi = highQuants(kind, q, qh);
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(dst, lo);
    v128.store(dst, hi, 16);
    return;
  }
  const off = i8x16.splat(<i8>offset(kind));
  lo = i8x16.sub(lo, off);
  hi = i8x16.sub(hi, off);
  v128.store(dst, i16x8.extend_low_i8x16_s(lo));
  v128.store(dst, i16x8.extend_high_i8x16_s(lo), 16);
  v128.store(dst, i16x8.extend_low_i8x16_s(hi), 32);
  v128.store(dst, i16x8.extend_high_i8x16_s(hi), 48);
}

/** Exact int32 partial sums of one token block (quants at px + 2) against the unpacked weights w0..w3 (relaxed: w0, w1; offset not subtracted). */
// @ts-ignore: decorator
@inline function tokenSums(px: usize, w0: v128, w1: v128, w2: v128, w3: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(px, 2), w0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(px, 18), w1)));
  }
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(w0, v128.load8x8_s(px, 2)), i32x4.dot_i16x8_s(w1, v128.load8x8_s(px, 10))),
    i32x4.add(i32x4.dot_i16x8_s(w2, v128.load8x8_s(px, 18)), i32x4.dot_i16x8_s(w3, v128.load8x8_s(px, 26))),
  );
}

/**
 * One unpacked row (quants at wq, scales at wd) against n tokens (1..4, a constant): their Q8_0
 * rows at x + k * xStride, their scales and offsets at sd, so (consecutive tokens; the block's
 * entries `stride` bytes apart), results at o + k * oStride. With n < 4 the lanes past n read
 * entries this chunk did not write (inside the scratch: stride is a multiple of four tokens); those
 * lanes are never stored.
 */
// @ts-ignore: decorator
@inline function tile(kind: u32, n: u32, wq: usize, wd: usize, x: usize, xStride: usize, sd: usize, so: usize, stride: usize, nb: u32, o: usize, oStride: usize): void {
  const zero = i32x4.splat(0);
  let sumf = f32x4.splat(0);
  for (let b: u32 = 0; b < nb; b++) {
    const pw = wq + <usize>b * W_QUANTS, px = x + <usize>b * X_BYTES;
    const w0 = v128.load(pw), w1 = v128.load(pw, 16);
    const w2 = ASC_FEATURE_RELAXED_SIMD ? zero : v128.load(pw, 32), w3 = ASC_FEATURE_RELAXED_SIMD ? zero : v128.load(pw, 48);
    const a0 = tokenSums(px, w0, w1, w2, w3);
    const a1 = n > 1 ? tokenSums(px + xStride, w0, w1, w2, w3) : zero;
    const a2 = n > 2 ? tokenSums(px + 2 * xStride, w0, w1, w2, w3) : zero;
    const a3 = n > 3 ? tokenSums(px + 3 * xStride, w0, w1, w2, w3) : zero;
    const e = <usize>b * stride;
    let s = transposeSum(a0, a1, a2, a3);
    if (ASC_FEATURE_RELAXED_SIMD) s = i32x4.sub(s, v128.load(so + e));
    const dw = v128.load32_splat(wd + (<usize>b << 2)), dx = v128.load(sd + e);
    if (kind == Q4_0) sumf = f32x4.add(sumf, f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(s), dw), dx));
    else sumf = f32x4.add(sumf, f32x4.mul(f32x4.mul(dw, dx), f32x4.convert_i32x4_s(s)));
  }
  store<f32>(o, f32x4.extract_lane(sumf, 0));
  if (n > 1) store<f32>(o + oStride, f32x4.extract_lane(sumf, 1));
  if (n > 2) store<f32>(o + 2 * oStride, f32x4.extract_lane(sumf, 2));
  if (n > 3) store<f32>(o + 3 * oStride, f32x4.extract_lane(sumf, 3));
}

/**
 * The prefill of `kind` (Q4_0 or Q5_0) with scratch (legacyScratchBytes(nTokens, inF) bytes, this
 * thread's alone): out (nTokens, outF) rows [rowStart, rowEnd) = xq @ w^T, as matmulLegacy. Per
 * chunk of TOKEN_CHUNK tokens, their scales (float32) and offsets at the start of scratch ([block]
 * [token], chunkStride tokens per block); per block of ROW_BLOCK rows, their quants unpacked after
 * them; then each row against the chunk's tokens four at a time (a last 1..3 together).
 */
// @ts-ignore: decorator
@inline export function prefillLegacy(kind: u32, out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, scratch: usize): void {
  const nb = inF / QK;
  const rowBytes = <usize>nb * wBytes(kind), xRow = <usize>nb * X_BYTES;
  const ntc = chunkStride(nTokens);
  const stride = <usize>ntc << 2; // bytes between a token's entries of consecutive blocks
  const sd = scratch, so = scratch + <usize>nb * stride, table = so + <usize>nb * stride;
  const wRow = <usize>nb * (W_QUANTS + 4);
  const oStride = <usize>outF << 2;
  for (let t0: u32 = 0; t0 < nTokens; t0 += TOKEN_CHUNK) {
    const nt = nTokens - t0 < TOKEN_CHUNK ? nTokens - t0 : TOKEN_CHUNK;
    const x0 = xq + <usize>t0 * xRow;
    for (let t: u32 = 0; t < nt; t++) {
      for (let b: u32 = 0; b < nb; b++) {
        const px = x0 + <usize>t * xRow + <usize>b * X_BYTES, e = <usize>b * stride + (<usize>t << 2);
        store<f32>(sd + e, f16ToF32(<u32>load<u16>(px)));
        if (ASC_FEATURE_RELAXED_SIMD) store<i32>(so + e, offsetTerm(kind, px));
      }
    }
    for (let r0 = rowStart; r0 < rowEnd; r0 += ROW_BLOCK) {
      const r1 = r0 + ROW_BLOCK < rowEnd ? r0 + ROW_BLOCK : rowEnd;
      for (let r = r0; r < r1; r++) {
        const pw = w + <usize>r * rowBytes, dst = table + <usize>(r - r0) * wRow, dd = dst + <usize>nb * W_QUANTS;
        for (let b: u32 = 0; b < nb; b++) {
          unpack(kind, dst + <usize>b * W_QUANTS, pw + <usize>b * wBytes(kind));
          store<f32>(dd + (<usize>b << 2), f16ToF32(<u32>load<u16>(pw + <usize>b * wBytes(kind))));
        }
      }
      let t: u32 = 0;
      for (; t + 4 <= nt; t += 4) {
        const x = x0 + <usize>t * xRow, o = out + <usize>(t0 + t) * oStride, st = <usize>t << 2;
        for (let r = r0; r < r1; r++) {
          const wq = table + <usize>(r - r0) * wRow;
          tile(kind, 4, wq, wq + <usize>nb * W_QUANTS, x, xRow, sd + st, so + st, stride, nb, o + (<usize>r << 2), oStride);
        }
      }
      const left = nt - t;
      if (left == 0) continue;
      const x = x0 + <usize>t * xRow, o = out + <usize>(t0 + t) * oStride, st = <usize>t << 2;
      for (let r = r0; r < r1; r++) {
        const wq = table + <usize>(r - r0) * wRow, wd = wq + <usize>nb * W_QUANTS, or = o + (<usize>r << 2);
        if (left == 3) tile(kind, 3, wq, wd, x, xRow, sd + st, so + st, stride, nb, or, oStride);
        else if (left == 2) tile(kind, 2, wq, wd, x, xRow, sd + st, so + st, stride, nb, or, oStride);
        else tile(kind, 1, wq, wd, x, xRow, sd + st, so + st, stride, nb, or, oStride);
      }
    }
  }
}
