// The Q6_K matrix product in WebAssembly SIMD (its tile; the loop over rows and tokens and the export
// are kquant-matmul.ts): Q6_K weights times activations quantized to Q8_K by
// quantize_q8_k (kquants.ts), the twin of kernels/reference/k-quants.ts vecDotQ6_K (llama.cpp's
// ggml_vec_dot_q6_K_q8_K_generic). Block layout (ggml's block_q6_K, 210 bytes): uint8 ql[128]
// (low 4 bits), uint8 qh[64] (high 2 bits), int8 scales[16] (one per 16 weights), half d; weight
// 128h + 32k + l (half h, quarter k, l < 32) is (nibble k >= 2 of ql[64h + 32(k & 1) + l] | bits
// 2k..2k+1 of qh[32h + l] << 4) - 32, its scale scales[8h + 2k + l / 16].
//
// Bit-exact with the reference, as kquants.ts: eight int16 lanes of products (lane = index mod 8,
// kquant-vec.ts pairDot), each 16-weight group's pair of lanes scaled into int32 lanes together with
// the next group's (one i32x4.dot_i16x8_s per four lanes), then the C code's float steps per lane.
// The offset 32: the plain-SIMD build subtracts it from the quants (signed products); the relaxed
// build keeps the quants 0..63 (the 7-bit operand of its dot) and subtracts 32 x the activations'
// pair sums, formed once per token and shared by the rows of a tile. Both exact in int16
// (|sum| <= 2 x 128 x 63).

import { Q8_K_BYTES, addLanes, addScaled, arrange, bytes32, high2, highNibbles, lowNibbles, offsetSums, scaledHigh, scaledLow, weightDot } from "./kquant-vec";
import { f16ToF32 } from "./vec";

/** Bytes of a block_q6_K and the offsets of qh, scales, d in it. */
export const Q6_K_BYTES: usize = 210;
export const Q6_K_QH: usize = 128;
export const Q6_K_SCALES: usize = 192;
export const Q6_K_D: usize = 208;

/**
 * The 16 quants of group g (0 or 16: the byte offset in its quarter) of quarter kk of half h of the
 * block at x (kk and g constants at every call: the other forms fold away), arranged for pairDot:
 * the low (kk < 2) or high nibbles of ql with bits 2kk..2kk+1 of qh moved to bits 4-5 (int16
 * shifts: what crosses between bytes is masked off). Relaxed build: the quants 0..63 (the 7-bit
 * operand of its dot); plain build: less 32 (signed, formed once and shared by a tile's tokens). ql
 * and qh are loaded in place and arranged once, after the unpack (bytewise, so the order commutes),
 * so no arranged qh stays live across a half.
 */
// @ts-ignore: decorator
@inline function weights(x: usize, h: usize, kk: u32, g: usize): v128 {
  const ql = v128.load(x + (h << 6) + (<usize>(kk & 1) << 5) + g);
  const qh = v128.load(x + Q6_K_QH + (h << 5) + g);
  const nib = kk < 2 ? lowNibbles(ql) : highNibbles(ql);
  const bits = kk == 0 ? i16x8.shl(qh, 4) : kk == 1 ? i16x8.shl(qh, 2) : kk == 2 ? qh : i16x8.shr_u(qh, 2);
  const q = arrange(v128.or(nib, high2(bits)));
  return ASC_FEATURE_RELAXED_SIMD ? q : i8x16.sub(q, bytes32());
}

/** 32 x the activations' pair sums (relaxed; kquant-vec.ts offsetSums), formed once per token. */
// @ts-ignore: decorator
@inline function offsets(a: v128): v128 {
  return offsetSums(a, bytes32());
}

/**
 * vec_dot_q6_K_q8_K over nb blocks: row x0 with token y0 into o00, and with twoRows row x1 with y0
 * into o10, or with twoTokens row x0 with token y1 into o01 (not both).
 */
