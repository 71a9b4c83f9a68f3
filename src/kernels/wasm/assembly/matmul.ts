// Matrix products by float weights (f32, bf16, f16) in WebAssembly SIMD: the twins of
// src/kernels/reference/linear.ts `matmul`. out[t*outF + r] = sum_i x[t*inF + i] * w[r*inF + i] for
// tokens t < nTokens and rows rowStart <= r < rowEnd (a thread's slice). x and out are float32; a
// 16-bit weight is widened in registers (exactly), never copied.
//
// Decode (one token) is bound by reading the weights: eight rows at a time (four for a remainder),
// one accumulator per row, one pass over memory. Prefill tiles two rows by four tokens, so each
// weight vector is loaded and widened once per four tokens while the two rows stay in cache for
// the whole token loop. Tiles are sized so their live vectors fit V8's ~14 usable SIMD registers:
// V8 hoists a loop body's loads ahead of its arithmetic, and a spilled accumulator costs more than
// a smaller tile. Sums are in float32 in a different order than the reference, so results agree to
// rounding (the conformance test bounds it), not bit for bit.

import { BF16, F16, F32, elementBytes, floatHi, floatLo, floatScalar } from "./float-weights";
import { f16High, f16HighFinite, f16Hi, f16Lo, f16Scale, f16ScaledHi, f16ScaledLo, f16ToF32, hsum, hsum4, madd, madd2, storeLanes } from "./vec";

// Weight dtypes: F32, BF16, F16 (float-weights.ts) and two f16 variants; compile-time constants of
// the inlined kernels below (each export gets its own copy).
/** f16 weights the caller knows hold no infinity or NaN: F16 without the special-exponent fix (prep). */
const F16_FINITE: i32 = 3;
/**
 * Finite f16 weights in rows8x1, widened to their values times 2^-112 (no multiply: f16HighFinite
 * and two unpacks), the token scaled by 2^112 instead, once per step for all eight rows. Each product
 * is the same real number as F16's (f16ScalableX must hold for the token), so it rounds the same, and
 * the sums run in the same order: the result is bit for bit F16's. Tails use the exact widening on the
 * unscaled token, as F16.
 */
const F16_SCALED: i32 = 4;

/** The raw vector at p: four float32 weights, or eight 16-bit ones. */
// @ts-ignore: decorator
@inline function raw(p: usize): v128 {
  return v128.load(p);
}

/**
 * What the two widenings of `r` share (f16: the high halves of the float32 patterns; for finite
 * weights without the infinity/NaN fix, which is a third of the widening's operations and changes
 * no finite value).
 */
// @ts-ignore: decorator
@inline function prep(dt: i32, r: v128): v128 {
  if (dt == F16) return f16High(r);
  if (dt == F16_FINITE || dt == F16_SCALED) return f16HighFinite(r);
  return r;
}

/** Weights 0..3 of the eight at p, as float32 (`r` = raw(p), `s` = prep(dt, r)). */
// @ts-ignore: decorator
@inline function wLo(dt: i32, r: v128, s: v128): v128 {
  if (dt == F16_SCALED) return f16ScaledLo(i16x8.shl(r, 13), s);
  return floatLo(dt, r, s);
}

/** Weights 4..7 of the eight at p, as float32. */
// @ts-ignore: decorator
@inline function wHi(dt: i32, p: usize, r: v128, s: v128): v128 {
  if (dt == F16_SCALED) return f16ScaledHi(i16x8.shl(r, 13), s);
  return floatHi(dt, p, r, s);
}

/**
 * out[r .. r+3] = rows r .. r+3 of w times the token row x (out and x already at the token). One
 * accumulator per row (madd2 sums a vector's two halves first), so nothing spills to the stack.
 */
