// The pieces the 32-weight block formats' kernels share (legacy-quants.ts and the prefill with
// scratch, legacy-prefill.ts): the format constants, block sizes, the unpacking of a block's quants
// and the transposed sum of four int32 vectors. Block layouts: see legacy-quants.ts.

/** Weights per block (QK4_0). */
export const QK: u32 = 32;
/** The weight formats, as the `kind` argument of the kernels (a constant at every call). */
export const Q4_0: u32 = 0, Q5_0: u32 = 1, Q4_1: u32 = 2, Q5_1: u32 = 3;

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

/** Bytes of a weight block of `kind`. */
// @ts-ignore: decorator
@inline export function wBytes(kind: u32): usize {
  return kind == Q4_0 ? 18 : kind == Q5_0 ? 22 : kind == Q4_1 ? 20 : 24;
}

/** The 16 bytes of nibbles of the `kind` block at pw (after d, m and qh): weights 0..15 low, 16..31 high. */
// @ts-ignore: decorator
@inline export function nibbles(kind: u32, pw: usize): v128 {
  return kind == Q4_0 ? v128.load(pw, 2) : kind == Q5_0 ? v128.load(pw, 6) : kind == Q4_1 ? v128.load(pw, 4) : v128.load(pw, 8);
}

/** The fifth bits' word qh of a Q5_0/Q5_1 block at pw in every int32 lane (zero for Q4_0/Q4_1, which have none). */
// @ts-ignore: decorator
@inline export function fifthBitsOf(kind: u32, pw: usize): v128 {
  return kind == Q5_0 || kind == Q5_1 ? i32x4.splat(kind == Q5_0 ? load<u32>(pw, 2) : load<u32>(pw, 4)) : i32x4.splat(0);
}

/** The unsigned quants (0..15, or 0..31 with the fifth bit) of weights 0..15 of a `kind` block: q its nibbles, qh its fifthBitsOf. */
// @ts-ignore: decorator
@inline export function lowQuants(kind: u32, q: v128, qh: v128): v128 {
  const lo = v128.and(q, i8x16.splat(0x0f));
  return kind == Q5_0 || kind == Q5_1 ? v128.or(lo, fifthBits(qh, QH_LOW)) : lo;
}

/** The unsigned quants of weights 16..31 (as lowQuants). */
// @ts-ignore: decorator
@inline export function highQuants(kind: u32, q: v128, qh: v128): v128 {
  const hi = v128.and(i16x8.shr_u(q, 4), i8x16.splat(0x0f));
  return kind == Q5_0 || kind == Q5_1 ? v128.or(hi, fifthBits(qh, QH_HIGH)) : hi;
}

/** [sum(s0), sum(s1), sum(s2), sum(s3)] of four i32x4 vectors. */
// @ts-ignore: decorator
@inline export function transposeSum(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const t0 = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 4, 1, 5), v128.shuffle<i32>(s0, s1, 2, 6, 3, 7));
  const t1 = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 4, 1, 5), v128.shuffle<i32>(s2, s3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}