// @ts-ignore: decorator
@inline export function tileQ6K(twoRows: bool, twoTokens: bool, x0: usize, x1: usize, y0: usize, y1: usize, nb: u32, o00: usize, o10: usize, o01: usize): void {
  const zero = i32x4.splat(0);
  let fALo = f32x4.splat(0), fAHi = fALo, fBLo = fALo, fBHi = fALo, fCLo = fALo, fCHi = fALo;
  for (let i: u32 = 0; i < nb; i++) {
    const p0 = x0 + <usize>i * Q6_K_BYTES, p1 = x1 + <usize>i * Q6_K_BYTES;
    const q0 = y0 + <usize>i * Q8_K_BYTES + 4, q1 = y1 + <usize>i * Q8_K_BYTES + 4;
    let aLo = zero, aHi = zero, bLo = zero, bHi = zero, cLo = zero, cHi = zero;
    for (let h: usize = 0; h < 2; h++) {
      // Scales 8h .. 8h + 7 as int16: int32 lane k = the pair of quarter k.
      const s0 = i16x8.extend_low_i8x16_s(v128.load64_zero(p0 + Q6_K_SCALES + (h << 3)));
      const s1 = twoRows ? i16x8.extend_low_i8x16_s(v128.load64_zero(p1 + Q6_K_SCALES + (h << 3))) : s0;
      // The four quarters written out: each one's nibble, bit shifts and scale lane are constants.
      // They stay four copies of one shape on purpose: a helper would have to update six accumulator
      // locals (AssemblyScript has no multi-value returns; accumulators in memory cost a store and load
      // per quarter) and v128.shuffle's lanes must be literal constants at the call.
      {
        // Quarter 0: weights 128h + 0 + [0, 16) (group A) and [16, 32) (group B).
        const xa = q0 + (h << 7) + 0;
        const aA = arrange(v128.load(xa)), aB = arrange(v128.load(xa, 16));
        const oA = offsets(aA), oB = offsets(aB);
        const s = v128.shuffle<i32>(s0, s0, 0, 0, 0, 0);
        const wA = weights(p0, h, 0, 0), wB = weights(p0, h, 0, 16);
        const tA = weightDot(aA, wA, oA), tB = weightDot(aB, wB, oB);
        aLo = scaledLow(aLo, tA, tB, s);
        aHi = scaledHigh(aHi, tA, tB, s);
        if (twoTokens) {
          const xb = q1 + (h << 7) + 0;
          const cA = arrange(v128.load(xb)), cB = arrange(v128.load(xb, 16));
          const uA = weightDot(cA, wA, offsets(cA)), uB = weightDot(cB, wB, offsets(cB));
          cLo = scaledLow(cLo, uA, uB, s);
          cHi = scaledHigh(cHi, uA, uB, s);
        }
        if (twoRows) {
          const r = v128.shuffle<i32>(s1, s1, 0, 0, 0, 0);
          const vA = weightDot(aA, weights(p1, h, 0, 0), oA), vB = weightDot(aB, weights(p1, h, 0, 16), oB);
          bLo = scaledLow(bLo, vA, vB, r);
          bHi = scaledHigh(bHi, vA, vB, r);
        }
      }
      {
        // Quarter 1: weights 128h + 32 + [0, 16) (group A) and [16, 32) (group B).
        const xa = q0 + (h << 7) + 32;
        const aA = arrange(v128.load(xa)), aB = arrange(v128.load(xa, 16));
        const oA = offsets(aA), oB = offsets(aB);
        const s = v128.shuffle<i32>(s0, s0, 1, 1, 1, 1);
        const wA = weights(p0, h, 1, 0), wB = weights(p0, h, 1, 16);
        const tA = weightDot(aA, wA, oA), tB = weightDot(aB, wB, oB);
        aLo = scaledLow(aLo, tA, tB, s);
        aHi = scaledHigh(aHi, tA, tB, s);
        if (twoTokens) {
          const xb = q1 + (h << 7) + 32;
          const cA = arrange(v128.load(xb)), cB = arrange(v128.load(xb, 16));
          const uA = weightDot(cA, wA, offsets(cA)), uB = weightDot(cB, wB, offsets(cB));
          cLo = scaledLow(cLo, uA, uB, s);
          cHi = scaledHigh(cHi, uA, uB, s);
        }
        if (twoRows) {
          const r = v128.shuffle<i32>(s1, s1, 1, 1, 1, 1);
          const vA = weightDot(aA, weights(p1, h, 1, 0), oA), vB = weightDot(aB, weights(p1, h, 1, 16), oB);
          bLo = scaledLow(bLo, vA, vB, r);
          bHi = scaledHigh(bHi, vA, vB, r);
        }
      }
      {
        // Quarter 2: weights 128h + 64 + [0, 16) (group A) and [16, 32) (group B).
        const xa = q0 + (h << 7) + 64;
        const aA = arrange(v128.load(xa)), aB = arrange(v128.load(xa, 16));
        const oA = offsets(aA), oB = offsets(aB);
        const s = v128.shuffle<i32>(s0, s0, 2, 2, 2, 2);
        const wA = weights(p0, h, 2, 0), wB = weights(p0, h, 2, 16);
        const tA = weightDot(aA, wA, oA), tB = weightDot(aB, wB, oB);
        aLo = scaledLow(aLo, tA, tB, s);
        aHi = scaledHigh(aHi, tA, tB, s);
        if (twoTokens) {
          const xb = q1 + (h << 7) + 64;
          const cA = arrange(v128.load(xb)), cB = arrange(v128.load(xb, 16));
          const uA = weightDot(cA, wA, offsets(cA)), uB = weightDot(cB, wB, offsets(cB));
          cLo = scaledLow(cLo, uA, uB, s);
          cHi = scaledHigh(cHi, uA, uB, s);
        }
        if (twoRows) {
          const r = v128.shuffle<i32>(s1, s1, 2, 2, 2, 2);
          const vA = weightDot(aA, weights(p1, h, 2, 0), oA), vB = weightDot(aB, weights(p1, h, 2, 16), oB);
          bLo = scaledLow(bLo, vA, vB, r);
          bHi = scaledHigh(bHi, vA, vB, r);
        }
      }
      {
        // Quarter 3: weights 128h + 96 + [0, 16) (group A) and [16, 32) (group B).
        const xa = q0 + (h << 7) + 96;
        const aA = arrange(v128.load(xa)), aB = arrange(v128.load(xa, 16));
        const oA = offsets(aA), oB = offsets(aB);
        const s = v128.shuffle<i32>(s0, s0, 3, 3, 3, 3);
        const wA = weights(p0, h, 3, 0), wB = weights(p0, h, 3, 16);
        const tA = weightDot(aA, wA, oA), tB = weightDot(aB, wB, oB);
        aLo = scaledLow(aLo, tA, tB, s);
        aHi = scaledHigh(aHi, tA, tB, s);
        if (twoTokens) {
          const xb = q1 + (h << 7) + 96;
          const cA = arrange(v128.load(xb)), cB = arrange(v128.load(xb, 16));
          const uA = weightDot(cA, wA, offsets(cA)), uB = weightDot(cB, wB, offsets(cB));
          cLo = scaledLow(cLo, uA, uB, s);
          cHi = scaledHigh(cHi, uA, uB, s);
        }
        if (twoRows) {
          const r = v128.shuffle<i32>(s1, s1, 3, 3, 3, 3);
          const vA = weightDot(aA, weights(p1, h, 3, 0), oA), vB = weightDot(aB, weights(p1, h, 3, 16), oB);
          bLo = scaledLow(bLo, vA, vB, r);
          bHi = scaledHigh(bHi, vA, vB, r);
        }
      }
    }
    // sums[l] += d * aux32[l], d = d_w * d_x.
    const yd0 = load<f32>(q0 - 4);
    const dw0 = f16ToF32(<u32>load<u16>(p0 + Q6_K_D));
    fALo = addScaled(fALo, dw0 * yd0, aLo);
    fAHi = addScaled(fAHi, dw0 * yd0, aHi);
    if (twoRows) {
      const dw1 = f16ToF32(<u32>load<u16>(p1 + Q6_K_D));
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
