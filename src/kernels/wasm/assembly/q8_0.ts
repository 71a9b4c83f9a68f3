// Q8_0 kernels in WebAssembly SIMD: the activation quantizer and the matrix product by Q8_0 weights,
// twins of src/tensor/q8_0.ts quantizeBlocksQ8_0 and src/kernels/reference/quantized.ts matmulQ8_0
// (llama.cpp's quantize_row_q8_0_ref and ggml_vec_dot_q8_0_q8_0_generic). Block layout (ggml's
// block_q8_0): per 32 weights a little-endian float16 scale d, then 32 int8 quants; 34 bytes.
//
// Both are bit-exact with the reference: the quantizer does the same float32 operations per lane,
// and the product computes each block's integer dot product exactly (int8 widened to int16, then
// i32x4.dot_i16x8_s), then per output, in block order, sumf = f32(sumf + f32(f32(sumi) * f32(d_w *
// d_x))), with no fused multiply-add even in the relaxed-SIMD build. Four output rows share the lanes
// of that float32 chain. In the relaxed-SIMD build decode takes its integer dots from vec.ts dotI8
// (relaxed SIMD's 8-bit dot on the token's positive and negative parts, exact on every engine);
// prefill keeps the int16 path in both builds: its widened loads serve a 4 x 2 tile, and the 8-bit
// dot's widening of each product pair to int32 would cost more multiplies than it saves.

import { dotI8, f16High, f16Hi, f16Lo, f16ToF32, f32ToF16, i8Neg, i8Pos, roundAway, storeLanes } from "./vec";

/** Weights per block (QK8_0). */
const QK: u32 = 32;
/** Bytes per block: float16 d + 32 int8. */
const BLOCK_BYTES: usize = 34;

/**
 * Quantize x (nTokens, inF) float32 into Q8_0 blocks at xq (nTokens * inF / 32 blocks, row after
 * row). inF must be a multiple of 32.
 */
export function quantize_q8_0(xq: usize, x: usize, nTokens: u32, inF: u32): void {
  const nBlocks = nTokens * (inF / QK);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const src = x + (<usize>b << 7);
    const dst = xq + <usize>b * BLOCK_BYTES;
    const v0 = v128.load(src), v1 = v128.load(src, 16), v2 = v128.load(src, 32), v3 = v128.load(src, 48);
    const v4 = v128.load(src, 64), v5 = v128.load(src, 80), v6 = v128.load(src, 96), v7 = v128.load(src, 112);
    const m01 = f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), m23 = f32x4.max(f32x4.abs(v2), f32x4.abs(v3));
    const m45 = f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), m67 = f32x4.max(f32x4.abs(v6), f32x4.abs(v7));
    const m = f32x4.max(f32x4.max(m01, m23), f32x4.max(m45, m67));
    const m2 = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    const amax = f32x4.extract_lane(f32x4.max(m2, v128.shuffle<f32>(m2, m2, 1, 0, 3, 2)), 0);
    const d = amax / 127;
    const id: f32 = d != 0 ? 1 / d : 0; // from the float32 d, not the float16 one stored
    store<u16>(dst, <u16>f32ToF16(d));
    const idv = f32x4.splat(id);
    const q0 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v0, idv)));
    const q1 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v1, idv)));
    const q2 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v2, idv)));
    const q3 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v3, idv)));
    const q4 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v4, idv)));
    const q5 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v5, idv)));
    const q6 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v6, idv)));
    const q7 = i32x4.trunc_sat_f32x4_s(roundAway(f32x4.mul(v7, idv)));
    // |q| <= 127, so the saturating narrows are exact.
    v128.store(dst, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)), 2);
    v128.store(dst, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)), 18);
  }
}

/**
 * The two vectors 16 token quants x are kept in for halfDot: widened to int16 (low and high eight;
 * plain SIMD), or split into positive and negative parts (relaxed SIMD, for vec.ts dotI8).
 */
// @ts-ignore: decorator
@inline function xPartA(x: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i8Pos(x) : i16x8.extend_low_i8x16_s(x);
}

/** The second of xPartA's pair. */
// @ts-ignore: decorator
@inline function xPartB(x: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i8Neg(x) : i16x8.extend_high_i8x16_s(x);
}

/** Exact int32 partial sums (4 lanes) of 16 products: w quants by x (xa = xPartA(x), xb = xPartB(x)). */
// @ts-ignore: decorator
@inline function halfDot(w: v128, xa: v128, xb: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return dotI8(w, xa, xb);
  return i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), xa), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), xb));
}

