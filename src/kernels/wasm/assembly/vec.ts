// Vector helpers shared by the WebAssembly kernels (AssemblyScript, compiled by scripts/build-wasm.mjs;
// not part of the TypeScript build): multiply-add (fused in the relaxed-SIMD build), horizontal sums,
// the exact 16-bit float -> float32 widenings, round-half-away-from-zero, and a float32 exp. Every
// helper is inlined; nothing here allocates or touches memory other than through its arguments.
// The widenings follow src/tensor/float16.ts (bf16ToF32, f16ToF32) bit for bit; exp follows Cephes'
// expf (range reduction by ln 2, degree-5 polynomial), accurate to about 2 ulp.

/** 2^112 as float32: turns float32 bits holding a half's exponent/mantissa into the half's value. */
export const TWO_112: f32 = reinterpret<f32>(<u32>(112 + 127) << 23);

/**
 * The f16 widening's vector constants, as static data (16-byte aligned, below the host's allocations:
 * module.ts KERNEL_RESERVED_BYTES) read with one load at each use. Not v128.const: V8 12+ (Node 22+)
 * rebuilds every vector constant used in a loop at each use (movq, movq, punpcklqdq: three or four
 * instructions), which made the f16 widening half as fast on Node 24 as on Node 20; a global v128
 * instead is slow on Node 20. Rows: i16 0x8fff, i16 0x7c00, i16 0x7f80, f32 2^112.
 */
const F16_CONSTS: usize = memory.data<u32>([
  0x8fff8fff, 0x8fff8fff, 0x8fff8fff, 0x8fff8fff,
  0x7c007c00, 0x7c007c00, 0x7c007c00, 0x7c007c00,
  0x7f807f80, 0x7f807f80, 0x7f807f80, 0x7f807f80,
  (112 + 127) << 23, (112 + 127) << 23, (112 + 127) << 23, (112 + 127) << 23,
], 16);

/** acc + a * b: fused (relaxed_madd) in the relaxed-SIMD build, a separate multiply and add otherwise. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(f32x4.mul(a, b), acc);
}

/**
 * acc + (a * x + b * y): the two products are summed before they reach the accumulator, so a tile's
 * accumulator chains carry one add per step (fused multiply-add latency would otherwise bound them).
 */
// @ts-ignore: decorator
@inline export function madd2(a: v128, x: v128, b: v128, y: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.add(acc, f32x4.relaxed_madd(b, y, f32x4.mul(a, x)));
  return f32x4.add(acc, f32x4.add(f32x4.mul(a, x), f32x4.mul(b, y)));
}

/** max(x, 0) per int8 lane: the positive part of int8 quants -127..127 (0..127, a 7-bit operand). */
// @ts-ignore: decorator
@inline export function i8Pos(x: v128): v128 {
  return i8x16.max_s(x, i8x16.splat(0));
}

/** max(-x, 0) per int8 lane: the negative part of int8 quants -127..127 (0..127, a 7-bit operand). */
// @ts-ignore: decorator
@inline export function i8Neg(x: v128): v128 {
  return i8x16.max_s(i8x16.sub(i8x16.splat(0), x), i8x16.splat(0));
}

/**
 * Four exact int32 partial sums whose total is the dot product of 16 int8 lanes w and x, x given
 * as xPos = i8Pos(x) and xNeg = i8Neg(x), w any int8 (-128 included). Relaxed SIMD's 8-bit dot is
 * implementation-defined only when its second operand has the top bit set; both parts are 0..127,
 * so i16x8.relaxed_dot_i8x16_i7x16_s (one pmaddubsw on x86) is exact on every engine, as is the
 * wrapping i16 difference, whose true value |w0 x0 + w1 x1| <= 2 * 128 * 127 fits int16. Why not
 * i32x4.relaxed_dot_i8x16_i7x16_add_s: Node 20's V8 gives wrong sums for it (measured: Node 24
 * and the plain path agree), and where the CPU has no AVX-VNNI (V8 lowers it to pmaddubsw + pmaddwd +
 * paddd) two of them cost more than this. The plain-SIMD build widens to int16 (dot_i16x8_s).
 */
// @ts-ignore: decorator
@inline export function dotI8(w: v128, xPos: v128, xNeg: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const d = i16x8.sub(i16x8.relaxed_dot_i8x16_i7x16_s(w, xPos), i16x8.relaxed_dot_i8x16_i7x16_s(w, xNeg));
    return i32x4.extadd_pairwise_i16x8_s(d);
  }
  const x = i8x16.sub(xPos, xNeg);
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), i16x8.extend_low_i8x16_s(x)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), i16x8.extend_high_i8x16_s(x)),
  );
}