// @ts-ignore: decorator
@inline function rows4x1(dt: i32, out: usize, x: usize, w: usize, inF: u32, r: u32): void {
  const eb = elementBytes(dt);
  const rowBytes = <usize>inF * eb;
  const w0 = w + <usize>r * rowBytes;
  const w1 = w0 + rowBytes;
  const w2 = w1 + rowBytes;
  const w3 = w2 + rowBytes;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const k8 = inF & ~7;
  for (let k: u32 = 0; k < k8; k += 8) {
    const xp = x + (<usize>k << 2);
    const xa = v128.load(xp);
    const xb = v128.load(xp, 16);
    const off = <usize>k * eb;
    const r0 = raw(w0 + off), s0 = prep(dt, r0);
    a0 = madd2(wLo(dt, r0, s0), xa, wHi(dt, w0 + off, r0, s0), xb, a0);
    const r1 = raw(w1 + off), s1 = prep(dt, r1);
    a1 = madd2(wLo(dt, r1, s1), xa, wHi(dt, w1 + off, r1, s1), xb, a1);
    const r2 = raw(w2 + off), s2 = prep(dt, r2);
    a2 = madd2(wLo(dt, r2, s2), xa, wHi(dt, w2 + off, r2, s2), xb, a2);
    const r3 = raw(w3 + off), s3 = prep(dt, r3);
    a3 = madd2(wLo(dt, r3, s3), xa, wHi(dt, w3 + off, r3, s3), xb, a3);
  }
  let d0 = hsum(a0), d1 = hsum(a1);
  let d2 = hsum(a2), d3 = hsum(a3);
  for (let k = k8; k < inF; k++) {
    const xk = load<f32>(x + (<usize>k << 2));
    const off = <usize>k * eb;
    d0 += floatScalar(dt, w0 + off) * xk;
    d1 += floatScalar(dt, w1 + off) * xk;
    d2 += floatScalar(dt, w2 + off) * xk;
    d3 += floatScalar(dt, w3 + off) * xk;
  }
  const o = out + (<usize>r << 2);
  store<f32>(o, d0);
  store<f32>(o, d1, 4);
  store<f32>(o, d2, 8);
  store<f32>(o, d3, 12);
}

/**
 * Decode rows [rowStart, rowStart + 8 gap) by rows8x1 tiles of rows g, g + gap, ..., g + 7 gap, gap =
 * (rowEnd - rowStart) / 8: tile g + 1 reads each of its eight rows right after tile g's, so a thread
 * reads eight long sequential streams instead of starting eight new ones every 8 rows (a 2048-wide
 * bf16 row is 4 KiB, short for the hardware prefetcher: measured 1.5x slower per byte than long rows).
 * @returns the first row left (fewer than 8 remain)
 */
// @ts-ignore: decorator
@inline function decodeRows8(dt: i32, out: usize, x: usize, w: usize, inF: u32, rowStart: u32, rowEnd: u32): u32 {
  const gap = (rowEnd - rowStart) >> 3;
  for (let g: u32 = 0; g < gap; g++) rows8x1(dt, out, x, w, inF, rowStart + g, gap);
  return rowStart + gap * 8;
}

/**
 * out[r + i gap] = row r + i gap of w times the token row x, i = 0..7: decode, eight weight streams
 * at once (any dt, F16_SCALED included). The rows are `gap` apart so that the next tile (r + 1)
 * continues each stream where this one ended (see decodeRows8).
 */
