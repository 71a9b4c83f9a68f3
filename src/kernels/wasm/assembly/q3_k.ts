// The Q3_K matrix product in WebAssembly SIMD (its tile; the loop over rows and tokens and the export
// are kquant-matmul.ts): Q3_K weights times activations quantized to Q8_K by
// quantize_q8_k (kquants.ts), the twin of kernels/reference/k-quants.ts vecDotQ3_K (llama.cpp's
// ggml_vec_dot_q3_K_q8_K_generic). Block layout (ggml's block_q3_K, 110 bytes): uint8 hmask[32]
// (high bits), uint8 qs[64] (low 2 bits), uint8 scales[12] (sixteen 6-bit scales, offset 32), half
// d; weight 128h + 32k + l (half h, quarter k, l < 32) is (bits 2k..2k+1 of qs[32h + l] | bit 4h + k
// of hmask[l] << 2) - 4, its scale that of group 8h + 2k + l / 16: the low 4 bits in nibble h of
// scales[2k + l / 16] (g mod 8), the high 2 in bits 2(g / 4).. of scales[8 + g mod 4].
//
// Bit-exact with the reference, as q6_k.ts: eight int16 lanes of products (lane = index mod 8,
// kquant-vec.ts pairDot), each 16-weight group's lanes scaled into int32 lanes together with the
// other group of its quarter (one i32x4.dot_i16x8_s per four lanes), then the C code's float steps
// per lane (sums[l] += d * aux32[l], d = d_w * d_x; the lanes added in order at the end). The offset
// 4: the plain-SIMD build forms the signed quants (low bits - 4 where the high bit is clear: one
// andnot and a subtract, signed products); the relaxed build keeps
// the quants 0..7 (the 7-bit operand of its dot) and subtracts 4 x the activations' pair sums,
// formed once per token and shared by the rows of a tile. Both exact in int16 (|sum| <= 2 x 128 x 7).

import { Q8_K_BYTES, addLanes, addScaled, arrange, offsetSums, pairDot, scalePair, scaledHigh, scaledLow, scalesU16, weightDot } from "./kquant-vec";
import { f16ToF32 } from "./vec";

/** Bytes of a block_q3_K and the offsets of qs, scales, d in it (hmask at 0). */
export const Q3_K_BYTES: usize = 110;
const Q3_K_QS: usize = 32;
const Q3_K_SCALES: usize = 96;
const Q3_K_D: usize = 108;

/**
 * The scales of groups 8h .. 8h + 7 of the block at x, minus 32, as int16 lanes (int32 lane k =
 * the two groups of quarter k), unpacked from the 12 bytes as the C code's aux words.
 */
// @ts-ignore: decorator
@inline function scalesOf(x: usize, h: u32): v128 {
  const a0 = load<u32>(x, Q3_K_SCALES), a1 = load<u32>(x, Q3_K_SCALES + 4), tmp = load<u32>(x, Q3_K_SCALES + 8);
  const shift = h << 2;
  const lo = ((a0 >> shift) & 0x0f0f0f0f) | (((tmp >> shift) & 0x03030303) << 4);
  const hi = ((a1 >> shift) & 0x0f0f0f0f) | (((tmp >> (shift + 2)) & 0x03030303) << 4);
  return i16x8.sub(scalesU16(lo, hi), i16x8.splat(32));
}

/** Bytes of 3 (the low two bits) and 4 (the high bit at bit 2, and the quants' offset). */
const BYTE_3: usize = memory.data<u32>([0x03030303, 0x03030303, 0x03030303, 0x03030303], 16);
const BYTE_4: usize = memory.data<u32>([0x04040404, 0x04040404, 0x04040404, 0x04040404], 16);

/**
 * The weights of 16 quants from bits 0..1 of qs and bit 2 of hm (the high bit, put there by the
 * tile): relaxed build, the quants plus 4 (0..7, the 7-bit operand of its dot); plain build, the
 * signed quants (low bits - 4 where the high bit is clear: hm & 4 clear, 4 & ~hm = 4). The tile
 * shifts qs by 2 and hm by 1 after each quarter (int16 shifts by constants; what crosses between
 * bytes never reaches the bits kept). The masks are loads (memory operands, as kquant-vec.ts's), which
 * measured faster here than v128 constants (i8x16.splat).
 */
// @ts-ignore: decorator
@inline function weights(qs: v128, hm: v128): v128 {
  const low = v128.and(qs, v128.load(BYTE_3));
  if (ASC_FEATURE_RELAXED_SIMD) return v128.or(low, v128.and(hm, v128.load(BYTE_4)));
  return i8x16.sub(low, v128.andnot(v128.load(BYTE_4), hm));
}

/** 4 x the activations' pair sums (relaxed; kquant-vec.ts offsetSums), formed once per token. */
// @ts-ignore: decorator
@inline function offsets(a: v128): v128 {
  return offsetSums(a, v128.load(BYTE_4));
}

/**
 * hmask (arranged) with bit 4h (the high bit of quarter 0 of half h) at bit 2, so that after k
 * shifts by 1 bit 4h + k is there: bits 0..3 shifted up by 2 (h = 0; the bits pushed into the next
 * byte land at its bits 0..1 and never reach bit 2 under right shifts), bits 4..7 down by 2 (h = 1).
 */
// @ts-ignore: decorator
@inline function highBits(hm: v128, h: u32): v128 {
  return h == 0 ? i16x8.shl(hm, 2) : i16x8.shr_u(hm, 2);
}

