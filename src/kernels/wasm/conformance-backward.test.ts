// Conformance of the WebAssembly backward kernels of training with their reference twins
// (src/kernels/reference/linear-backward.ts, elementwise-backward.ts, attention-train.ts), for every
// build this runtime validates, on seeded random inputs whose sizes are not multiples of the vector
// width or the kernels' tiles, with slices split as threads split them. Tolerances come from the
// float32 operations each kernel does (u = 2^-24); the reference sums in float64.

import { test } from "node:test";
import assert from "node:assert/strict";
import { matmulBackwardInput, matmulBackwardWeight } from "../reference/linear-backward.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../../tensor/float16.js";
import { Rng } from "../../tensor/rng.js";
import type { FloatTensor } from "../../tensor/tensor.js";
import { U, arenas, assertClose, describeBuilds, normals } from "./harness.test-support.js";

const ARENAS = await arenas();

test(`wasm backward kernels: ${describeBuilds(ARENAS)}`, () => {
  assert.ok(ARENAS.some((a) => a.build === "simd"), "the SIMD build always runs");
});

/** A weight of `dtype` from float32 values, and its elementwise absolute value (sign bit cleared). */
function weightOf(dtype: FloatTensor["dtype"], values: Float32Array, shape: number[]): [FloatTensor, FloatTensor] {
  if (dtype === "f32") return [{ dtype, shape, data: values }, { dtype, shape, data: values.map(Math.abs) }];
  const bits = dtype === "bf16" ? f32ArrayToBf16(values) : f32ArrayToF16(values);
  return [{ dtype, shape, data: bits }, { dtype, shape, data: bits.map((b) => b & 0x7fff) }];
}

const abs = (a: Float32Array): Float32Array => a.map(Math.abs);

// Bound for both products: each output is c + alpha * sum of K products, which the kernel adds up in
// one float32 lane per output, in order, K_BLOCK (64) terms at a time, each block's partial times
// alpha then added to c: a chain of at most K + ceil(K / 64) + 2 roundings, so |error| <= (K + K/64
// + 3) u (|alpha| sum_k |a_k b_k| + |c|) (Higham's gamma, first order; 16-bit weights widen
// exactly), plus u |result| for the reference's own final rounding. sum_k |a_k b_k| is the
// reference kernel run on absolute values. A missing, repeated or misplaced term is far above this.
// The relaxed build's fused multiply-adds only remove roundings, so the bound covers both builds.
function bound(k: number, alpha: number, magnitude: Float32Array, initial: Float32Array, expected: Float32Array): (i: number) => number {
  const chain = k + Math.ceil(k / 64) + 3;
  return (i) => chain * U * (Math.abs(alpha) * magnitude[i]! + Math.abs(initial[i]!)) + U * Math.abs(expected[i]!);
}

/** (nTokens, inF, outF, slices): row and column tails, K past one block, several slices. */
const CASES: readonly (readonly [number, number, number, number])[] = [
  [1, 8, 3, 1], [5, 37, 13, 2], [4, 64, 70, 1], [9, 19, 130, 3], [16, 100, 7, 4], [3, 1, 1, 1],
];

/** [start, end) of slice s of n items in `slices` parts, as the backend's chunks (whole tiles of 4 but the last). */
function sliceOf(n: number, slices: number, s: number): [number, number] {
  const per = Math.max(4, Math.ceil(n / slices / 4) * 4);
  return [Math.min(n, s * per), Math.min(n, (s + 1) * per)];
}

for (const dtype of ["f32", "bf16", "f16"] as const) {
  test(`matmul_backward_input_${dtype} matches matmulBackwardInput within the float32 summation bound`, () => {
    const rng = new Rng(0xb4c + dtype.length);
    for (const [nTokens, inF, outF, slices] of CASES) {
      const [w, wAbs] = weightOf(dtype, normals(rng, outF * inF, 0.1), [outF, inF]); // (outF, inF)
      const dy = normals(rng, nTokens * outF); // (nTokens, outF)
      const initial = normals(rng, nTokens * inF); // (nTokens, inF) dx before: the kernel accumulates
      const alpha = 0.75;
      const expected = initial.slice();
      matmulBackwardInput(expected, dy, w, nTokens, alpha);
      const magnitude = new Float32Array(nTokens * inF);
      matmulBackwardInput(magnitude, abs(dy), wAbs, nTokens);
      const kernel = `matmul_backward_input_${dtype}` as const;
      for (const arena of ARENAS) {
        arena.reset();
        const dx = arena.put(initial);
        const [dyPtr, wPtr] = [arena.put(dy), arena.put(w.data)];
        for (let s = 0; s < slices; s++) arena.kernels[kernel](dx, dyPtr, wPtr, nTokens, inF, outF, alpha, ...sliceOf(nTokens, slices, s));
        assertClose(arena.f32(dx, nTokens * inF), expected, bound(outF, alpha, magnitude, initial, expected), `${arena.build} ${kernel} ${nTokens}x${inF}x${outF}`);
      }
    }
  });
}

test("matmul_backward_weight matches matmulBackwardWeight within the float32 summation bound", () => {
  const rng = new Rng(0xdeb);
  for (const [nTokens, inF, outF, slices] of [...CASES, [130, 21, 9, 2] as const]) {
    const x = normals(rng, nTokens * inF); // (nTokens, inF)
    const dy = normals(rng, nTokens * outF); // (nTokens, outF)
    const initial = normals(rng, outF * inF); // (outF, inF)
    const alpha = -1.5;
    const expected = initial.slice();
    matmulBackwardWeight(expected, dy, x, nTokens, outF, alpha);
    const magnitude = new Float32Array(outF * inF);
    matmulBackwardWeight(magnitude, abs(dy), abs(x), nTokens, outF);
    for (const arena of ARENAS) {
      arena.reset();
      const dw = arena.put(initial);
      const [dyPtr, xPtr] = [arena.put(dy), arena.put(x)];
      for (let s = 0; s < slices; s++) arena.kernels.matmul_backward_weight(dw, dyPtr, xPtr, nTokens, inF, outF, alpha, ...sliceOf(outF, slices, s));
      assertClose(arena.f32(dw, outF * inF), expected, bound(nTokens, alpha, magnitude, initial, expected), `${arena.build} matmul_backward_weight ${nTokens}x${inF}x${outF}`);
    }
  }
});