// @ts-ignore: decorator
@inline function rows8x1(dt: i32, out: usize, x: usize, w: usize, inF: u32, r: u32, gap: u32): void {
  const eb = elementBytes(dt);
  const rowBytes = <usize>gap * <usize>inF * eb; // bytes between the tile's rows
  const w0 = w + <usize>r * <usize>inF * eb;
  const w4 = w0 + rowBytes * 4;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  const k8 = inF & ~7;
  for (let k: u32 = 0; k < k8; k += 8) {
    const xp = x + (<usize>k << 2);
    const xa = dt == F16_SCALED ? f32x4.mul(v128.load(xp), f16Scale()) : v128.load(xp);
    const xb = dt == F16_SCALED ? f32x4.mul(v128.load(xp, 16), f16Scale()) : v128.load(xp, 16);
    const p0 = w0 + <usize>k * eb;
    const p4 = w4 + <usize>k * eb;
    let q = p0, rr = raw(q), ss = prep(dt, rr);
    a0 = madd2(wLo(dt, rr, ss), xa, wHi(dt, q, rr, ss), xb, a0);
    q = p0 + rowBytes; rr = raw(q); ss = prep(dt, rr);
    a1 = madd2(wLo(dt, rr, ss), xa, wHi(dt, q, rr, ss), xb, a1);
    q = p0 + rowBytes * 2; rr = raw(q); ss = prep(dt, rr);
    a2 = madd2(wLo(dt, rr, ss), xa, wHi(dt, q, rr, ss), xb, a2);
    q = p4 - rowBytes; rr = raw(q); ss = prep(dt, rr);
    a3 = madd2(wLo(dt, rr, ss), xa, wHi(dt, q, rr, ss), xb, a3);
    q = p4; rr = raw(q); ss = prep(dt, rr);
    a4 = madd2(wLo(dt, rr, ss), xa, wHi(dt, q, rr, ss), xb, a4);
    q = p4 + rowBytes; rr = raw(q); ss = prep(dt, rr);
    a5 = madd2(wLo(dt, rr, ss), xa, wHi(dt, q, rr, ss), xb, a5);
    q = p4 + rowBytes * 2; rr = raw(q); ss = prep(dt, rr);
    a6 = madd2(wLo(dt, rr, ss), xa, wHi(dt, q, rr, ss), xb, a6);
    q = p4 + rowBytes * 3; rr = raw(q); ss = prep(dt, rr);
    a7 = madd2(wLo(dt, rr, ss), xa, wHi(dt, q, rr, ss), xb, a7);
  }
  const o = out + (<usize>r << 2), step = <usize>gap << 2;
  storeLanes(o, step, hsum4(a0, a1, a2, a3));
  storeLanes(o + step * 4, step, hsum4(a4, a5, a6, a7));
  for (let k = k8; k < inF; k++) {
    const xk = load<f32>(x + (<usize>k << 2));
    for (let i: u32 = 0; i < 8; i++) {
      const oi = o + <usize>i * step;
      store<f32>(oi, load<f32>(oi) + floatScalar(dt, w0 + <usize>i * rowBytes + <usize>k * eb) * xk);
    }
  }
}

/**
 * Rows r .. r+3 of w times tokens t and t+1 of x: eight accumulators, each weight vector loaded and
 * widened once for both tokens. `out`, `x` point at token 0.
 */