/** Exact int32 partial sums (4 lanes) of one block's 32 products: w quants (wa, wb) by x (its parts). */
// @ts-ignore: decorator
@inline function blockDot(wa: v128, wb: v128, xl0: v128, xh0: v128, xl1: v128, xh1: v128): v128 {
  return i32x4.add(halfDot(wa, xl0, xh0), halfDot(wb, xl1, xh1));
}

/** [sum(s0), sum(s1), sum(s2), sum(s3)] of four i32x4 vectors. */
// @ts-ignore: decorator
@inline function transposeSum(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const t0 = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 4, 1, 5), v128.shuffle<i32>(s0, s1, 2, 6, 3, 7));
  const t1 = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 4, 1, 5), v128.shuffle<i32>(s2, s3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}

/** float32 scales d of the blocks at w0 .. w3 (lanes 0..3). */
// @ts-ignore: decorator
@inline function scales4(w0: usize, w1: usize, w2: usize, w3: usize): v128 {
  let h = v128.load16_lane(w0, i16x8.splat(0), 0);
  h = v128.load16_lane(w1, h, 1);
  h = v128.load16_lane(w2, h, 2);
  h = v128.load16_lane(w3, h, 3);
  return f16Lo(h, f16High(h));
}

/** The float16 scale bits of the blocks at p0 + k * rowBytes (k = 0..3) and p4 + k * rowBytes (lanes 4..7). */
// @ts-ignore: decorator
@inline function scaleBits8(p0: usize, p4: usize, rowBytes: usize): v128 {
  let h = v128.load16_lane(p0, i16x8.splat(0), 0);
  h = v128.load16_lane(p0 + rowBytes, h, 1);
  h = v128.load16_lane(p0 + rowBytes * 2, h, 2);
  h = v128.load16_lane(p4 - rowBytes, h, 3);
  h = v128.load16_lane(p4, h, 4);
  h = v128.load16_lane(p4 + rowBytes, h, 5);
  h = v128.load16_lane(p4 + rowBytes * 2, h, 6);
  return v128.load16_lane(p4 + rowBytes * 3, h, 7);
}

/** Rows r .. r+3 of w times the quantized token row xq; out already at the token. */
// @ts-ignore: decorator
@inline function rows4x1(out: usize, xq: usize, w: usize, nBlocks: u32, r: u32): void {
  const rowBytes = <usize>nBlocks * BLOCK_BYTES;
  const w0 = w + <usize>r * rowBytes;
  const w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let sumf = f32x4.splat(0);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const o = <usize>b * BLOCK_BYTES;
    const xb = xq + o;
    const xa = v128.load(xb, 2), xc = v128.load(xb, 18);
    const xl0 = xPartA(xa), xh0 = xPartB(xa);
    const xl1 = xPartA(xc), xh1 = xPartB(xc);
    const s0 = blockDot(v128.load(w0 + o, 2), v128.load(w0 + o, 18), xl0, xh0, xl1, xh1);
    const s1 = blockDot(v128.load(w1 + o, 2), v128.load(w1 + o, 18), xl0, xh0, xl1, xh1);
    const s2 = blockDot(v128.load(w2 + o, 2), v128.load(w2 + o, 18), xl0, xh0, xl1, xh1);
    const s3 = blockDot(v128.load(w3 + o, 2), v128.load(w3 + o, 18), xl0, xh0, xl1, xh1);
    const sumi = f32x4.convert_i32x4_s(transposeSum(s0, s1, s2, s3)); // exact: |sumi| < 2^24
    const scale = f32x4.mul(scales4(w0 + o, w1 + o, w2 + o, w3 + o), f32x4.splat(f16ToF32(<u32>load<u16>(xb))));
    sumf = f32x4.add(sumf, f32x4.mul(sumi, scale));
  }
  v128.store(out + (<usize>r << 2), sumf);
}

/**
 * Rows r, r + gap, ..., r + 7 gap of w times the quantized token row xq (decode): the token's widened
 * block and its scale serve eight rows, whose eight scales are widened together. Lanes of sumfA /
 * sumfB are the tile's rows 0..3 / 4..7, each the reference's float32 chain. The rows are `gap`
 * apart so that the next tile (r + 1) continues each of the eight weight streams where this one
 * ended: a thread then reads eight long sequential streams instead of starting eight new ones
 * every 8 rows (a 2048-wide Q8_0 row is 2176 bytes, too short for the hardware prefetcher).
 */
