// Every backward kernel against central finite differences of its forward, computed in float64: for
// a random upstream gradient dy, the directional loss L(x) = sum(dy * f(x)) is differentiated
// numerically coordinate by coordinate. The forwards here are written out in float64 from the
// formulas (not the float32 kernels), so the check is against the math. Inputs are float32 values
// (the kernels' arrays); the step h = 1e-4 leaves a truncation error of order h^2 |f'''| ~ 1e-8,
// and the kernels store float32 results (relative 6e-8), attention also rounding each score dot to
// float32 as the forward does: a tolerance of 1e-5 of the largest gradient, where a wrong term is
// off by order one.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../tensor/rng.js";
import { attentionBackwardMasked, attentionForwardMasked, type TrainAttentionShape } from "./attention-train.js";
import { rmsNormBackward, ropeBackward, swigluBackward } from "./elementwise-backward.js";
import { embedBackward, matmulBackwardInput, matmulBackwardWeight } from "./linear-backward.js";

const H = 1e-4;

function random(rng: Rng, n: number, scale = 1): Float32Array {
  return new Float32Array(n).map(() => rng.normal() * scale);
}

/** Check grad against d/dx_i of loss(x) for every coordinate of x (x is perturbed in a float64 copy). */
function checkGradient(name: string, x: Float32Array, grad: Float32Array, loss: (x: Float64Array) => number): void {
  const x64 = Float64Array.from(x);
  let scale = 0;
  for (const g of grad) scale = Math.max(scale, Math.abs(g));
  assert.ok(scale > 0, `${name}: an all-zero gradient checks nothing`);
  for (let i = 0; i < x.length; i++) {
    const saved = x64[i]!;
    x64[i] = saved + H;
    const up = loss(x64);
    x64[i] = saved - H;
    const down = loss(x64);
    x64[i] = saved;
    const numeric = (up - down) / (2 * H);
    assert.ok(Math.abs(numeric - grad[i]!) <= 1e-5 * scale, `${name}[${i}]: analytic ${grad[i]}, numeric ${numeric}`);
  }
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

test("matmul backward: dx = dy w and dw = dy^T x (also alpha-scaled)", () => {
  const rng = new Rng(1);
  const [n, inF, outF] = [3, 5, 4];
  const x = random(rng, n * inF);
  const w = random(rng, outF * inF);
  const dy = random(rng, n * outF);
  const f = (xv: ArrayLike<number>, wv: ArrayLike<number>): number => {
    let s = 0;
    for (let t = 0; t < n; t++) for (let o = 0; o < outF; o++) {
      let y = 0;
      for (let i = 0; i < inF; i++) y += xv[t * inF + i]! * wv[o * inF + i]!;
      s += dy[t * outF + o]! * y;
    }
    return s;
  };
  const dx = new Float32Array(n * inF);
  matmulBackwardInput(dx, dy, { dtype: "f32", shape: [outF, inF], data: w }, n);
  checkGradient("dx", x, dx, (xv) => f(xv, w));
  const dw = new Float32Array(outF * inF);
  matmulBackwardWeight(dw, dy, x, n, outF);
  checkGradient("dw", w, dw, (wv) => f(x, wv));
  // alpha scales, and the kernels accumulate into what the buffers hold.
  const dx2 = Float32Array.from(dx);
  matmulBackwardInput(dx2, dy, { dtype: "f32", shape: [outF, inF], data: w }, n, 2);
  dx2.forEach((v, i) => assert.ok(Math.abs(v - 3 * dx[i]!) <= 1e-6 * Math.abs(dx[i]!) + 1e-7));
});

test("embedding backward sums the rows of repeated ids", () => {
  const rng = new Rng(2);
  const [vocab, dim] = [6, 4];
  const ids = [2, 5, 2, 0];
  const table = random(rng, vocab * dim);
  const dy = random(rng, ids.length * dim);
  const dTable = new Float32Array(vocab * dim);
  embedBackward(dTable, dy, ids, dim);
  checkGradient("dTable", table, Float32Array.from(dTable), (tv) => {
    let s = 0;
    ids.forEach((id, t) => { for (let i = 0; i < dim; i++) s += dy[t * dim + i]! * tv[id * dim + i]!; });
    return s;
  });
  assert.deepEqual(Array.from(dTable.subarray(dim, 2 * dim)), [0, 0, 0, 0]);
});

test("RMSNorm backward: dx and dweight", () => {
  const rng = new Rng(3);
  const [n, dim, eps] = [3, 8, 1e-5];
  const x = random(rng, n * dim, 0.7);
  const w = random(rng, dim).map((v) => 1 + 0.3 * v);
  const dy = random(rng, n * dim);
  const f = (xv: ArrayLike<number>, wv: ArrayLike<number>): number => {
    let s = 0;
    for (let t = 0; t < n; t++) {
      let ss = 0;
      for (let i = 0; i < dim; i++) ss += xv[t * dim + i]! ** 2;
      const r = 1 / Math.sqrt(ss / dim + eps);
      for (let i = 0; i < dim; i++) s += dy[t * dim + i]! * xv[t * dim + i]! * r * wv[i]!;
    }
    return s;
  };
  const dx = new Float32Array(n * dim);
  const dw = new Float32Array(dim);
  rmsNormBackward(dx, dw, dy, x, w, n, eps);
  checkGradient("dx", x, dx, (xv) => f(xv, w));
  checkGradient("dweight", w, dw, (wv) => f(x, wv));
});

test("SwiGLU backward: dgate and dup", () => {
  const rng = new Rng(4);
  const n = 12;
  const gate = random(rng, n, 2);
  const up = random(rng, n);
  const dh = random(rng, n);
  const f = (g: ArrayLike<number>, u: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += dh[i]! * (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
    return s;
  };
  const dGate = new Float32Array(n);
  const dUp = new Float32Array(n);
  swigluBackward(dGate, dUp, dh, gate, up);
  checkGradient("dgate", gate, dGate, (g) => f(g, up));
  checkGradient("dup", up, dUp, (u) => f(gate, u));
});

test("RoPE backward is the transpose of the rotation", () => {
  const rng = new Rng(5);
  const [n, nHeads, headDim] = [3, 2, 8];
  const half = headDim / 2;
  const angles = random(rng, n * half, 2);
  const cos = angles.map(Math.cos);
  const sin = angles.map(Math.sin);
  const x = random(rng, n * nHeads * headDim);
  const dy = random(rng, n * nHeads * headDim);
  const d = Float32Array.from(dy);
  ropeBackward(d, n, nHeads, headDim, cos, sin);
  checkGradient("dx", x, d, (xv) => {
    let s = 0;
    for (let t = 0; t < n; t++) for (let h = 0; h < nHeads; h++) for (let i = 0; i < half; i++) {
      const base = (t * nHeads + h) * headDim;
      const [c, sn] = [cos[t * half + i]!, sin[t * half + i]!];
      const [x0, x1] = [xv[base + i]!, xv[base + half + i]!];
      s += dy[base + i]! * (x0 * c - x1 * sn) + dy[base + half + i]! * (x1 * c + x0 * sn);
    }
    return s;
  });
});

test("masked GQA attention backward: dq, dk, dv, with a padded row and a fully masked query", () => {
  const rng = new Rng(6);
  const shape: TrainAttentionShape = { rows: 2, seqLen: 5, nHeads: 4, nKvHeads: 2, headDim: 4 };
  const { rows, seqLen, nHeads, nKvHeads, headDim } = shape;
  const n = rows * seqLen;
  // Row 1: two real tokens then padding; row 0 starts with a masked key, so its query 0 sees nothing.
  const mask = Uint8Array.from([0, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
  const q = random(rng, n * nHeads * headDim);
  const k = random(rng, n * nKvHeads * headDim);
  const v = random(rng, n * nKvHeads * headDim);
  const dOut = random(rng, n * nHeads * headDim);
  const f = (qv: ArrayLike<number>, kv: ArrayLike<number>, vv: ArrayLike<number>): number => {
    const kvDim = nKvHeads * headDim;
    let s = 0;
    for (let b = 0; b < rows; b++) for (let t = 0; t < seqLen; t++) for (let h = 0; h < nHeads; h++) {
      const qo = ((b * seqLen + t) * nHeads + h) * headDim;
      const ko = Math.floor(h / (nHeads / nKvHeads)) * headDim;
      const keys = [...Array(t + 1).keys()].filter((p) => mask[b * seqLen + p] === 1);
      if (keys.length === 0) continue;
      const scores = keys.map((p) => { let d = 0; for (let i = 0; i < headDim; i++) d += qv[qo + i]! * kv[(b * seqLen + p) * kvDim + ko + i]!; return d / Math.sqrt(headDim); });
      const max = Math.max(...scores);
      const e = scores.map((x) => Math.exp(x - max));
      const z = e.reduce((a, c) => a + c, 0);
      for (let i = 0; i < headDim; i++) {
        let o = 0;
        keys.forEach((p, j) => { o += (e[j]! / z) * vv[(b * seqLen + p) * kvDim + ko + i]!; });
        s += dOut[qo + i]! * o;
      }
    }
    return s;
  };
  const out = new Float32Array(n * nHeads * headDim);
  const lse = new Float64Array(n * nHeads);
  attentionForwardMasked(out, lse, q, k, v, mask, shape);
  assert.equal(lse[0], -Infinity);
  assert.deepEqual(Array.from(out.subarray(0, nHeads * headDim)), new Array(nHeads * headDim).fill(0));
  // The forward itself against the float64 formula: L = sum(dOut * out).
  assert.ok(Math.abs(dot(dOut, out) - f(q, k, v)) < 1e-5);
  const dq = new Float32Array(q.length);
  const dk = new Float32Array(k.length);
  const dv = new Float32Array(v.length);
  attentionBackwardMasked(dq, dk, dv, dOut, q, k, v, lse, mask, shape);
  checkGradient("dq", q, dq, (qv) => f(qv, k, v));
  checkGradient("dk", k, dk, (kv) => f(q, kv, v));
  checkGradient("dv", v, dv, (vv) => f(q, k, vv));
});
