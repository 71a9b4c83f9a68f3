// The backward matrix products of a linear layer in WebAssembly SIMD: the twins of
// src/kernels/reference/linear-backward.ts matmulBackwardInput (dx += alpha dy @ w) and
// matmulBackwardWeight (dw += alpha dy^T @ x), for float32, bfloat16 and float16 weights (a 16-bit
// weight is widened in registers, exactly, as the forward matmul does). Both are one product,
// C (M, N) += alpha * A (M, K) @ B (K, N) with B row-major and A read through strides: dx has A = dy
// (row stride outF, column stride 1) and B = w; dw has A = dy^T (row stride 1, column stride outF)
// and B = x. Neither operand is transposed in memory.
//
// C is tiled four rows by eight columns (eight accumulators), each step a rank-1 update: four A
// elements broadcast (load32_splat) times one row of eight B elements. K is walked in blocks of
// K_BLOCK so that a block of B stays in L2 while the row tiles of a thread's slice pass over it, and
// C gains each block's partial sum (times alpha). Sums are float32 in another order than the
// reference's float64, so results agree to rounding (the conformance test bounds it).

import { BF16, F16, F32, elementBytes, floatHi, floatLo, floatScalar } from "./float-weights";
import { f16High, madd } from "./vec";

/** Steps of K per block: 64 rows of B, 128 KiB of float32 at N = 512 (L2-resident across row tiles). */
const K_BLOCK: u32 = 64;

/** c[0..8) += alpha * acc (lo, hi). */
// @ts-ignore: decorator
@inline function addInto(c: usize, lo: v128, hi: v128, alpha: v128): void {
  v128.store(c, f32x4.add(v128.load(c), f32x4.mul(lo, alpha)));
  v128.store(c, f32x4.add(v128.load(c, 16), f32x4.mul(hi, alpha)), 16);
}

/**
 * Rows m .. m+3, columns n .. n+7 of C += alpha * A @ B over k in [k0, k1). `as` and `ks` are A's
 * row and column strides in bytes.
 */
// @ts-ignore: decorator
@inline function tile4x8(dt: i32, c: usize, a: usize, b: usize, N: u32, as: usize, ks: usize, alpha: v128, m: u32, n: u32, k0: u32, k1: u32): void {
  const eb = elementBytes(dt);
  const bRow = <usize>N * eb;
  let a0 = a + <usize>m * as + <usize>k0 * ks;
  let bp = b + <usize>k0 * bRow + <usize>n * eb;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = k0; k < k1; k++) {
    const r = v128.load(bp);
    const s = dt == F16 ? f16High(r) : r;
    const lo = floatLo(dt, r, s), hi = floatHi(dt, bp, r, s);
    let x = v128.load32_splat(a0);
    c00 = madd(x, lo, c00); c01 = madd(x, hi, c01);
    x = v128.load32_splat(a0 + as);
    c10 = madd(x, lo, c10); c11 = madd(x, hi, c11);
    x = v128.load32_splat(a0 + as * 2);
    c20 = madd(x, lo, c20); c21 = madd(x, hi, c21);
    x = v128.load32_splat(a0 + as * 3);
    c30 = madd(x, lo, c30); c31 = madd(x, hi, c31);
    a0 += ks;
    bp += bRow;
  }
  const cRow = <usize>N << 2;
  const cp = c + <usize>m * cRow + (<usize>n << 2);
  addInto(cp, c00, c01, alpha);
  addInto(cp + cRow, c10, c11, alpha);
  addInto(cp + cRow * 2, c20, c21, alpha);
  addInto(cp + cRow * 3, c30, c31, alpha);
}

/** Row m, columns n .. n+7 (the row tail of a slice). */
// @ts-ignore: decorator
@inline function tile1x8(dt: i32, c: usize, a: usize, b: usize, N: u32, as: usize, ks: usize, alpha: v128, m: u32, n: u32, k0: u32, k1: u32): void {
  const eb = elementBytes(dt);
  const bRow = <usize>N * eb;
  let ap = a + <usize>m * as + <usize>k0 * ks;
  let bp = b + <usize>k0 * bRow + <usize>n * eb;
  let lo0 = f32x4.splat(0), hi0 = f32x4.splat(0);
  for (let k = k0; k < k1; k++) {
    const r = v128.load(bp);
    const s = dt == F16 ? f16High(r) : r;
    const x = v128.load32_splat(ap);
    lo0 = madd(x, floatLo(dt, r, s), lo0);
    hi0 = madd(x, floatHi(dt, bp, r, s), hi0);
    ap += ks;
    bp += bRow;
  }
  addInto(c + ((<usize>m * N + n) << 2), lo0, hi0, alpha);
}

