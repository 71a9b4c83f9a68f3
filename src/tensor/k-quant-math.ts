// The scalar helpers llama.cpp's K-quant reference quantizers share (ggml/src/ggml-quants.c:
// nearest_int, make_qx_quants, make_q3_quants, make_qkx2_quants, get_scale_min_k4), ported for
// bit-exact results: every float operation of the C code is one float32 operation here
// (Math.fround after each; +, -, *, / and sqrt of float32 operands computed in float64 and rounded
// once give the float32 result), in the C code's order, integers converted to float32 where C
// converts them. The block layouts themselves are in q2_k.ts ... q6_k.ts; no matrix math here.

import { f16ToF32, f32ToF16 } from "./float16.js";

/** Weights per super-block: `#define QK_K 256` in ggml/src/ggml-common.h. */
export const QK_K = 256;

/** ggml-quants.c `GROUP_MAX_EPS` (1e-15f): a group whose largest magnitude is below it is all zero. */
export const GROUP_MAX_EPS = Math.fround(1e-15);

const fr = Math.fround;
const nearestF32 = new Float32Array(1);
const nearestI32 = new Int32Array(nearestF32.buffer);

/**
 * ggml's nearest_int: round to nearest, ties to even, by adding 1.5 * 2^23 in float32 and reading
 * the low mantissa bits. For |fval| > 2^22 (where the C code's assert is compiled out) the same
 * bit trick gives the same garbage the C code gives: infinities and NaN included.
 */
export function nearestInt(fval: number): number {
  const v = fr(fval + 12582912);
  if (v >= 8388608 && v < 16777216) return v - 12582912; // exponent 2^23: the mantissa is v - 2^23
  nearestF32[0] = v;
  return (nearestI32[0]! & 0x007fffff) - 0x00400000;
}

/** MAX(lo, MIN(hi, v)), the C macros' clamp. */
export function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}

/** Store a float as float16 bits (GGML_FP32_TO_FP16: nearest, ties to even) at byte `at`. */
export function storeF16(dst: Uint8Array, at: number, value: number): void {
  const bits = f32ToF16(value);
  dst[at] = bits & 0xff;
  dst[at + 1] = bits >>> 8;
}

/** The float16 at byte `at`, widened (GGML_FP16_TO_FP32, exact). */
export function loadF16(src: Uint8Array, at: number): number {
  return f16ToF32(src[at]! | (src[at + 1]! << 8));
}

/** The float32 at byte `at` (little-endian). */
export function loadF32(src: Uint8Array, at: number): number {
  nearestI32[0] = src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24);
  return nearestF32[0]!;
}

/** Store a float32 (little-endian) at byte `at`. */
export function storeF32(dst: Uint8Array, at: number, value: number): void {
  nearestF32[0] = value;
  const bits = nearestI32[0]!;
  dst[at] = bits & 0xff;
  dst[at + 1] = (bits >>> 8) & 0xff;
  dst[at + 2] = (bits >>> 16) & 0xff;
  dst[at + 3] = bits >>> 24;
}

/**
 * make_qx_quants with rmse_type 1 and no quant weights (w = x * x), as quantize_row_q6_K_ref calls
 * it: symmetric quants in [-nmax, nmax) of `n` values from x[x0], L[l0 + i] = quant + nmax, the
 * scale searched over 19 candidate inverse scales. Returns the scale.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, x0: number, L: Int8Array | Uint8Array, l0: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[x0 + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[x0 + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[l0 + i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[x0 + i]!;
    const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
    L[l0 + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[x0 + i]!;
      const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) L[l0 + i] = nmax + clamp(nearestInt(fr(iscale * x[x0 + i]!)), -nmax, nmax - 1);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_q3_quants with do_rmse, as quantize_row_q3_K_ref calls it: quants in [-nmax, nmax) of `n`
 * values from x[x0] refined by up to five passes of coordinate descent on the weighted error
 * (w = x * x); L[l0 + i] = quant + nmax. Returns the scale.
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, x0: number, L: Int8Array, l0: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[x0 + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[x0 + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[l0 + i] = 0;
    return 0;
  }
  const iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[x0 + i]!;
    const l = clamp(nearestInt(fr(iscale * xi)), -nmax, nmax - 1);
    L[l0 + i] = l;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[x0 + i]!;
      const li = L[l0 + i]!;
      const w = fr(xi * xi);
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * li) * li));
        const newL = clamp(nearestInt(fr(fr(xi * sl2) / slx)), -nmax, nmax - 1);
        if (newL !== li) {
          slx = fr(slx + fr(fr(w * xi) * newL));
          sl2 = fr(sl2 + fr(fr(w * newL) * newL));
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[l0 + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (nChanged === 0) break;
  }
  for (let i = 0; i < n; i++) L[l0 + i] = L[l0 + i]! + nmax;
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

/** What makeQkx2Quants returns: the scale, and the offset as a positive number (C's *the_min = -min). */
export interface ScaleMin {
  scale: number;
  min: number;
}

/**
 * make_qkx2_quants: asymmetric quants in [0, nmax] of `n` values from x[x0] with per-value
 * `weights`, x ~ scale * L + min (min <= 0), searching nstep + 1 inverse scales from
 * (rmin + nmax) / (max - min) in steps of rdelta for the least weighted error (absolute with
 * useMad, else squared), each candidate's scale and min by weighted least squares. Writes L[l0..],
 * uses `laux` (n bytes) as scratch. Returns { scale, min: -min } in `out`.
 */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, x0: number, weights: Float32Array, L: Uint8Array, l0: number, laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number, useMad: boolean, out: ScaleMin,
): void {
  let min = x[x0]!;
  let max = x[x0]!;
  let sumW = weights[0]!;
  let sumX = fr(sumW * x[x0]!);
  for (let i = 1; i < n; i++) {
    const xi = x[x0 + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[l0 + i] = 0;
    out.scale = 0;
    out.min = -min;
    return;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[x0 + i]!;
    const l = clamp(nearestInt(fr(iscale * fr(xi - min))), 0, nmax);
    L[l0 + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(weights[i]! * diff));
  }
  if (nstep < 1) {
    out.scale = scale;
    out.min = -min;
    return;
  }
  for (let is = 0; is <= nstep; is++) {
    // min is the best candidate's so far (as in the C code), so the range moves with it.
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXl = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[x0 + i]!;
      const l = clamp(nearestInt(fr(iscale * fr(xi - min))), 0, nmax);
      laux[i] = l;
      const wl = fr(weights[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXl = fr(sumXl + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXl) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXl)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXl / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * laux[i]!) + thisMin) - x[x0 + i]!);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(weights[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[l0 + i] = laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  out.scale = scale;
  out.min = -min;
}

/**
 * get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7) from the twelve packed bytes of a
 * Q4_K/Q5_K block at `at`, returned as scale | (min << 8).
 */
export function scaleMinK4(j: number, q: Uint8Array, at: number): number {
  if (j < 4) return (q[at + j]! & 63) | ((q[at + j + 4]! & 63) << 8);
  const d = (q[at + j + 4]! & 0xf) | ((q[at + j - 4]! >> 6) << 4);
  const m = (q[at + j + 4]! >> 4) | ((q[at + j]! >> 6) << 4);
  return d | (m << 8);
}
