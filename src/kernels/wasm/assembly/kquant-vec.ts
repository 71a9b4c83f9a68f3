// Vector helpers of the K-quant kernels (kquants.ts, q2_k.ts, q3_k.ts, q6_k.ts, the prefills) and the Q8_K layout
// they share: the 8-lane integer dot products that
// keep ggml's generic lane structure. ggml_vec_dot_q*_K_q8_K_generic sums every product of weight e
// into int32 lane aux32[e mod 8], then per super-block adds d * aux32[l] into float lane l; to stay bit
// for bit with it, the kernels form exactly those eight integer sums (in any order: integers) and do
// the float steps per lane. pairDot gives eight int16 lanes, lane j holding two products of weights
// with e mod 8 = j: in the relaxed-SIMD build both operands are first arranged by ARRANGE (bytes j
// and j + 8 of each 16 made adjacent) and i16x8.relaxed_dot_i8x16_i7x16_s (one pmaddubsw) sums each
// adjacent pair; in the plain-SIMD build the operands stay in order and extmul_low + extmul_high sum
// bytes j and j + 8 (two i8 -> i16 multiplies). The relaxed dot is exact on every engine because its
// second operand (the weight quants, 0..63) never has the top bit set and |a0 w0 + a1 w1| <=
// 2 x 128 x 63 fits int16. scaledLanes then multiplies two such int16 sums by their sub-block scales
// into int32 lanes (unpack and i32x4.dot_i16x8_s: lane j = s_a t_a[j] + s_b t_b[j]), exactly.

/** Weights per super-block (QK_K). */
export const QK_K: u32 = 256;
/** Bytes of a block_q8_K (float d, int8 qs[256], int16 bsums[16]) and the offset of bsums. */
export const Q8_K_BYTES: usize = 292;
export const Q8_K_BSUMS: usize = 260;

/** Byte order that puts bytes j and j + 8 of 16 side by side (so a pair sum stays in lane j mod 8). */
const ARRANGE: usize = memory.data<u8>([0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15], 16);

/** Byte masks: 0x0f (nibbles), 0x30 (Q6_K's two high bits in place), 32 (Q6_K's offset). */
const NIBBLE_MASK: usize = memory.data<u32>([0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f], 16);
const HIGH2_MASK: usize = memory.data<u32>([0x30303030, 0x30303030, 0x30303030, 0x30303030], 16);
const BYTE_32: usize = memory.data<u32>([0x20202020, 0x20202020, 0x20202020, 0x20202020], 16);

/** Swizzle masks selecting int32 lane c of a vector into every lane, c = 0..3 (scalePair). */
const LANE_SPLAT: usize = memory.data<u8>([
  0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3,
  4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7,
  8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11,
  12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15,
], 16);

/** 16 quant bytes as pairDot wants them: arranged (relaxed SIMD) or as they are (plain SIMD). */
// @ts-ignore: decorator
@inline export function arrange(v: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i8x16.relaxed_swizzle(v, v128.load(ARRANGE)) : v;
}

/**
 * int16 lane j = the sum of the two products a_e * w_e (e = j and j + 8 of the 16 bytes), for
 * activations a (int8) and weight quants w (0..63), both passed through arrange().
 */
// @ts-ignore: decorator
@inline export function pairDot(a: v128, w: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(a, w);
  return i16x8.add(i16x8.extmul_low_i8x16_s(a, w), i16x8.extmul_high_i8x16_s(a, w));
}

/**
 * For quants stored with an offset (Q3_K 4, Q6_K 32: `off` that byte in every lane), the
 * activations' part of it: off x their pair sums in the relaxed build (formed once per token, shared
 * by the rows of a tile), unused in the plain build.
 */
// @ts-ignore: decorator
@inline export function offsetSums(a: v128, off: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? pairDot(a, off) : i16x8.splat(0);
}

/**
 * int16 lanes of the products of activations a with weights w of a format stored with an offset
 * (Q3_K, Q6_K): relaxed build, w are the stored quants (the 7-bit operand) and the offset's part
 * sums = offsetSums(a, off) comes off; plain build, w are the signed weights already.
 */
// @ts-ignore: decorator
@inline export function weightDot(a: v128, w: v128, sums: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i16x8.sub(pairDot(a, w), sums) : pairDot(a, w);
}