// @ts-ignore: decorator
@inline function rows4x2(dt: i32, out: usize, x: usize, w: usize, inF: u32, outF: u32, r: u32, t: u32): void {
  const eb = elementBytes(dt);
  const rowBytes = <usize>inF * eb;
  const w0 = w + <usize>r * rowBytes;
  const w1 = w0 + rowBytes;
  const w2 = w1 + rowBytes;
  const w3 = w2 + rowBytes;
  const x0 = x + ((<usize>t * inF) << 2);
  const x1 = x0 + (<usize>inF << 2);
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const k8 = inF & ~7;
  for (let k: u32 = 0; k < k8; k += 8) {
    const xo = <usize>k << 2;
    const x0a = v128.load(x0 + xo), x0b = v128.load(x0 + xo, 16);
    const x1a = v128.load(x1 + xo), x1b = v128.load(x1 + xo, 16);
    const off = <usize>k * eb;
    const r0 = raw(w0 + off), s0 = prep(dt, r0);
    const lo0 = wLo(dt, r0, s0), hi0 = wHi(dt, w0 + off, r0, s0);
    c00 = madd2(lo0, x0a, hi0, x0b, c00);
    c01 = madd2(lo0, x1a, hi0, x1b, c01);
    const r1 = raw(w1 + off), s1 = prep(dt, r1);
    const lo1 = wLo(dt, r1, s1), hi1 = wHi(dt, w1 + off, r1, s1);
    c10 = madd2(lo1, x0a, hi1, x0b, c10);
    c11 = madd2(lo1, x1a, hi1, x1b, c11);
    const r2 = raw(w2 + off), s2 = prep(dt, r2);
    const lo2 = wLo(dt, r2, s2), hi2 = wHi(dt, w2 + off, r2, s2);
    c20 = madd2(lo2, x0a, hi2, x0b, c20);
    c21 = madd2(lo2, x1a, hi2, x1b, c21);
    const r3 = raw(w3 + off), s3 = prep(dt, r3);
    const lo3 = wLo(dt, r3, s3), hi3 = wHi(dt, w3 + off, r3, s3);
    c30 = madd2(lo3, x0a, hi3, x0b, c30);
    c31 = madd2(lo3, x1a, hi3, x1b, c31);
  }
  let d00 = hsum(c00), d01 = hsum(c01), d10 = hsum(c10), d11 = hsum(c11);
  let d20 = hsum(c20), d21 = hsum(c21), d30 = hsum(c30), d31 = hsum(c31);
  for (let k = k8; k < inF; k++) {
    const xo = <usize>k << 2;
    const xk0 = load<f32>(x0 + xo), xk1 = load<f32>(x1 + xo);
    const off = <usize>k * eb;
    const v0 = floatScalar(dt, w0 + off), v1 = floatScalar(dt, w1 + off);
    const v2 = floatScalar(dt, w2 + off), v3 = floatScalar(dt, w3 + off);
    d00 += v0 * xk0; d01 += v0 * xk1;
    d10 += v1 * xk0; d11 += v1 * xk1;
    d20 += v2 * xk0; d21 += v2 * xk1;
    d30 += v3 * xk0; d31 += v3 * xk1;
  }
  const o0 = out + ((<usize>t * outF + r) << 2);
  const o1 = o0 + (<usize>outF << 2);
  store<f32>(o0, d00); store<f32>(o0, d10, 4); store<f32>(o0, d20, 8); store<f32>(o0, d30, 12);
  store<f32>(o1, d01); store<f32>(o1, d11, 4); store<f32>(o1, d21, 8); store<f32>(o1, d31, 12);
}

/**
 * Rows r, r+1 of w times tokens t .. t+3 of x: eight accumulators; each weight vector is loaded and
 * widened once for four tokens (what makes 16-bit prefill nearly as fast as float32).
 */