/**
 * vec_dot_q3_K_q8_K over nb blocks: row x0 with token y0 into o00, and with twoRows row x1 with y0
 * into o10, or with twoTokens row x0 with token y1 into o01 (not both).
 */
// @ts-ignore: decorator
@inline export function tileQ3K(twoRows: bool, twoTokens: bool, x0: usize, x1: usize, y0: usize, y1: usize, nb: u32, o00: usize, o10: usize, o01: usize): void {
  const zero = i32x4.splat(0);
  let fALo = f32x4.splat(0), fAHi = fALo, fBLo = fALo, fBHi = fALo, fCLo = fALo, fCHi = fALo;
  for (let i: u32 = 0; i < nb; i++) {
    const p0 = x0 + <usize>i * Q3_K_BYTES, p1 = x1 + <usize>i * Q3_K_BYTES;
    const q0 = y0 + <usize>i * Q8_K_BYTES + 4, q1 = y1 + <usize>i * Q8_K_BYTES + 4;
    // hmask[0..16) holds the high bits of weights l < 16 of every quarter, hmask[16..32) of l >= 16.
    const hA0 = arrange(v128.load(p0)), hB0 = arrange(v128.load(p0, 16));
    const hA1 = twoRows ? arrange(v128.load(p1)) : zero, hB1 = twoRows ? arrange(v128.load(p1, 16)) : zero;
    let aLo = zero, aHi = zero, bLo = zero, bHi = zero, cLo = zero, cHi = zero;
    for (let h: u32 = 0; h < 2; h++) {
      // Shifted down by 1 after each quarter: bit 4h + k at bit 2 in quarter k of half h.
      let mA0 = highBits(hA0, h), mB0 = highBits(hB0, h);
      let mA1 = twoRows ? highBits(hA1, h) : zero, mB1 = twoRows ? highBits(hB1, h) : zero;
      const s0 = scalesOf(p0, h), s1 = twoRows ? scalesOf(p1, h) : s0;
      const qs0 = p0 + Q3_K_QS + (<usize>h << 5), qs1 = p1 + Q3_K_QS + (<usize>h << 5);
      // Shifted down by 2 after each quarter: bits 2k..2k+1 at bits 0..1 in quarter k.
      let qA0 = arrange(v128.load(qs0)), qB0 = arrange(v128.load(qs0, 16));
      let qA1 = twoRows ? arrange(v128.load(qs1)) : zero, qB1 = twoRows ? arrange(v128.load(qs1, 16)) : zero;
      for (let k: u32 = 0; k < 4; k++) {
        // Quarter k: weights 128h + 32k + [0, 16) (group A) and [16, 32) (group B).
        const xa = q0 + (<usize>h << 7) + (<usize>k << 5);
        const aA = arrange(v128.load(xa)), aB = arrange(v128.load(xa, 16));
        const oA = offsets(aA), oB = offsets(aB);
        {
          const wA = weights(qA0, mA0), wB = weights(qB0, mB0);
          qA0 = i16x8.shr_u(qA0, 2); qB0 = i16x8.shr_u(qB0, 2); mA0 = i16x8.shr_u(mA0, 1); mB0 = i16x8.shr_u(mB0, 1);
          const s = scalePair(s0, k);
          const tA = weightDot(aA, wA, oA), tB = weightDot(aB, wB, oB);
          aLo = scaledLow(aLo, tA, tB, s);
          aHi = scaledHigh(aHi, tA, tB, s);
          if (twoTokens) {
            const xb = q1 + (<usize>h << 7) + (<usize>k << 5);
            const cA = arrange(v128.load(xb)), cB = arrange(v128.load(xb, 16));
            const uA = weightDot(cA, wA, offsets(cA)), uB = weightDot(cB, wB, offsets(cB));
            cLo = scaledLow(cLo, uA, uB, s);
            cHi = scaledHigh(cHi, uA, uB, s);
          }
        }
        if (twoRows) {
          const wA = weights(qA1, mA1), wB = weights(qB1, mB1);
          qA1 = i16x8.shr_u(qA1, 2); qB1 = i16x8.shr_u(qB1, 2); mA1 = i16x8.shr_u(mA1, 1); mB1 = i16x8.shr_u(mB1, 1);
          const s = scalePair(s1, k);
          const tA = weightDot(aA, wA, oA), tB = weightDot(aB, wB, oB);
          bLo = scaledLow(bLo, tA, tB, s);
          bHi = scaledHigh(bHi, tA, tB, s);
        }
      }
    }
    // sums[l] += d * aux32[l], d = d_w * d_x.
    const yd0 = load<f32>(q0 - 4);
    const dw0 = f16ToF32(<u32>load<u16>(p0 + Q3_K_D));
    fALo = addScaled(fALo, dw0 * yd0, aLo);
    fAHi = addScaled(fAHi, dw0 * yd0, aHi);
    if (twoRows) {
      const dw1 = f16ToF32(<u32>load<u16>(p1 + Q3_K_D));
      fBLo = addScaled(fBLo, dw1 * yd0, bLo);
      fBHi = addScaled(fBHi, dw1 * yd0, bHi);
    }
    if (twoTokens) {
      const yd1 = load<f32>(q1 - 4);
      fCLo = addScaled(fCLo, dw0 * yd1, cLo);
      fCHi = addScaled(fCHi, dw0 * yd1, cHi);
    }
  }
  store<f32>(o00, addLanes(0, fALo, fAHi));
  if (twoRows) store<f32>(o10, addLanes(0, fBLo, fBHi));
  if (twoTokens) store<f32>(o01, addLanes(0, fCLo, fCHi));
}