/** Rows [m0, m1), columns [n0, N) one element at a time (the column tail, N not a multiple of 8). */
// @ts-ignore: decorator
@inline function columnTail(dt: i32, c: usize, a: usize, b: usize, N: u32, as: usize, ks: usize, alpha: f32, m0: u32, m1: u32, n0: u32, k0: u32, k1: u32): void {
  const eb = elementBytes(dt);
  const bRow = <usize>N * eb;
  for (let m = m0; m < m1; m++) {
    for (let n = n0; n < N; n++) {
      let ap = a + <usize>m * as + <usize>k0 * ks;
      let bp = b + <usize>k0 * bRow + <usize>n * eb;
      let sum: f32 = 0;
      for (let k = k0; k < k1; k++) {
        sum += load<f32>(ap) * floatScalar(dt, bp);
        ap += ks;
        bp += bRow;
      }
      const cp = c + ((<usize>m * N + n) << 2);
      store<f32>(cp, load<f32>(cp) + alpha * sum);
    }
  }
}

/** Rows [m0, m1) of C (M, N) += alpha * A @ B, B (K, N) of dtype dt; A's strides in elements. */
// @ts-ignore: decorator
@inline function productSlice(dt: i32, c: usize, a: usize, b: usize, K: u32, N: u32, aRowStride: u32, aColStride: u32, alpha: f32, m0: u32, m1: u32): void {
  const as = <usize>aRowStride << 2;
  const ks = <usize>aColStride << 2;
  const av = f32x4.splat(alpha);
  const n8 = N & ~7;
  for (let k0: u32 = 0; k0 < K; k0 += K_BLOCK) {
    const k1 = min(K, k0 + K_BLOCK);
    let m = m0;
    for (; m + 4 <= m1; m += 4) for (let n: u32 = 0; n < n8; n += 8) tile4x8(dt, c, a, b, N, as, ks, av, m, n, k0, k1);
    for (; m < m1; m++) for (let n: u32 = 0; n < n8; n += 8) tile1x8(dt, c, a, b, N, as, ks, av, m, n, k0, k1);
    if (n8 < N) columnTail(dt, c, a, b, N, as, ks, alpha, m0, m1, n8, k0, k1);
  }
}

/**
 * Tokens [tokenStart, tokenEnd) of dx (nTokens, inF) += alpha * dy (nTokens, outF) @ w (outF, inF),
 * w float32.
 */
export function matmul_backward_input_f32(dx: usize, dy: usize, w: usize, nTokens: u32, inF: u32, outF: u32, alpha: f32, tokenStart: u32, tokenEnd: u32): void {
  productSlice(F32, dx, dy, w, outF, inF, outF, 1, alpha, tokenStart, tokenEnd);
}

/** As matmul_backward_input_f32 with w bfloat16 bits. */
export function matmul_backward_input_bf16(dx: usize, dy: usize, w: usize, nTokens: u32, inF: u32, outF: u32, alpha: f32, tokenStart: u32, tokenEnd: u32): void {
  productSlice(BF16, dx, dy, w, outF, inF, outF, 1, alpha, tokenStart, tokenEnd);
}

/** As matmul_backward_input_f32 with w IEEE half bits. */
export function matmul_backward_input_f16(dx: usize, dy: usize, w: usize, nTokens: u32, inF: u32, outF: u32, alpha: f32, tokenStart: u32, tokenEnd: u32): void {
  productSlice(F16, dx, dy, w, outF, inF, outF, 1, alpha, tokenStart, tokenEnd);
}

/**
 * Rows [rowStart, rowEnd) of dw (outF, inF) += alpha * dy^T (outF, nTokens) @ x (nTokens, inF),
 * dy (nTokens, outF).
 */
export function matmul_backward_weight(dw: usize, dy: usize, x: usize, nTokens: u32, inF: u32, outF: u32, alpha: f32, rowStart: u32, rowEnd: u32): void {
  productSlice(F32, dw, dy, x, nTokens, inF, 1, outF, alpha, rowStart, rowEnd);
}