/** The four float32 lanes of v to out, out + step, out + 2 step, out + 3 step (a tile of rows `step` bytes of output apart). */
// @ts-ignore: decorator
@inline export function storeLanes(out: usize, step: usize, v: v128): void {
  store<f32>(out, f32x4.extract_lane(v, 0));
  store<f32>(out + step, f32x4.extract_lane(v, 1));
  store<f32>(out + step * 2, f32x4.extract_lane(v, 2));
  store<f32>(out + step * 3, f32x4.extract_lane(v, 3));
}

/** Sum of the four float32 lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, v128.shuffle<f32>(s, s, 1, 0, 3, 2)), 0);
}

/** [sum(a), sum(b), sum(c), sum(d)]: four horizontal sums at once, each lane summed as hsum does. */
// @ts-ignore: decorator
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  // hsum: (v0 + v2) + (v1 + v3). Pair lanes 0,2 and 1,3 of each vector, then add the pairs.
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 1, 4, 5), v128.shuffle<f32>(a, b, 2, 3, 6, 7)); // a0+a2 a1+a3 b0+b2 b1+b3
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 1, 4, 5), v128.shuffle<f32>(c, d, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 2, 4, 6), v128.shuffle<f32>(ab, cd, 1, 3, 5, 7));
}

/** Largest of the four float32 lanes. */
// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  const s = f32x4.max(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.max(s, v128.shuffle<f32>(s, s, 1, 0, 3, 2)), 0);
}

/**
 * The upper 16 bits of the float32 patterns of eight halves (i16x8 in, i16x8 out): sign, then the
 * half's exponent and top 7 mantissa bits shifted down 3, so that with the low 16 bits (the half's
 * last 3 mantissa bits, `h << 13`) the pattern times 2^112 is the half's value: exact for normals
 * (exponent rebias) and subnormals (a float32 subnormal scaled by a power of two). Infinity and NaN
 * (exponent 31) get the all-ones float32 exponent, so they stay infinity and NaN.
 */
// @ts-ignore: decorator
@inline export function f16High(h: v128): v128 {
  // Arithmetic shift: the sign lands in bits 15..12; keep bit 15 and the shifted exponent/mantissa.
  const bits = v128.and(i16x8.shr_s(h, 3), v128.load(F16_CONSTS));
  const exp = v128.load(F16_CONSTS, 16);
  const special = i16x8.eq(v128.and(h, exp), exp);
  return v128.or(bits, v128.and(special, v128.load(F16_CONSTS, 32)));
}

/** float32 values of halves 0..3 of `h`, given `high = f16High(h)`. */
// @ts-ignore: decorator
@inline export function f16Lo(h: v128, high: v128): v128 {
  return f32x4.mul(v128.shuffle<i16>(i16x8.shl(h, 13), high, 0, 8, 1, 9, 2, 10, 3, 11), v128.load(F16_CONSTS, 48));
}

/** float32 values of halves 4..7 of `h`, given `high = f16High(h)`. */
// @ts-ignore: decorator
@inline export function f16Hi(h: v128, high: v128): v128 {
  return f32x4.mul(v128.shuffle<i16>(i16x8.shl(h, 13), high, 4, 12, 5, 13, 6, 14, 7, 15), v128.load(F16_CONSTS, 48));
}

/**
 * f16High for halves that are not infinity or NaN, in two operations: the sign and the half's
 * exponent and top mantissa bits, without the special-exponent fix. The float32 patterns this and
 * f16Scaled form are each half's value times 2^-112, exactly (a half's exponent field read as a
 * float32 one, its mantissa as the top of a float32 mantissa; subnormal halves become subnormal
 * float32s of the same digits); a half with exponent 31 becomes a finite number there, so it serves
 * only weights known to hold no infinity or NaN.
 */
// @ts-ignore: decorator
@inline export function f16HighFinite(h: v128): v128 {
  return v128.and(i16x8.shr_s(h, 3), v128.load(F16_CONSTS));
}

/** Halves 0..3 (`upper` false) or 4..7 of `h` times 2^-112 as float32, given `low = h << 13`, `high = f16HighFinite(h)`. */
// @ts-ignore: decorator
@inline export function f16ScaledLo(low: v128, high: v128): v128 {
  return v128.shuffle<i16>(low, high, 0, 8, 1, 9, 2, 10, 3, 11);
}