/** The sum of the four int32 lanes. */
// @ts-ignore: decorator
@inline export function hsumI32(v: v128): i32 {
  const s2 = i32x4.add(v, v128.shuffle<i32>(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(i32x4.add(s2, v128.shuffle<i32>(s2, s2, 1, 0, 3, 2)), 0);
}

/** The low nibbles of 16 bytes. */
// @ts-ignore: decorator
@inline export function lowNibbles(v: v128): v128 {
  return v128.and(v, v128.load(NIBBLE_MASK));
}

/** The high nibbles of 16 bytes, shifted down (an int16 shift: the mask drops what crossed bytes). */
// @ts-ignore: decorator
@inline export function highNibbles(v: v128): v128 {
  return v128.and(i16x8.shr_u(v, 4), v128.load(NIBBLE_MASK));
}

/** v & 0x30 in every byte: two bits already at bits 4-5. */
// @ts-ignore: decorator
@inline export function high2(v: v128): v128 {
  return v128.and(v, v128.load(HIGH2_MASK));
}

/** 32 in every byte. */
// @ts-ignore: decorator
@inline export function bytes32(): v128 {
  return v128.load(BYTE_32);
}

/**
 * int32 lane c of `pairs` (two int16 scales s_a | s_b << 16) in every lane, c = 0..3 (a variable:
 * one swizzle, where a shuffle needs a constant lane).
 */
// @ts-ignore: decorator
@inline export function scalePair(pairs: v128, c: usize): v128 {
  const mask = v128.load(LANE_SPLAT + (c << 4));
  return ASC_FEATURE_RELAXED_SIMD ? i8x16.relaxed_swizzle(pairs, mask) : i8x16.swizzle(pairs, mask);
}

/** acc (int32 lanes 0..3) += s_a * tA[j] + s_b * tB[j], j = 0..3; s = scalePair(...). */
// @ts-ignore: decorator
@inline export function scaledLow(acc: v128, tA: v128, tB: v128, s: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(v128.shuffle<i16>(tA, tB, 0, 8, 1, 9, 2, 10, 3, 11), s));
}

/** acc (int32 lanes 4..7) += s_a * tA[j] + s_b * tB[j], j = 4..7. */
// @ts-ignore: decorator
@inline export function scaledHigh(acc: v128, tA: v128, tB: v128, s: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(v128.shuffle<i16>(tA, tB, 4, 12, 5, 13, 6, 14, 7, 15), s));
}

/** sums (float lanes) + d * float(acc), as the C code's sums[l] += d * aux32[l]. */
// @ts-ignore: decorator
@inline export function addScaled(sums: v128, d: f32, acc: v128): v128 {
  return f32x4.add(sums, f32x4.mul(f32x4.splat(d), f32x4.convert_i32x4_s(acc)));
}

/** sumf + lanes 0..3 of lo + lanes 0..3 of hi, one add at a time in lane order (the C loop). */
// @ts-ignore: decorator
@inline export function addLanes(sumf: f32, lo: v128, hi: v128): f32 {
  sumf += f32x4.extract_lane(lo, 0);
  sumf += f32x4.extract_lane(lo, 1);
  sumf += f32x4.extract_lane(lo, 2);
  sumf += f32x4.extract_lane(lo, 3);
  sumf += f32x4.extract_lane(hi, 0);
  sumf += f32x4.extract_lane(hi, 1);
  sumf += f32x4.extract_lane(hi, 2);
  sumf += f32x4.extract_lane(hi, 3);
  return sumf;
}

/** Bytes of 0x10: Q5_K's fifth bit in place. */
const BIT4_MASK: usize = memory.data<u32>([0x10101010, 0x10101010, 0x10101010, 0x10101010], 16);

/**
 * Bit `bit` (0..7) of every byte of qh moved to bit 4 (16 or 0): Q5_K's fifth bit. int16 shifts: the
 * bits that cross into a byte from its neighbour are masked off.
 */
// @ts-ignore: decorator
@inline export function fifthBit(qh: v128, bit: u32): v128 {
  return v128.and(i16x8.shl(i16x8.shr_u(qh, bit), 4), v128.load(BIT4_MASK));
}

/** int16 lanes 0..7 = the eight bytes of `scales` (as unsigned), from two little-endian words. */
// @ts-ignore: decorator
@inline export function scalesU16(lo: u32, hi: u32): v128 {
  return i16x8.extend_low_i8x16_u(i64x2.splat(<u64>lo | (<u64>hi << 32)));
}

/**
 * Two 16-byte groups a and b interleaved for the prefill tiles that keep both operands rearranged
 * (q6_k-prefill.ts): bytes j and j + 8 of a and of b for lanes l = 0..3, in
 * pairDot's pair order: relaxed, adjacent bytes (a_l, a_l+8, b_l, b_l+8, ...); plain, extmul's low
 * and high halves (a_l, b_l, ... | a_l+8, b_l+8, ...). So int16 lanes 2l and 2l + 1 of a pairDot of
 * two such vectors are group a's and group b's lane-l sums, which i32x4.dot_i16x8_s scales by a pair
 * of int16 scales (s_a, s_b) straight into int32 lane l.
 */
// @ts-ignore: decorator
@inline export function interleaveLo(a: v128, b: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD
    ? i8x16.shuffle(a, b, 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27)
    : i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 8, 24, 9, 25, 10, 26, 11, 27);
}

/** interleaveLo for lanes l = 4..7. */
// @ts-ignore: decorator
@inline export function interleaveHi(a: v128, b: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD
    ? i8x16.shuffle(a, b, 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31)
    : i8x16.shuffle(a, b, 4, 20, 5, 21, 6, 22, 7, 23, 12, 28, 13, 29, 14, 30, 15, 31);
}