// @ts-ignore: decorator
@inline function rows2x4(dt: i32, out: usize, x: usize, w: usize, inF: u32, outF: u32, r: u32, t: u32): void {
  const eb = elementBytes(dt);
  const rowBytes = <usize>inF * eb;
  const w0 = w + <usize>r * rowBytes;
  const w1 = w0 + rowBytes;
  const xRow = <usize>inF << 2;
  const x0 = x + <usize>t * xRow;
  const x1 = x0 + xRow, x2 = x1 + xRow, x3 = x2 + xRow;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  const k8 = inF & ~7;
  for (let k: u32 = 0; k < k8; k += 8) {
    const xo = <usize>k << 2;
    const off = <usize>k * eb;
    const r0 = raw(w0 + off), s0 = prep(dt, r0);
    const lo0 = wLo(dt, r0, s0), hi0 = wHi(dt, w0 + off, r0, s0);
    const r1 = raw(w1 + off), s1 = prep(dt, r1);
    const lo1 = wLo(dt, r1, s1), hi1 = wHi(dt, w1 + off, r1, s1);
    let xa = v128.load(x0 + xo), xb = v128.load(x0 + xo, 16);
    c00 = madd2(lo0, xa, hi0, xb, c00);
    c10 = madd2(lo1, xa, hi1, xb, c10);
    xa = v128.load(x1 + xo); xb = v128.load(x1 + xo, 16);
    c01 = madd2(lo0, xa, hi0, xb, c01);
    c11 = madd2(lo1, xa, hi1, xb, c11);
    xa = v128.load(x2 + xo); xb = v128.load(x2 + xo, 16);
    c02 = madd2(lo0, xa, hi0, xb, c02);
    c12 = madd2(lo1, xa, hi1, xb, c12);
    xa = v128.load(x3 + xo); xb = v128.load(x3 + xo, 16);
    c03 = madd2(lo0, xa, hi0, xb, c03);
    c13 = madd2(lo1, xa, hi1, xb, c13);
  }
  let d00 = hsum(c00), d01 = hsum(c01), d02 = hsum(c02), d03 = hsum(c03);
  let d10 = hsum(c10), d11 = hsum(c11), d12 = hsum(c12), d13 = hsum(c13);
  for (let k = k8; k < inF; k++) {
    const xo = <usize>k << 2;
    const off = <usize>k * eb;
    const v0 = floatScalar(dt, w0 + off), v1 = floatScalar(dt, w1 + off);
    const xk0 = load<f32>(x0 + xo), xk1 = load<f32>(x1 + xo), xk2 = load<f32>(x2 + xo), xk3 = load<f32>(x3 + xo);
    d00 += v0 * xk0; d01 += v0 * xk1; d02 += v0 * xk2; d03 += v0 * xk3;
    d10 += v1 * xk0; d11 += v1 * xk1; d12 += v1 * xk2; d13 += v1 * xk3;
  }
  const oRow = <usize>outF << 2;
  const o0 = out + ((<usize>t * outF + r) << 2);
  const o1 = o0 + oRow, o2 = o1 + oRow, o3 = o2 + oRow;
  store<f32>(o0, d00); store<f32>(o0, d10, 4);
  store<f32>(o1, d01); store<f32>(o1, d11, 4);
  store<f32>(o2, d02); store<f32>(o2, d12, 4);
  store<f32>(o3, d03); store<f32>(o3, d13, 4);
}

/** Four weights at p as float32 (f32 or bf16; f16 uses the eight-wide path). */
// @ts-ignore: decorator
@inline function w4(dt: i32, p: usize): v128 {
  if (dt == F32) return v128.load(p);
  return i32x4.shl(v128.load16x4_u(p), 16);
}

/**
 * Rows r, r+1 of w times tokens t .. t+3 of x, four inputs per step (f32, bf16): eight accumulators
 * plus two weight and four token vectors fit the registers (an eight-input step spills: the code
 * generator loads everything of a step first).
 */
// @ts-ignore: decorator
@inline function rows2x4n(dt: i32, out: usize, x: usize, w: usize, inF: u32, outF: u32, r: u32, t: u32): void {
  const eb = elementBytes(dt);
  const rowBytes = <usize>inF * eb;
  const w0 = w + <usize>r * rowBytes;
  const w1 = w0 + rowBytes;
  const xRow = <usize>inF << 2;
  const x0 = x + <usize>t * xRow;
  const x1 = x0 + xRow, x2 = x1 + xRow, x3 = x2 + xRow;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  const k4 = inF & ~3;
  for (let k: u32 = 0; k < k4; k += 4) {
    const xo = <usize>k << 2;
    const off = <usize>k * eb;
    const v0 = w4(dt, w0 + off), v1 = w4(dt, w1 + off);
    let xv = v128.load(x0 + xo);
    c00 = madd(v0, xv, c00);
    c10 = madd(v1, xv, c10);
    xv = v128.load(x1 + xo);
    c01 = madd(v0, xv, c01);
    c11 = madd(v1, xv, c11);
    xv = v128.load(x2 + xo);
    c02 = madd(v0, xv, c02);
    c12 = madd(v1, xv, c12);
    xv = v128.load(x3 + xo);
    c03 = madd(v0, xv, c03);
    c13 = madd(v1, xv, c13);
  }
  let d00 = hsum(c00), d01 = hsum(c01), d02 = hsum(c02), d03 = hsum(c03);
  let d10 = hsum(c10), d11 = hsum(c11), d12 = hsum(c12), d13 = hsum(c13);
  for (let k = k4; k < inF; k++) {
    const xo = <usize>k << 2;
    const off = <usize>k * eb;
    const v0 = floatScalar(dt, w0 + off), v1 = floatScalar(dt, w1 + off);
    const xk0 = load<f32>(x0 + xo), xk1 = load<f32>(x1 + xo), xk2 = load<f32>(x2 + xo), xk3 = load<f32>(x3 + xo);
    d00 += v0 * xk0; d01 += v0 * xk1; d02 += v0 * xk2; d03 += v0 * xk3;
    d10 += v1 * xk0; d11 += v1 * xk1; d12 += v1 * xk2; d13 += v1 * xk3;
  }
  const oRow = <usize>outF << 2;
  const o0 = out + ((<usize>t * outF + r) << 2);
  const o1 = o0 + oRow, o2 = o1 + oRow, o3 = o2 + oRow;
  store<f32>(o0, d00); store<f32>(o0, d10, 4);
  store<f32>(o1, d01); store<f32>(o1, d11, 4);
  store<f32>(o2, d02); store<f32>(o2, d12, 4);
  store<f32>(o3, d03); store<f32>(o3, d13, 4);
}