/** As f16ScaledLo for halves 4..7. */
// @ts-ignore: decorator
@inline export function f16ScaledHi(low: v128, high: v128): v128 {
  return v128.shuffle<i16>(low, high, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** 2^112 in every float32 lane (the factor between f16Scaled* values and the halves' values). */
// @ts-ignore: decorator
@inline export function f16Scale(): v128 {
  return v128.load(F16_CONSTS, 48);
}

/** float32 values of bfloat16s 0..3 of `h` (the bits shifted up 16). */
// @ts-ignore: decorator
@inline export function bf16Lo(h: v128): v128 {
  return v128.shuffle<i16>(i16x8.splat(0), h, 0, 8, 1, 9, 2, 10, 3, 11);
}

/** float32 values of bfloat16s 4..7 of `h`. */
// @ts-ignore: decorator
@inline export function bf16Hi(h: v128): v128 {
  return v128.shuffle<i16>(i16x8.splat(0), h, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** float32 value of half bits `h` (scalar twin of f16High/f16Lo). */
// @ts-ignore: decorator
@inline export function f16ToF32(h: u32): f32 {
  let bits = ((h & 0x8000) << 16) | ((h & 0x7fff) << 13);
  if ((h & 0x7c00) == 0x7c00) bits |= 0x7f800000;
  return reinterpret<f32>(bits) * TWO_112;
}

/** float32 value of bfloat16 bits `h`. */
// @ts-ignore: decorator
@inline export function bf16ToF32(h: u32): f32 {
  return reinterpret<f32>(h << 16);
}

/**
 * Half bits of a float32 (nearest, ties to even; NaN stays NaN): src/tensor/float16.ts f32ToF16,
 * operation for operation.
 */
export function f32ToF16(value: f32): u32 {
  const x = reinterpret<u32>(value);
  const sign = (x >>> 16) & 0x8000;
  const absBits = x & 0x7fffffff;
  if (absBits > 0x7f800000) return sign | 0x7e00;
  if (absBits >= 0x477ff000) return sign | 0x7c00;
  if (absBits < 0x38800000) {
    // Subnormal half (or zero): the value in units of 2^-24 (exact in float64), to nearest even.
    const a = Math.abs(<f64>value) * 16777216.0;
    let q = Math.floor(a);
    const r = a - q;
    if (r > 0.5 || (r == 0.5 && (<u32>q & 1) == 1)) q += 1;
    return sign | <u32>q;
  }
  const rebased = absBits - ((127 - 15) << 23);
  const rounded = rebased + 0xfff + ((rebased >>> 13) & 1);
  return sign | (rounded >>> 13);
}

/** Round each lane to the nearest integer, ties away from zero (C's roundf). */
// @ts-ignore: decorator
@inline export function roundAway(v: v128): v128 {
  const t = f32x4.trunc(v);
  const away = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5)); // v - t is exact
  const step = v128.or(v128.and(v, f32x4.splat(-0.0)), f32x4.splat(1.0)); // +-1 with v's sign
  return f32x4.add(t, v128.and(away, step));
}

// Cephes expf constants (cephes/single/expf.c).
const EXP_MAX: f32 = 88.3762626647949;
/** Below this exp underflows float32's normal range; the result is flushed to 0. */
const EXP_MIN: f32 = -87.3365447505531;
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

/** Static data rows (4 lanes each, 16-byte aligned) of exp4's constants; as F16_CONSTS, not v128.const. */
const EXP_CONSTS: usize = memory.data<f32>([
  EXP_MAX, EXP_MAX, EXP_MAX, EXP_MAX,
  EXP_MIN, EXP_MIN, EXP_MIN, EXP_MIN,
  LOG2E, LOG2E, LOG2E, LOG2E,
  LN2_HI, LN2_HI, LN2_HI, LN2_HI,
  LN2_LO, LN2_LO, LN2_LO, LN2_LO,
  1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4,
  1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3,
  8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3,
  4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2,
  1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1,
  5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1,
  1.0, 1.0, 1.0, 1.0,
], 16);
/** i32x4 127 (the float32 exponent bias), as EXP_CONSTS. */
const EXP_BIAS: usize = memory.data<i32>([127, 127, 127, 127], 16);

/** Row i of EXP_CONSTS. */
// @ts-ignore: decorator
@inline function ek(i: usize): v128 {
  return v128.load(EXP_CONSTS + (i << 4));
}

/** e^x per lane (about 2 ulp; 0 below -87.34, clamped to e^88.38 above 88.38; NaN stays NaN). */
// @ts-ignore: decorator
@inline export function exp4(v: v128): v128 {
  // pmin/pmax (one instruction each on x86) keep a NaN lane NaN.
  const x0 = f32x4.pmin(v, ek(0));
  const x1 = f32x4.pmax(x0, ek(1));
  const n = f32x4.nearest(f32x4.mul(x1, ek(2)));
  const r = f32x4.sub(f32x4.sub(x1, f32x4.mul(n, ek(3))), f32x4.mul(n, ek(4)));
  let p = ek(5);
  p = f32x4.add(f32x4.mul(p, r), ek(6));
  p = f32x4.add(f32x4.mul(p, r), ek(7));
  p = f32x4.add(f32x4.mul(p, r), ek(8));
  p = f32x4.add(f32x4.mul(p, r), ek(9));
  p = f32x4.add(f32x4.mul(p, r), ek(10));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), ek(11));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), v128.load(EXP_BIAS)), 23);
  const result = f32x4.mul(p, scale);
  return v128.andnot(result, f32x4.lt(v, ek(1))); // underflow -> 0; NaN stays NaN
}

/** Scalar e^x through the same approximation as exp4 (so tails match the vector lanes). */
// @ts-ignore: decorator
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}
