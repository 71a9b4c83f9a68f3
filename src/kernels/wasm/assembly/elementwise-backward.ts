// The backward kernels of the element-wise steps in WebAssembly SIMD: RMSNorm and SwiGLU, the twins
// of src/kernels/reference/elementwise-backward.ts (RoPE's backward is elementwise.ts rope_backward). float32 where the reference uses float64
// inside, so results agree to a few roundings (the conformance test bounds them). Every loop has a
// scalar tail: no size needs to be a multiple of 4.

import { exp1, exp4, hsum } from "./vec";

/**
 * RMSNorm's gradients for tokens [0, nTokens): with r the row's scale and n = x r, dx += r (dy w -
 * n mean(dy w n)); dWeight (dim) += sum over the tokens of dy n, unless dWeight is 0 (frozen).
 * dx, dy, x (nTokens, dim), weight (dim). The scale as the forward's rmsnorm computes it.
 */
export function rmsnorm_backward(dx: usize, dWeight: usize, dy: usize, x: usize, weight: usize, nTokens: u32, dim: u32, eps: f32): void {
  for (let t: u32 = 0; t < nTokens; t++) {
    const off = (<usize>t * dim) << 2;
    const xr = x + off, dyr = dy + off, dxr = dx + off;
    let s0 = f32x4.splat(0), d0 = f32x4.splat(0);
    let i: u32 = 0;
    for (; i + 4 <= dim; i += 4) {
      const p = <usize>i << 2;
      const xv = v128.load(xr + p);
      s0 = f32x4.add(s0, f32x4.mul(xv, xv));
      d0 = f32x4.add(d0, f32x4.mul(f32x4.mul(v128.load(dyr + p), v128.load(weight + p)), xv));
    }
    let sumSquares = hsum(s0), dotX = hsum(d0);
    for (; i < dim; i++) {
      const p = <usize>i << 2;
      const xv = load<f32>(xr + p);
      sumSquares += xv * xv;
      dotX += load<f32>(dyr + p) * load<f32>(weight + p) * xv;
    }
    const r = <f32>(1.0 / Math.sqrt(<f64>(sumSquares / <f32>dim) + <f64>eps));
    // mean(dy w n) = r mean(dy w x), from the sum taken with the sum of squares (one pass over x).
    const mean = dotX * r / <f32>dim;
    const rv = f32x4.splat(r), mv = f32x4.splat(mean);
    for (i = 0; i + 4 <= dim; i += 4) {
      const p = <usize>i << 2;
      const n = f32x4.mul(v128.load(xr + p), rv);
      const dyv = v128.load(dyr + p);
      v128.store(dxr + p, f32x4.add(v128.load(dxr + p), f32x4.mul(rv, f32x4.sub(f32x4.mul(dyv, v128.load(weight + p)), f32x4.mul(n, mv)))));
      if (dWeight != 0) v128.store(dWeight + p, f32x4.add(v128.load(dWeight + p), f32x4.mul(dyv, n)));
    }
    for (; i < dim; i++) {
      const p = <usize>i << 2;
      const n = load<f32>(xr + p) * r;
      const dyv = load<f32>(dyr + p);
      store<f32>(dxr + p, load<f32>(dxr + p) + r * (dyv * load<f32>(weight + p) - n * mean));
      if (dWeight != 0) store<f32>(dWeight + p, load<f32>(dWeight + p) + dyv * n);
    }
  }
}

/**
 * h = silu(gate) * up, backward over n elements: dUp = dh silu(gate), dGate = dh up s (1 + gate (1 -
 * s)) with s = sigmoid(gate). Written, not accumulated.
 */
export function swiglu_backward(dGate: usize, dUp: usize, dh: usize, gate: usize, up: usize, n: u32): void {
  const one = f32x4.splat(1);
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    const p = <usize>i << 2;
    const g = v128.load(gate + p);
    const d = v128.load(dh + p);
    const s = f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(g))));
    v128.store(dUp + p, f32x4.mul(d, f32x4.mul(g, s)));
    const ds = f32x4.mul(s, f32x4.add(one, f32x4.mul(g, f32x4.sub(one, s))));
    v128.store(dGate + p, f32x4.mul(f32x4.mul(d, v128.load(up + p)), ds));
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const g = load<f32>(gate + p);
    const d = load<f32>(dh + p);
    const s: f32 = 1 / (1 + exp1(-g));
    store<f32>(dUp + p, d * (g * s));
    store<f32>(dGate + p, d * load<f32>(up + p) * (s * (1 + g * (1 - s))));
  }
}