// @ts-ignore: decorator
@inline function rows8x1(out: usize, xq: usize, w: usize, nBlocks: u32, r: u32, gap: u32): void {
  const rowBytes = <usize>nBlocks * BLOCK_BYTES;
  const stride = <usize>gap * rowBytes; // bytes between the tile's rows
  const w0 = w + <usize>r * rowBytes;
  const w4 = w0 + stride * 4;
  let sumfA = f32x4.splat(0), sumfB = f32x4.splat(0);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const o = <usize>b * BLOCK_BYTES;
    const xb = xq + o;
    const xa = v128.load(xb, 2), xc = v128.load(xb, 18);
    const xl0 = xPartA(xa), xh0 = xPartB(xa);
    const xl1 = xPartA(xc), xh1 = xPartB(xc);
    const p0 = w0 + o, p4 = w4 + o;
    const s0 = blockDot(v128.load(p0, 2), v128.load(p0, 18), xl0, xh0, xl1, xh1);
    const s1 = blockDot(v128.load(p0 + stride, 2), v128.load(p0 + stride, 18), xl0, xh0, xl1, xh1);
    const s2 = blockDot(v128.load(p0 + stride * 2, 2), v128.load(p0 + stride * 2, 18), xl0, xh0, xl1, xh1);
    const s3 = blockDot(v128.load(p4 - stride, 2), v128.load(p4 - stride, 18), xl0, xh0, xl1, xh1);
    const sumiA = f32x4.convert_i32x4_s(transposeSum(s0, s1, s2, s3)); // exact: |sumi| < 2^24
    const s4 = blockDot(v128.load(p4, 2), v128.load(p4, 18), xl0, xh0, xl1, xh1);
    const s5 = blockDot(v128.load(p4 + stride, 2), v128.load(p4 + stride, 18), xl0, xh0, xl1, xh1);
    const s6 = blockDot(v128.load(p4 + stride * 2, 2), v128.load(p4 + stride * 2, 18), xl0, xh0, xl1, xh1);
    const s7 = blockDot(v128.load(p4 + stride * 3, 2), v128.load(p4 + stride * 3, 18), xl0, xh0, xl1, xh1);
    const sumiB = f32x4.convert_i32x4_s(transposeSum(s4, s5, s6, s7));
    const h = scaleBits8(p0, p4, stride);
    const high = f16High(h);
    const dx = f32x4.splat(f16ToF32(<u32>load<u16>(xb)));
    sumfA = f32x4.add(sumfA, f32x4.mul(sumiA, f32x4.mul(f16Lo(h, high), dx)));
    sumfB = f32x4.add(sumfB, f32x4.mul(sumiB, f32x4.mul(f16Hi(h, high), dx)));
  }
  const o0 = out + (<usize>r << 2), step = <usize>gap << 2;
  storeLanes(o0, step, sumfA);
  storeLanes(o0 + step * 4, step, sumfB);
}

/**
 * Rows r .. r+3 of w times quantized tokens t and t+1 (prefill). Each block is taken in four chunks
 * of eight quants, loaded straight into int16 lanes (v128.load8x8_s, one instruction); per chunk
 * the four weight chunks and two token chunks meet in eight i32x4.dot_i16x8_s, summed into eight
 * exact int32 accumulators. The chunk loop is a real loop so that the code generator cannot hoist a
 * whole block's loads (that spills); eight accumulators + four weight + two token vectors fit the
 * registers. After the block, the per-row sums are transposed into one vector per token.
 */