/** out[r] = row r of w times the token row x (out and x already at the token): the row tails. */
// @ts-ignore: decorator
@inline function rows1x1(dt: i32, out: usize, x: usize, w: usize, inF: u32, r: u32): void {
  const eb = elementBytes(dt);
  const w0 = w + <usize>r * <usize>inF * eb;
  let a = f32x4.splat(0), b = f32x4.splat(0);
  const k8 = inF & ~7;
  for (let k: u32 = 0; k < k8; k += 8) {
    const xp = x + (<usize>k << 2);
    const off = <usize>k * eb;
    const r0 = raw(w0 + off), s0 = prep(dt, r0);
    a = madd(wLo(dt, r0, s0), v128.load(xp), a);
    b = madd(wHi(dt, w0 + off, r0, s0), v128.load(xp, 16), b);
  }
  let d = hsum(f32x4.add(a, b));
  for (let k = k8; k < inF; k++) d += floatScalar(dt, w0 + <usize>k * eb) * load<f32>(x + (<usize>k << 2));
  store<f32>(out + (<usize>r << 2), d);
}

/** The slice [rowStart, rowEnd) of out (nTokens, outF) = x (nTokens, inF) @ w^T for dtype dt. */
// @ts-ignore: decorator
@inline function matmul(dt: i32, out: usize, x: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  let r = rowStart;
  if (nTokens >= 4) {
    // Prefill: pairs of rows by blocks of four tokens, so each widening (the costly part for f16)
    // serves four tokens; leftover tokens one dot at a time. (Measured ~6% faster than 4 x 2 tiles
    // for f32 and bf16 too.)
    const t4 = nTokens & ~3;
    for (; r + 2 <= rowEnd; r += 2) {
      if (dt == F16 || dt == F16_FINITE) for (let t: u32 = 0; t < t4; t += 4) rows2x4(dt, out, x, w, inF, outF, r, t);
      else for (let t: u32 = 0; t < t4; t += 4) rows2x4n(dt, out, x, w, inF, outF, r, t);
      for (let t = t4; t < nTokens; t++) {
        rows1x1(dt, out + ((<usize>t * outF) << 2), x + ((<usize>t * inF) << 2), w, inF, r);
        rows1x1(dt, out + ((<usize>t * outF) << 2), x + ((<usize>t * inF) << 2), w, inF, r + 1);
      }
    }
  }
  if (nTokens == 1) r = decodeRows8(dt, out, x, w, inF, r, rowEnd);
  for (; r + 4 <= rowEnd; r += 4) {
    let t: u32 = 0;
    for (; t + 2 <= nTokens; t += 2) rows4x2(dt, out, x, w, inF, outF, r, t);
    if (t < nTokens) rows4x1(dt, out + ((<usize>t * outF) << 2), x + ((<usize>t * inF) << 2), w, inF, r);
  }
  for (; r < rowEnd; r++) {
    for (let t: u32 = 0; t < nTokens; t++) rows1x1(dt, out + ((<usize>t * outF) << 2), x + ((<usize>t * inF) << 2), w, inF, r);
  }
}

