// K-quant kernels in WebAssembly SIMD: the Q8_K activation quantizer and the matrix products by Q4_K
// Q5_K and Q6_K weights (llama.cpp's super-blocks of QK_K = 256 weights), twins of the reference kernels
// in src/kernels/reference/ (quantize_row_q8_K_ref, ggml_vec_dot_q4_K_q8_K_generic,
// ggml_vec_dot_q5_K_q8_K_generic and ggml_vec_dot_q6_K_q8_K_generic of ggml-quants.c / ggml-cpu/quants.c).
//
// Bit-exact with the reference. The generic C kernels keep eight int32 lanes aux32[l] (l = element
// index mod 8: aux16[l] = q8[l] * a[l] over chunks of 8, times the sub-block scale) and eight float
// lanes sums[l] += d * aux32[l] per super-block, then add the lanes in order at the end. Here those
// eight lanes are two i32x4 / f32x4 vectors: i16x8.extmul_*_i8x16_s forms aux16 for 8 elements at
// once (lane l = element l of the chunk), the chunks sharing one scale are summed in int16 (no
// overflow: at most 4 x 15 x 127 for Q4_K, 2 x 32 x 127 for Q6_K), and i32x4.extmul_*_i16x8_s
// applies the scale. Integer sums are exact in any order; the float operations are the C code's, per
// lane, without fused multiply-add (also in the relaxed-SIMD build).
//
// Layouts (ggml-common.h): block_q8_K = float d, int8 qs[256], int16 bsums[16] (292 bytes);
// block_q4_K = half d, half dmin, uint8 scales[12] (eight 6-bit scales and mins), uint8 qs[128]
// (144 bytes); block_q6_K = uint8 ql[128], uint8 qh[64], int8 scales[16], half d (210 bytes).

import { f16ToF32 } from "./vec";

/** Weights per super-block (QK_K). */
const QK_K: u32 = 256;
/** Bytes of a block_q8_K. */
const Q8_K_BYTES: usize = 292;
/** Offset of bsums in a block_q8_K. */
const Q8_K_BSUMS: usize = 260;
/** Bytes of a block_q4_K. */
const Q4_K_BYTES: usize = 144;
/** Bytes of a block_q5_K: a block_q4_K with uint8 qh[32] (each weight's fifth bit) before qs. */
const Q5_K_BYTES: usize = 176;
/** Bytes of a block_q6_K. */
const Q6_K_BYTES: usize = 210;

/**
 * Quantize x (nTokens, inF) float32 into Q8_K blocks at xq (nTokens * inF / 256 blocks, row after
 * row), as quantize_row_q8_K_ref: max = the first element of largest magnitude, iscale = -127 / max,
 * q = min(127, round-half-even(iscale * x)), bsums = sums of 16 quants, d = 1 / iscale. A block of
 * zeros gets d = 0 and zero quants and sums.
 */
export function quantize_q8_k(xq: usize, x: usize, nTokens: u32, inF: u32): void {
  const nBlocks = nTokens * (inF / QK_K);
  for (let b: u32 = 0; b < nBlocks; b++) {
    const src = x + (<usize>b << 10);
    const dst = xq + <usize>b * Q8_K_BYTES;
    let vmax = f32x4.splat(0);
    for (let j: usize = 0; j < 1024; j += 16) vmax = f32x4.max(vmax, f32x4.abs(v128.load(src + j)));
    const m2 = f32x4.max(vmax, v128.shuffle<f32>(vmax, vmax, 2, 3, 0, 1));
    const amax = f32x4.extract_lane(f32x4.max(m2, v128.shuffle<f32>(m2, m2, 1, 0, 3, 2)), 0);
    if (amax == 0) {
      store<f32>(dst, 0);
      memory.fill(dst + 4, 0, 256 + 32);
      continue;
    }
    let max: f32 = 0;
    for (let j: usize = 0; j < 1024; j += 4) {
      const v = load<f32>(src + j);
      if (Mathf.abs(v) == amax) {
        max = v;
        break;
      }
    }
    const iscale: f32 = -127 / max;
    const s = f32x4.splat(iscale);
    const top = i32x4.splat(127);
    for (let g: usize = 0; g < 16; g++) {
      const p = src + (g << 6);
      const q0 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, v128.load(p)))), top);
      const q1 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, v128.load(p, 16)))), top);
      const q2 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, v128.load(p, 32)))), top);
      const q3 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, v128.load(p, 48)))), top);
      const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
      v128.store(dst + 4 + (g << 4), i8x16.narrow_i16x8_s(h0, h1)); // |q| <= 127: exact
      const sum = i32x4.extadd_pairwise_i16x8_s(i16x8.add(h0, h1));
      const s2 = i32x4.add(sum, v128.shuffle<i32>(sum, sum, 2, 3, 0, 1));
      store<i16>(dst + Q8_K_BSUMS + (g << 1), <i16>i32x4.extract_lane(i32x4.add(s2, v128.shuffle<i32>(s2, s2, 1, 0, 3, 2)), 0));
    }
    store<f32>(dst, 1 / iscale);
  }
}

