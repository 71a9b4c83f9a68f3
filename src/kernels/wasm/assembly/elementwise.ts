// The normalisation and element-wise kernels in WebAssembly SIMD: RMSNorm, rotary embeddings,
// SwiGLU, the residual add and softmax. Twins of src/kernels/reference/elementwise.ts, rope.ts and
// softmax.ts; they compute in float32 (the reference rounds some intermediates through float64), so
// they agree to a few float32 roundings, which the conformance test bounds. Pointers are byte
// offsets, sizes element counts; every loop has a scalar tail, so no size needs to be a multiple of 4.

import { exp1, exp4, hmax, hsum } from "./vec";

/**
 * out (nTokens, dim) = x / sqrt(mean(x^2) + eps) * weight (dim), row by row. out may equal x.
 */
export function rmsnorm(out: usize, x: usize, weight: usize, nTokens: u32, dim: u32, eps: f32): void {
  const d4 = dim & ~3;
  for (let t: u32 = 0; t < nTokens; t++) {
    const xr = x + ((<usize>t * dim) << 2);
    const or = out + ((<usize>t * dim) << 2);
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    let i: u32 = 0;
    for (; i + 8 <= dim; i += 8) {
      const a = v128.load(xr + (<usize>i << 2));
      const b = v128.load(xr + (<usize>i << 2), 16);
      s0 = f32x4.add(s0, f32x4.mul(a, a));
      s1 = f32x4.add(s1, f32x4.mul(b, b));
    }
    let sumSquares = hsum(f32x4.add(s0, s1));
    for (; i < dim; i++) {
      const v = load<f32>(xr + (<usize>i << 2));
      sumSquares += v * v;
    }
    // As the reference: the mean rounded to float32, then 1 / sqrt(mean + eps) in float64.
    const scale = <f32>(1.0 / Math.sqrt(<f64>(sumSquares / <f32>dim) + <f64>eps));
    const sv = f32x4.splat(scale);
    for (i = 0; i < d4; i += 4) {
      const p = <usize>i << 2;
      v128.store(or + p, f32x4.mul(f32x4.mul(v128.load(xr + p), sv), v128.load(weight + p)));
    }
    for (; i < dim; i++) {
      const p = <usize>i << 2;
      store<f32>(or + p, load<f32>(xr + p) * scale * load<f32>(weight + p));
    }
  }
}

/**
 * Rotate x (nTokens, nHeads, headDim) in place, halves layout: element i pairs with i + headDim/2,
 * by the angles of its token; cos and sin are (nTokens, headDim / 2).
 */
export function rope(x: usize, nTokens: u32, nHeads: u32, headDim: u32, cos: usize, sin: usize): void {
  rotatePairs(x, nTokens, nHeads, headDim, cos, sin, false);
}

/**
 * RoPE's backward in place on d (nTokens, nHeads, headDim): the transpose of each pair's rotation,
 * the rotation by the opposite angle (d0' = d0 c + d1 s, d1' = d1 c - d0 s); the twin of
 * elementwise-backward.ts ropeBackward.
 */
export function rope_backward(d: usize, nTokens: u32, nHeads: u32, headDim: u32, cos: usize, sin: usize): void {
  rotatePairs(d, nTokens, nHeads, headDim, cos, sin, true);
}

/** The rotation of rope(), by the negated angles when `inverse` (x * -s is exactly -(x * s)). */
// @ts-ignore: decorator
@inline function rotatePairs(x: usize, nTokens: u32, nHeads: u32, headDim: u32, cos: usize, sin: usize, inverse: bool): void {
  const half = headDim >> 1;
  const halfBytes = <usize>half << 2;
  for (let t: u32 = 0; t < nTokens; t++) {
    const ct = cos + ((<usize>t * half) << 2);
    const st = sin + ((<usize>t * half) << 2);
    for (let h: u32 = 0; h < nHeads; h++) {
      const base = x + ((<usize>(t * nHeads + h) * headDim) << 2);
      let i: u32 = 0;
      for (; i + 4 <= half; i += 4) {
        const p = <usize>i << 2;
        const c = v128.load(ct + p);
        const s = inverse ? f32x4.neg(v128.load(st + p)) : v128.load(st + p);
        const x0 = v128.load(base + p), x1 = v128.load(base + halfBytes + p);
        v128.store(base + p, f32x4.sub(f32x4.mul(x0, c), f32x4.mul(x1, s)));
        v128.store(base + halfBytes + p, f32x4.add(f32x4.mul(x1, c), f32x4.mul(x0, s)));
      }
      for (; i < half; i++) {
        const p = <usize>i << 2;
        const c = load<f32>(ct + p);
        const s = inverse ? -load<f32>(st + p) : load<f32>(st + p);
        const x0 = load<f32>(base + p), x1 = load<f32>(base + halfBytes + p);
        store<f32>(base + p, x0 * c - x1 * s);
        store<f32>(base + halfBytes + p, x1 * c + x0 * s);
      }
    }
  }
}

/** out = silu(gate) * up = gate / (1 + e^-gate) * up, element-wise over n. out may equal gate or up. */
export function swiglu(out: usize, gate: usize, up: usize, n: u32): void {
  const one = f32x4.splat(1);
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    const p = <usize>i << 2;
    const g = v128.load(gate + p);
    const silu = f32x4.div(g, f32x4.add(one, exp4(f32x4.neg(g))));
    v128.store(out + p, f32x4.mul(silu, v128.load(up + p)));
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const g = load<f32>(gate + p);
    store<f32>(out + p, (g / (1 + exp1(-g))) * load<f32>(up + p));
  }
}

/** out += x, element-wise over n. */
export function add(out: usize, x: usize, n: u32): void {
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) {
    const p = <usize>i << 2;
    v128.store(out + p, f32x4.add(v128.load(out + p), v128.load(x + p)));
    v128.store(out + p, f32x4.add(v128.load(out + p, 16), v128.load(x + p, 16)), 16);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(out + p, load<f32>(out + p) + load<f32>(x + p));
  }
}

/** x (n) = softmax(x) in place: e^(x - max) / sum. n >= 1. */
export function softmax(x: usize, n: u32): void {
  let mv = f32x4.splat(-Infinity);
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) mv = f32x4.max(mv, v128.load(x + (<usize>i << 2)));
  let max = hmax(mv);
  for (; i < n; i++) max = Mathf.max(max, load<f32>(x + (<usize>i << 2)));
  const mvs = f32x4.splat(max);
  let sv = f32x4.splat(0);
  for (i = 0; i + 4 <= n; i += 4) {
    const p = <usize>i << 2;
    const e = exp4(f32x4.sub(v128.load(x + p), mvs));
    v128.store(x + p, e);
    sv = f32x4.add(sv, e);
  }
  let sum = hsum(sv);
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const e = exp1(load<f32>(x + p) - max);
    store<f32>(x + p, e);
    sum += e;
  }
  const inv = f32x4.splat(1 / sum);
  for (i = 0; i + 4 <= n; i += 4) {
    const p = <usize>i << 2;
    v128.store(x + p, f32x4.mul(v128.load(x + p), inv));
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(x + p, load<f32>(x + p) * (1 / sum));
  }
}