// @ts-ignore: decorator
@inline function rows4x2(out: usize, xq: usize, w: usize, nBlocks: u32, outF: u32, r: u32, t: u32): void {
  const rowBytes = <usize>nBlocks * BLOCK_BYTES;
  const w0 = w + <usize>r * rowBytes;
  const x0 = xq + <usize>t * rowBytes;
  let sumf0 = f32x4.splat(0), sumf1 = f32x4.splat(0);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const o = <usize>b * BLOCK_BYTES;
    const pw = w0 + o, px = x0 + o;
    // Chunk 0 starts the eight sums; chunks 1..3 add to them.
    const xa0 = v128.load8x8_s(px, 2), xb0 = v128.load8x8_s(px + rowBytes, 2);
    let wc0 = v128.load8x8_s(pw, 2);
    let a00 = i32x4.dot_i16x8_s(wc0, xa0), a01 = i32x4.dot_i16x8_s(wc0, xb0);
    wc0 = v128.load8x8_s(pw + rowBytes, 2);
    let a10 = i32x4.dot_i16x8_s(wc0, xa0), a11 = i32x4.dot_i16x8_s(wc0, xb0);
    wc0 = v128.load8x8_s(pw + rowBytes * 2, 2);
    let a20 = i32x4.dot_i16x8_s(wc0, xa0), a21 = i32x4.dot_i16x8_s(wc0, xb0);
    wc0 = v128.load8x8_s(pw + rowBytes * 3, 2);
    let a30 = i32x4.dot_i16x8_s(wc0, xa0), a31 = i32x4.dot_i16x8_s(wc0, xb0);
    for (let c: usize = 10; c < BLOCK_BYTES; c += 8) {
      const xa = v128.load8x8_s(px + c), xb = v128.load8x8_s(px + rowBytes + c);
      let wc = v128.load8x8_s(pw + c);
      a00 = i32x4.add(a00, i32x4.dot_i16x8_s(wc, xa));
      a01 = i32x4.add(a01, i32x4.dot_i16x8_s(wc, xb));
      wc = v128.load8x8_s(pw + rowBytes + c);
      a10 = i32x4.add(a10, i32x4.dot_i16x8_s(wc, xa));
      a11 = i32x4.add(a11, i32x4.dot_i16x8_s(wc, xb));
      wc = v128.load8x8_s(pw + rowBytes * 2 + c);
      a20 = i32x4.add(a20, i32x4.dot_i16x8_s(wc, xa));
      a21 = i32x4.add(a21, i32x4.dot_i16x8_s(wc, xb));
      wc = v128.load8x8_s(pw + rowBytes * 3 + c);
      a30 = i32x4.add(a30, i32x4.dot_i16x8_s(wc, xa));
      a31 = i32x4.add(a31, i32x4.dot_i16x8_s(wc, xb));
    }
    const dw = scales4(pw, pw + rowBytes, pw + rowBytes * 2, pw + rowBytes * 3);
    const scale0 = f32x4.mul(dw, f32x4.splat(f16ToF32(<u32>load<u16>(px))));
    const scale1 = f32x4.mul(dw, f32x4.splat(f16ToF32(<u32>load<u16>(px + rowBytes))));
    sumf0 = f32x4.add(sumf0, f32x4.mul(f32x4.convert_i32x4_s(transposeSum(a00, a10, a20, a30)), scale0));
    sumf1 = f32x4.add(sumf1, f32x4.mul(f32x4.convert_i32x4_s(transposeSum(a01, a11, a21, a31)), scale1));
  }
  const o0 = out + ((<usize>t * outF + r) << 2);
  v128.store(o0, sumf0);
  v128.store(o0 + (<usize>outF << 2), sumf1);
}

/** out[r] = row r of w times the quantized token row xq (out at the token): the row tails. */
// @ts-ignore: decorator
@inline function rows1x1(out: usize, xq: usize, w: usize, nBlocks: u32, r: u32): void {
  const w0 = w + <usize>r * <usize>nBlocks * BLOCK_BYTES;
  let sumf: f32 = 0;
  for (let b: u32 = 0; b < nBlocks; b++) {
    const o = <usize>b * BLOCK_BYTES;
    const xa = v128.load(xq + o, 2), xc = v128.load(xq + o, 18);
    const s = blockDot(v128.load(w0 + o, 2), v128.load(w0 + o, 18),
      xPartA(xa), xPartB(xa), xPartA(xc), xPartB(xc));
    const s2 = i32x4.add(s, v128.shuffle<i32>(s, s, 2, 3, 0, 1));
    const sumi = i32x4.extract_lane(i32x4.add(s2, v128.shuffle<i32>(s2, s2, 1, 0, 3, 2)), 0);
    const scale = f16ToF32(<u32>load<u16>(w0 + o)) * f16ToF32(<u32>load<u16>(xq + o));
    sumf = sumf + <f32>sumi * scale;
  }
  store<f32>(out + (<usize>r << 2), sumf);
}

/**
 * out (nTokens, outF) rows [rowStart, rowEnd) = xq @ w^T: xq (nTokens, inF) from quantize_q8_0, w
 * (outF, inF) Q8_0 blocks, inF a multiple of 32.
 */
export function matmul_q8_0(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  const nBlocks = inF / QK;
  const xRowBytes = <usize>nBlocks * BLOCK_BYTES;
  let r = rowStart;
  if (nTokens == 1) {
    // Tiles of rows g, g + gap, ..., g + 7 gap for g in [rowStart, rowStart + gap): 8 gap rows; the rest below.
    const gap = (rowEnd - rowStart) >> 3;
    for (let g: u32 = 0; g < gap; g++) rows8x1(out, xq, w, nBlocks, rowStart + g, gap);
    r = rowStart + gap * 8;
  }
  for (; r + 4 <= rowEnd; r += 4) {
    let t: u32 = 0;
    for (; t + 2 <= nTokens; t += 2) rows4x2(out, xq, w, nBlocks, outF, r, t);
    if (t < nTokens) rows4x1(out + ((<usize>t * outF) << 2), xq + <usize>t * xRowBytes, w, nBlocks, r);
  }
  for (; r < rowEnd; r++) {
    for (let t: u32 = 0; t < nTokens; t++) rows1x1(out + ((<usize>t * outF) << 2), xq + <usize>t * xRowBytes, w, nBlocks, r);
  }
}
