// The reference kernels on small inputs whose results are known by hand, or by a property the
// operation must have. (Optimized twins are tested against these kernels, not against these cases.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { f32ArrayToBf16, f32ArrayToF16 } from "../../tensor/float16.js";
import { attention, type KvRows } from "./attention.js";
import { addInPlace, rmsNorm, swiglu } from "./elementwise.js";
import { embed, matmul } from "./linear.js";
import { rope } from "./rope.js";
import { Rng } from "../../tensor/rng.js";

const f32Rows = (data: Float32Array): KvRows => ({ dtype: "f32", data });
const close = (a: number, b: number, tol = 1e-6): boolean => Math.abs(a - b) <= tol;

test("matmul computes x @ w^T for every weight dtype", () => {
  // w (3, 2), x (2, 2): values exactly representable in bf16 and f16.
  const w = new Float32Array([1, 2, -0.5, 0.25, 3, -1]);
  const x = new Float32Array([1, 1, 2, -4]);
  const expected = [3, -0.25, 2, -6, -2, 10];
  for (const weight of [
    { dtype: "f32", shape: [3, 2], data: w } as const,
    { dtype: "bf16", shape: [3, 2], data: f32ArrayToBf16(w) } as const,
    { dtype: "f16", shape: [3, 2], data: f32ArrayToF16(w) } as const,
  ]) {
    const out = new Float32Array(6);
    matmul(out, x, weight, 2);
    assert.deepEqual([...out], expected, weight.dtype);
  }
});

test("embed copies rows of the table", () => {
  const table = { dtype: "bf16", shape: [3, 2], data: f32ArrayToBf16(new Float32Array([0, 1, 2, 3, 4, 5])) } as const;
  const out = new Float32Array(6);
  embed(out, table, [2, 0, 2]);
  assert.deepEqual([...out], [4, 5, 0, 1, 4, 5]);
});

test("rmsNorm scales rows to unit root-mean-square, then by the weight", () => {
  const x = new Float32Array([3, 4, 0, 0, -2, 2]);
  const out = new Float32Array(6);
  rmsNorm(out, x, new Float32Array([1, 2]), 3, 0);
  // row 0: rms = sqrt((9 + 16) / 2); row 1 is zero (eps 0 gives 0/0: not used); row 2: rms = 2.
  const rms = Math.sqrt(12.5);
  assert.ok(close(out[0]!, 3 / rms) && close(out[1]!, (2 * 4) / rms));
  assert.ok(close(out[4]!, -1) && close(out[5]!, 2));
  const withEps = new Float32Array(2);
  rmsNorm(withEps, new Float32Array([0, 0]), new Float32Array([1, 1]), 1, 1e-5);
  assert.deepEqual([...withEps], [0, 0]);
});

test("swiglu is silu(gate) * up, and the residual add adds", () => {
  const out = new Float32Array(3);
  swiglu(out, new Float32Array([0, 1, -1]), new Float32Array([5, 2, 2]));
  assert.ok(close(out[0]!, 0) && close(out[1]!, (2 * 1) / (1 + Math.exp(-1))) && close(out[2]!, (2 * -1) / (1 + Math.exp(1))));
  const acc = new Float32Array([1, 2]);
  addInPlace(acc, new Float32Array([0.5, -2]));
  assert.deepEqual([...acc], [1.5, 0]);
});

test("rope rotates element i with i + headDim/2 by the position's angle", () => {
  // One token, one head of 4: pairs (0, 2) and (1, 3), angles 90 degrees and 0.
  const x = new Float32Array([1, 5, 2, 7]);
  rope(x, 1, 1, 4, new Float32Array([0, 1]), new Float32Array([1, 0]));
  assert.deepEqual([...x], [-2, 5, 1, 7]);
});

test("attention: one visible position returns its value; grouped heads share kv heads; causal", () => {
  const headDim = 2;
  // Two cached positions, one kv head; four query heads share it (group of 4).
  const keys = new Float32Array([1, 0, 0, 1]);
  const values = new Float32Array([10, 20, 30, 40]);
  const q = new Float32Array(2 * 4 * headDim).fill(1);
  const out = new Float32Array(2 * 4 * headDim);
  attention(out, q, f32Rows(keys), f32Rows(values), { nTokens: 2, startPos: 0, nHeads: 4, nKvHeads: 1, headDim });
  // Token 0 sees only position 0: output = value 0 for every head.
  for (let h = 0; h < 4; h++) assert.deepEqual([...out.subarray(h * 2, h * 2 + 2)], [10, 20]);
  // Token 1 sees both with equal scores (q . k = 1 for both): the mean of the values.
  for (let h = 0; h < 4; h++) assert.deepEqual([...out.subarray(8 + h * 2, 8 + h * 2 + 2)], [20, 30]);
});

test("attention weights follow softmax(q.k / sqrt(headDim))", () => {
  const keys = new Float32Array([2, 0, 0, 0]); // (2 positions, 1 kv head, headDim 2)
  const values = new Float32Array([1, 0, 0, 1]);
  const q = new Float32Array([1, 0]); // scores: 2 / sqrt(2), 0
  const out = new Float32Array(2);
  attention(out, q, f32Rows(keys), f32Rows(values), { nTokens: 1, startPos: 1, nHeads: 1, nKvHeads: 1, headDim: 2 });
  const p0 = Math.exp(Math.SQRT2) / (Math.exp(Math.SQRT2) + 1);
  assert.ok(close(out[0]!, p0) && close(out[1]!, 1 - p0));
});

test("attention widens f16 and bf16 keys/values exactly", () => {
  // Values exactly representable in both 16-bit formats: a 16-bit cache must give the float32 result
  // bit for bit (a wrong widening, e.g. reading half bits as bfloat16, changes every output).
  const rng = new Rng(7);
  const shape = { nTokens: 3, startPos: 2, nHeads: 4, nKvHeads: 2, headDim: 6 };
  const n = (shape.startPos + shape.nTokens) * shape.nKvHeads * shape.headDim;
  const exact = (): Float32Array => Float32Array.from({ length: n }, () => Math.round((rng.uniform() - 0.5) * 64) / 16);
  const keys = exact();
  const values = exact();
  const q = Float32Array.from({ length: shape.nTokens * shape.nHeads * shape.headDim }, () => rng.uniform() - 0.5);
  const expected = new Float32Array(q.length);
  attention(expected, q, f32Rows(keys), f32Rows(values), shape);
  for (const [dtype, narrow] of [["f16", f32ArrayToF16], ["bf16", f32ArrayToBf16]] as const) {
    const out = new Float32Array(q.length);
    attention(out, q, { dtype, data: narrow(keys) }, { dtype, data: narrow(values) }, shape);
    assert.deepEqual(out, expected, dtype);
  }
});