/** The eight aux16 lanes summed over two chunks of 8: a (16 int8) times x (16 int8). */
// @ts-ignore: decorator
@inline function dot16(a: v128, x: v128): v128 {
  return i16x8.add(i16x8.extmul_low_i8x16_s(a, x), i16x8.extmul_high_i8x16_s(a, x));
}

/** sumf + lanes 0..3 of lo + lanes 0..3 of hi, one add at a time in lane order (the C loop). */
// @ts-ignore: decorator
@inline function addLanes(sumf: f32, lo: v128, hi: v128): f32 {
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

/** sumi of vec_dot_q4_K_q8_K: the Q8_K block's bsums (at q8) times the mins (bytes 0..7 of mins), each min twice. */
// @ts-ignore: decorator
@inline function minsDot(q8: usize, minsLo: v128, minsHi: v128): i32 {
  const ms = i32x4.add(i32x4.dot_i16x8_s(v128.load(q8, Q8_K_BSUMS), minsLo), i32x4.dot_i16x8_s(v128.load(q8, Q8_K_BSUMS + 16), minsHi));
  const ms2 = i32x4.add(ms, v128.shuffle<i32>(ms, ms, 2, 3, 0, 1));
  return i32x4.extract_lane(i32x4.add(ms2, v128.shuffle<i32>(ms2, ms2, 1, 0, 3, 2)), 0);
}

/** The aux16 sums of one 32-weight sub-block: a0/a1 its 32 quants, activations at xs. */
// @ts-ignore: decorator
@inline function sub32(a0: v128, a1: v128, xs: usize): v128 {
  return i16x8.add(dot16(a0, v128.load(xs)), dot16(a1, v128.load(xs, 16)));
}

/** lo (or hi, with high = true) of aux32 += sLow * tLow + sHigh * tHigh. */
// @ts-ignore: decorator
@inline function scaled(acc: v128, tLow: v128, sLow: v128, tHigh: v128, sHigh: v128, high: bool): v128 {
  if (high) return i32x4.add(acc, i32x4.add(i32x4.extmul_high_i16x8_s(tLow, sLow), i32x4.extmul_high_i16x8_s(tHigh, sHigh)));
  return i32x4.add(acc, i32x4.add(i32x4.extmul_low_i16x8_s(tLow, sLow), i32x4.extmul_low_i16x8_s(tHigh, sHigh)));
}

/**
 * One row of Q4_K (q5 false) or Q5_K (q5 true) blocks at w times the rows of Q8_K blocks at y0 and
 * y1 (nb blocks each, two tokens sharing each unpacked weight block): vec_dot_q4_K_q8_K /
 * vec_dot_q5_K_q8_K per token (Q5_K adds 16 where the weight's qh bit is set). With y1 = y0 the
 * second result is the first computed twice. Results go to o0 and o1 (float32).
 */
// @ts-ignore: decorator
@inline function dotQ45K2(q5: bool, w: usize, y0: usize, y1: usize, nb: u32, o0: usize, o1: usize): void {
  const blockBytes = q5 ? Q5_K_BYTES : Q4_K_BYTES;
  const qsAt: usize = q5 ? 48 : 16;
  const one = i8x16.splat(1);
  const nibble = i8x16.splat(0x0f);
  let sums0Lo = f32x4.splat(0), sums0Hi = f32x4.splat(0), sums1Lo = f32x4.splat(0), sums1Hi = f32x4.splat(0);
  let sumf0: f32 = 0, sumf1: f32 = 0;
  for (let i: u32 = 0; i < nb; i++) {
    const x = w + <usize>i * blockBytes;
    const q80 = y0 + <usize>i * Q8_K_BYTES, q81 = y1 + <usize>i * Q8_K_BYTES;
    const qh0 = q5 ? v128.load(x, 16) : i8x16.splat(0), qh1 = q5 ? v128.load(x, 32) : i8x16.splat(0);
    // The twelve scale bytes as eight 6-bit scales (sc) and eight 6-bit mins (mn), as the C code's utmp.
    const u0 = load<u32>(x, 4), u1 = load<u32>(x, 8), u2 = load<u32>(x, 12);
    const sc0 = u0 & 0x3f3f3f3f;
    const sc1 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
    const mn0 = u1 & 0x3f3f3f3f;
    const mn1 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
    const mins = i32x4.replace_lane(i32x4.splat(mn0), 1, mn1); // bytes 0..7 = mins 0..7
    const minsLo = i8x16.shuffle(mins, i8x16.splat(0), 0, 16, 0, 16, 1, 16, 1, 16, 2, 16, 2, 16, 3, 16, 3, 16);
    const minsHi = i8x16.shuffle(mins, i8x16.splat(0), 4, 16, 4, 16, 5, 16, 5, 16, 6, 16, 6, 16, 7, 16, 7, 16);
    const sumi0 = minsDot(q80, minsLo, minsHi), sumi1 = minsDot(q81, minsLo, minsHi);
    let lo0 = i32x4.splat(0), hi0 = i32x4.splat(0), lo1 = i32x4.splat(0), hi1 = i32x4.splat(0);
    for (let k: usize = 0; k < 4; k++) {
      const qa = v128.load(x + qsAt + (k << 5)), qb = v128.load(x + qsAt + (k << 5), 16);
      // Sub-block 2k: the low nibbles of these 32 bytes; sub-block 2k + 1: the high nibbles.
      let la = v128.and(qa, nibble), lb = v128.and(qb, nibble), ha = i8x16.shr_u(qa, 4), hb = i8x16.shr_u(qb, 4);
      if (q5) {
        // Q5_K: + 16 where bit 2k (low nibbles) or 2k + 1 (high nibbles) of the weight's qh byte is set.
        const bit = <u32>k << 1;
        la = v128.or(la, i8x16.shl(v128.and(i8x16.shr_u(qh0, bit), one), 4));
        lb = v128.or(lb, i8x16.shl(v128.and(i8x16.shr_u(qh1, bit), one), 4));
        ha = v128.or(ha, i8x16.shl(v128.and(i8x16.shr_u(qh0, bit + 1), one), 4));
        hb = v128.or(hb, i8x16.shl(v128.and(i8x16.shr_u(qh1, bit + 1), one), 4));
      }
      const scales = k < 2 ? sc0 : sc1;
      const shift = <u32>(k & 1) << 4;
      const sLow = i16x8.splat(<i16>((scales >> shift) & 0xff)), sHigh = i16x8.splat(<i16>((scales >> (shift + 8)) & 0xff));
      const xs0 = q80 + 4 + (k << 6), xs1 = q81 + 4 + (k << 6);
      const tLow0 = sub32(la, lb, xs0), tHigh0 = sub32(ha, hb, xs0 + 32);
      lo0 = scaled(lo0, tLow0, sLow, tHigh0, sHigh, false);
      hi0 = scaled(hi0, tLow0, sLow, tHigh0, sHigh, true);
      const tLow1 = sub32(la, lb, xs1), tHigh1 = sub32(ha, hb, xs1 + 32);
      lo1 = scaled(lo1, tLow1, sLow, tHigh1, sHigh, false);
      hi1 = scaled(hi1, tLow1, sLow, tHigh1, sHigh, true);
    }
    const dw = f16ToF32(<u32>load<u16>(x)), dminw = f16ToF32(<u32>load<u16>(x, 2));
    const yd0 = load<f32>(q80), yd1 = load<f32>(q81);
    const d0 = f32x4.splat(dw * yd0), d1 = f32x4.splat(dw * yd1);
    sums0Lo = f32x4.add(sums0Lo, f32x4.mul(d0, f32x4.convert_i32x4_s(lo0)));
    sums0Hi = f32x4.add(sums0Hi, f32x4.mul(d0, f32x4.convert_i32x4_s(hi0)));
    sums1Lo = f32x4.add(sums1Lo, f32x4.mul(d1, f32x4.convert_i32x4_s(lo1)));
    sums1Hi = f32x4.add(sums1Hi, f32x4.mul(d1, f32x4.convert_i32x4_s(hi1)));
    const dmin0: f32 = dminw * yd0, dmin1: f32 = dminw * yd1;
    sumf0 -= dmin0 * <f32>sumi0;
    sumf1 -= dmin1 * <f32>sumi1;
  }
  store<f32>(o0, addLanes(sumf0, sums0Lo, sums0Hi));
  store<f32>(o1, addLanes(sumf1, sums1Lo, sums1Hi));
}

/** The 16 quants of group g (0..7) of one Q6_K half: 6 bits from ql's nibble and qh's bit pair, minus 32. */
// @ts-ignore: decorator
@inline function q6Group(lowBits: v128, highNibble: bool, highBits: v128, pairShift: u32): v128 {
  const nib = highNibble ? i8x16.shr_u(lowBits, 4) : v128.and(lowBits, i8x16.splat(0x0f));
  const pair = v128.and(i8x16.shr_u(highBits, pairShift), i8x16.splat(3));
  return i8x16.sub(v128.or(nib, i8x16.shl(pair, 4)), i8x16.splat(32));
}

/** aux32 (lo, or hi with high = true) += scale * aux16 of quants a against activations at xs. */
// @ts-ignore: decorator
@inline function q6Acc(acc: v128, a: v128, xs: usize, scale: v128, high: bool): v128 {
  const t = dot16(a, v128.load(xs));
  return i32x4.add(acc, high ? i32x4.extmul_high_i16x8_s(t, scale) : i32x4.extmul_low_i16x8_s(t, scale));
}

/**
 * One row of Q6_K blocks at w times the rows of Q8_K blocks at y0 and y1 (two tokens sharing each
 * unpacked weight block): vec_dot_q6_K_q8_K per token, results to o0 and o1.
 */
function dotQ6K2(w: usize, y0: usize, y1: usize, nb: u32, o0: usize, o1: usize): void {
  let sums0Lo = f32x4.splat(0), sums0Hi = f32x4.splat(0), sums1Lo = f32x4.splat(0), sums1Hi = f32x4.splat(0);
  for (let i: u32 = 0; i < nb; i++) {
    const x = w + <usize>i * Q6_K_BYTES;
    const q80 = y0 + <usize>i * Q8_K_BYTES + 4, q81 = y1 + <usize>i * Q8_K_BYTES + 4;
    let lo0 = i32x4.splat(0), hi0 = i32x4.splat(0), lo1 = i32x4.splat(0), hi1 = i32x4.splat(0);
    for (let h: usize = 0; h < 2; h++) {
      const ql = x + (h << 6), qh = x + 128 + (h << 5), sc = x + 192 + (h << 3);
      const l0 = v128.load(ql), l1 = v128.load(ql, 16), l2 = v128.load(ql, 32), l3 = v128.load(ql, 48);
      const h0 = v128.load(qh), h1 = v128.load(qh, 16);
      const xs0 = q80 + (h << 7), xs1 = q81 + (h << 7);
      // Elements 0..31: ql[0..32) low nibbles, qh bits 0-1; 32..63: ql[32..64) low, bits 2-3;
      // 64..95: ql[0..32) high, bits 4-5; 96..127: ql[32..64) high, bits 6-7. One scale per 16.
      for (let g: usize = 0; g < 8; g++) {
        const a = g == 0 ? q6Group(l0, false, h0, 0) : g == 1 ? q6Group(l1, false, h1, 0)
          : g == 2 ? q6Group(l2, false, h0, 2) : g == 3 ? q6Group(l3, false, h1, 2)
          : g == 4 ? q6Group(l0, true, h0, 4) : g == 5 ? q6Group(l1, true, h1, 4)
          : g == 6 ? q6Group(l2, true, h0, 6) : q6Group(l3, true, h1, 6);
        const s = i16x8.splat(<i16>load<i8>(sc + g));
        lo0 = q6Acc(lo0, a, xs0 + (g << 4), s, false);
        hi0 = q6Acc(hi0, a, xs0 + (g << 4), s, true);
        lo1 = q6Acc(lo1, a, xs1 + (g << 4), s, false);
        hi1 = q6Acc(hi1, a, xs1 + (g << 4), s, true);
      }
    }
    const dw = f16ToF32(<u32>load<u16>(x, 208));
    const d0 = f32x4.splat(dw * load<f32>(q80 - 4)), d1 = f32x4.splat(dw * load<f32>(q81 - 4));
    sums0Lo = f32x4.add(sums0Lo, f32x4.mul(d0, f32x4.convert_i32x4_s(lo0)));
    sums0Hi = f32x4.add(sums0Hi, f32x4.mul(d0, f32x4.convert_i32x4_s(hi0)));
    sums1Lo = f32x4.add(sums1Lo, f32x4.mul(d1, f32x4.convert_i32x4_s(lo1)));
    sums1Hi = f32x4.add(sums1Hi, f32x4.mul(d1, f32x4.convert_i32x4_s(hi1)));
  }
  store<f32>(o0, addLanes(0, sums0Lo, sums0Hi));
  store<f32>(o1, addLanes(0, sums1Lo, sums1Hi));
}

/** The K-quant matmul loop (bits 4, 5 or 6): tokens in pairs (the last one alone, computed as its own pair). */
// @ts-ignore: decorator
@inline function matmulK(bits: u32, out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  const nb = inF / QK_K;
  const rowBytes = <usize>nb * (bits == 4 ? Q4_K_BYTES : bits == 5 ? Q5_K_BYTES : Q6_K_BYTES);
  const tokenBytes = <usize>nb * Q8_K_BYTES;
  for (let t: u32 = 0; t < nTokens; t += 2) {
    const t1 = t + 1 < nTokens ? t + 1 : t;
    const y0 = xq + <usize>t * tokenBytes, y1 = xq + <usize>t1 * tokenBytes;
    const o0 = out + (<usize>t * outF << 2), o1 = out + (<usize>t1 * outF << 2);
    for (let r = rowStart; r < rowEnd; r++) {
      const at = <usize>r << 2;
      if (bits == 4) dotQ45K2(false, w + <usize>r * rowBytes, y0, y1, nb, o0 + at, o1 + at);
      else if (bits == 5) dotQ45K2(true, w + <usize>r * rowBytes, y0, y1, nb, o0 + at, o1 + at);
      else dotQ6K2(w + <usize>r * rowBytes, y0, y1, nb, o0 + at, o1 + at);
    }
  }
}

/**
 * out (nTokens, outF) rows [rowStart, rowEnd) = xq @ w^T: xq from quantize_q8_k (nTokens rows of
 * inF / 256 blocks), w Q4_K blocks (outF, inF / 256).
 */
export function matmul_q4_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulK(4, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** As matmul_q4_k for Q5_K weights (outF, inF / 256 blocks of 176 bytes). */
export function matmul_q5_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulK(5, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** As matmul_q4_k for Q6_K weights (outF, inF / 256 blocks of 210 bytes). */
export function matmul_q6_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulK(6, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}