/** out (nTokens, outF) rows [rowStart, rowEnd) = x (nTokens, inF) @ w^T, w float32 (outF, inF). */
export function matmul_f32(out: usize, x: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmul(F32, out, x, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** As matmul_f32 with w bfloat16 bits (outF, inF). */
export function matmul_bf16(out: usize, x: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmul(BF16, out, x, w, nTokens, inF, outF, rowStart, rowEnd);
}

/**
 * Whether x[0 .. n) times 2^112 is exact in float32 for every element: |x| < 2^16, or infinity or
 * NaN (which stay what they are). Then a product (h's value * 2^-112) * (x * 2^112) is the same real
 * number as h's value * x, so it rounds to the same float32: rows8x1(F16_SCALED) gives rows8x1(F16)'s bits.
 */
// @ts-ignore: decorator
@inline function f16ScalableX(x: usize, n: u32): bool {
  let bad = i32x4.splat(0);
  const n4 = n & ~3;
  for (let k: u32 = 0; k < n4; k += 4) {
    const a = f32x4.abs(v128.load(x + (<usize>k << 2)));
    bad = v128.or(bad, v128.and(f32x4.ge(a, f32x4.splat(65536)), f32x4.lt(a, f32x4.splat(Infinity))));
  }
  if (v128.any_true(bad)) return false;
  for (let k = n4; k < n; k++) {
    const a = Mathf.abs(load<f32>(x + (<usize>k << 2)));
    if (a >= 65536 && a < Infinity) return false;
  }
  return true;
}

/** As matmul_f32 with w IEEE half bits (outF, inF). */
export function matmul_f16(out: usize, x: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmul(F16, out, x, w, nTokens, inF, outF, rowStart, rowEnd);
}

/**
 * matmul_f16 for weights the caller knows hold no infinity or NaN (no half with exponent 31; the
 * backend checks each weight once): the same result bit for bit, decode through rows8x1(F16_SCALED) (about
 * bf16's speed) unless an element of the token is at least 2^16 in magnitude.
 */
export function matmul_f16_finite(out: usize, x: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  if (nTokens == 1 && f16ScalableX(x, inF)) {
    const r = decodeRows8(F16_SCALED, out, x, w, inF, rowStart, rowEnd);
    matmul(F16_FINITE, out, x, w, nTokens, inF, outF, r, rowEnd);
    return;
  }
  matmul(F16_FINITE, out, x, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** Test hook: n finite halves at src to their values times 2^-112 at dst (rows8x1(F16_SCALED)'s widening; n a multiple of 8). */
export function widen_f16_scaled(dst: usize, src: usize, n: u32): void {
  for (let i: u32 = 0; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const low = i16x8.shl(h, 13), high = f16HighFinite(h);
    v128.store(dst + (<usize>i << 2), f16ScaledLo(low, high));
    v128.store(dst + (<usize>i << 2), f16ScaledHi(low, high), 16);
  }
}

/** Test hook: widen n halves at src to float32 at dst with the vector path (n a multiple of 8). */
export function widen_f16(dst: usize, src: usize, n: u32): void {
  for (let i: u32 = 0; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const high = f16High(h);
    v128.store(dst + (<usize>i << 2), f16Lo(h, high));
    v128.store(dst + (<usize>i << 2), f16Hi(h, high), 16);
  }
}

/** Test hook: widen n halves at src to float32 at dst with the scalar (tail) path. */
export function widen_f16_scalar(dst: usize, src: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), f16ToF32(<u32>load<u16>(src + (<usize>i << 1))));
}
