// The Q8_0 format and quantizer: block layout, hand-made blocks whose quants follow from
// quantize_row_q8_0_ref by hand (zero block, negative absolute maximum, rounding ties, which scale
// divides, float16 rounding of the scale), the round-trip error bound on seeded random rows, and the
// typed errors for inputs Q8_0 cannot hold. (Checked once outside the repo: identical bytes to the
// Q8_0 GGUF tensors that ../shared/anchors/llamacpp/make_model.mjs writes for its tiny preset.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { NumericalError, ShapeError, UnsupportedError } from "../errors.js";
import { f16ToF32, f32ArrayToBf16, f32ArrayToF16 } from "./float16.js";
import {
  Q8_0_BLOCK_BYTES, Q8_0_BLOCK_SIZE, q8_0Quant, q8_0Scale,
} from "./q8_0.js";
import { type QuantTensor, dequantizeTensor, makeQuantTensor, quantizeTensor } from "./quant-formats.js";
import { Rng } from "./rng.js";

/** Quantize one row of values (a multiple of 32). */
function quantizeRow(values: readonly number[]): QuantTensor {
  return quantizeTensor({ dtype: "f32", shape: [1, values.length], data: new Float32Array(values) }, "q8_0");
}

/** The 32 quants of block `b` of a row tensor, as signed numbers. */
function quants(t: QuantTensor, b = 0): number[] {
  return Array.from({ length: Q8_0_BLOCK_SIZE }, (_, j) => q8_0Quant(t.data, b * Q8_0_BLOCK_BYTES, j));
}

/** A 32-value block: `head` then zeros. */
function block(head: readonly number[]): number[] {
  return [...head, ...new Array<number>(Q8_0_BLOCK_SIZE - head.length).fill(0)];
}

test("layout: 34 bytes per 32 weights, float16 scale little-endian first, then int8 quants", () => {
  // amax 127 gives d = 127 / 127 = 1 exactly: float16 0x3c00, stored as bytes 00 3c.
  const t = quantizeTensor({ dtype: "f32", shape: [2, 64], data: new Float32Array(128).map((_, i) => (i % 2 === 0 ? 127 : -i)) }, "q8_0");
  assert.equal(t.data.length, 2 * 2 * 34);
  assert.deepEqual(t.shape, [2, 64]);
  assert.equal(t.data[0], 0x00);
  assert.equal(t.data[1], 0x3c);
  assert.equal(t.data[2], 127); // x[0] = 127
  assert.equal(t.data[3], 0xff); // x[1] = -1 in two's complement
  // Row 1, block 1 starts at byte (1 * 2 + 1) * 34; its x[1] is element 64 + 32 + 1 = 97 -> -97.
  assert.equal(q8_0Quant(t.data, 3 * 34, 1), -97);
});

test("an all-zero block: scale 0 and quants 0 (id = 0, no division by zero)", () => {
  const t = quantizeRow([...block([]), ...block([1])]);
  assert.deepEqual([...t.data.subarray(0, 34)], new Array<number>(34).fill(0));
  assert.equal(quants(t, 1)[0], 127, "the next block is unaffected");
});

test("a block whose absolute maximum is negative: positive scale, that element -> -127", () => {
  const t = quantizeRow(block([1.4, -3, 2.9, -0.75]));
  const d = q8_0Scale(t.data, 0);
  assert.ok(d > 0, `scale ${d} must be positive (amax is an absolute value)`);
  // d = 3/127 rounded to float32 then float16 (11 significant bits): within half a float16 step.
  assert.ok(Math.abs(d - 3 / 127) <= (3 / 127) * 2 ** -11);
  // x * 127/3: 1.4 -> 59.27, -3 -> -127, 2.9 -> 122.77, -0.75 -> -31.75 (none near a tie).
  assert.deepEqual(quants(t).slice(0, 5), [59, -127, 123, -32, 0]);
});

test("rounding: roundf, ties away from zero (not Math.round, not ties to even)", () => {
  // amax 127: d = 1 and id = 1 exactly, so x * id = x and every .5 below is an exact tie.
  const tie = Math.fround(0.5 - 2 ** -25); // the float32 just below 0.5: rounds to 0 (floor(x + 0.5) in float32 would give 1)
  const t = quantizeRow(block([127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, tie, -tie, -127]));
  assert.equal(t.data[0]! | (t.data[1]! << 8), 0x3c00);
  assert.deepEqual(quants(t).slice(0, 12), [127, 3, -3, 1, -1, 2, -2, 127, -127, 0, 0, -127]);
});

test("quants scale by id = 1 / d of the float32 d, not of the stored float16 d", () => {
  // amax 1: d = fround(1/127) = 0.0078740157..., id = fround(1/d) = 127 exactly; stored d is the
  // float16 0.00787353515625. x = 125.497/127 gives x * id = 125.497 -> 125, whereas x / d16 =
  // 125.5047 would give 126.
  const x = Math.fround(125.497 / 127);
  const t = quantizeRow(block([1, x]));
  assert.equal(q8_0Scale(t.data, 0), 0.00787353515625);
  assert.deepEqual(quants(t).slice(0, 2), [127, 125]);
});

test("the scale is rounded to float16 to nearest, ties to even", () => {
  // amax = 127 (1 + 2^-11): d = 1 + 2^-11 exactly, halfway between float16 1 and 1 + 2^-10 -> 1 (even).
  // amax = 127 (1 + 3 * 2^-11): halfway between 1 + 2^-10 and 1 + 2^-9 -> 1 + 2^-9 (even mantissa 2).
  for (const [amax, bits] of [[127 * (1 + 2 ** -11), 0x3c00], [127 * (1 + 3 * 2 ** -11), 0x3c02]] as const) {
    const t = quantizeRow(block([amax]));
    assert.equal(t.data[0]! | (t.data[1]! << 8), bits, `amax ${amax}`);
  }
});

test("round trip on seeded random rows: |x - dequantized| <= d/2 (+ the float16 rounding of d), amax -> +-127", () => {
  const rng = new Rng(8);
  const rows = 64;
  const cols = 256;
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const scale = 10 ** (rng.uniform() * 10 - 6); // 1e-6 .. 1e4: the scale's float16 range, normal and subnormal
    for (let c = 0; c < cols; c++) data[r * cols + c] = rng.normal() * scale * (rng.uniform() < 0.01 ? 20 : 1);
  }
  const t = quantizeTensor({ dtype: "f32", shape: [rows, cols], data }, "q8_0");
  const back = dequantizeTensor(t);
  for (let b = 0; b < (rows * cols) / 32; b++) {
    const x = data.subarray(b * 32, (b + 1) * 32);
    let amax = 0;
    x.forEach((v) => (amax = Math.max(amax, Math.abs(v))));
    const d = Math.fround(amax / 127);
    const d16 = q8_0Scale(t.data, b * 34);
    // |x - q d16| <= |x - q d| + |q| |d - d16| <= d (1/2 + rounding of x * id) + 127 |d - d16|; the
    // float32 rounding of id and x * id moves x * id by at most 127 * 3 * 2^-24 < 2^-15.
    const bound = d * (0.5 + 2 ** -15) + 127 * Math.abs(d - d16);
    x.forEach((v, j) => {
      const err = Math.abs(v - back[b * 32 + j]!);
      assert.ok(err <= bound, `block ${b} element ${j}: error ${err} > ${bound}`);
      if (Math.abs(v) === amax) assert.equal(Math.abs(q8_0Quant(t.data, b * 34, j)), 127);
    });
  }
});

test("16-bit sources quantize row by row exactly as their float32 values do", () => {
  const rng = new Rng(3);
  const f32 = new Float32Array(4 * 96).map(() => rng.normal());
  const bf16 = f32ArrayToBf16(f32);
  const f16 = f32ArrayToF16(f32);
  const widenedBf16 = new Float32Array(new Uint32Array(bf16).map((b) => b << 16).buffer);
  const widenedF16 = Float32Array.from(f16, f16ToF32);
  assert.deepEqual(quantizeTensor({ dtype: "bf16", shape: [4, 96], data: bf16 }, "q8_0").data, quantizeTensor({ dtype: "f32", shape: [4, 96], data: widenedBf16 }, "q8_0").data);
  assert.deepEqual(quantizeTensor({ dtype: "f16", shape: [4, 96], data: f16 }, "q8_0").data, quantizeTensor({ dtype: "f32", shape: [4, 96], data: widenedF16 }, "q8_0").data);
});

test("dequantizeTensor of q8_0 is d * q per element, and makeQuantTensor wraps existing bytes", () => {
  const rng = new Rng(5);
  const t = quantizeTensor({ dtype: "f32", shape: [3, 64], data: new Float32Array(192).map(() => rng.normal()) }, "q8_0");
  const wrapped = makeQuantTensor("q8_0", [3, 64], t.data.slice(), "copy");
  const values = dequantizeTensor(wrapped);
  const view = new DataView(t.data.buffer);
  const signed = new Int8Array(t.data.buffer);
  for (let i = 0; i < 192; i++) {
    const blockOffset = Math.floor(i / 32) * 34;
    assert.equal(values[i], f16ToF32(view.getUint16(blockOffset, true)) * signed[blockOffset + 2 + (i % 32)]!);
  }
});

test("bad inputs give typed errors naming the tensor", () => {
  const f32 = (shape: number[]): { dtype: "f32"; shape: number[]; data: Float32Array } => ({ dtype: "f32", shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  assert.throws(() => quantizeTensor(f32([2, 48]), "q8_0", "blk.0.attn_q"), (e: unknown) => e instanceof UnsupportedError && /blk\.0\.attn_q.*\[2, 48\].*multiple of 32/.test(e.message));
  assert.throws(() => quantizeTensor(f32([64]), "q8_0", "output_norm"), (e: unknown) => e instanceof UnsupportedError && /output_norm.*2-D/.test(e.message));
  assert.throws(() => quantizeTensor(f32([2, 2, 32]), "q8_0"), UnsupportedError);
  assert.throws(() => makeQuantTensor("q8_0", [2, 40], new Uint8Array(85)), UnsupportedError);
  assert.throws(() => makeQuantTensor("q8_0", [2, 64], new Uint8Array(135), "w"), (e: unknown) => e instanceof ShapeError && e.tensor === "w" && e.expected[0] === 136 && e.actual[0] === 135);
  for (const bad of [NaN, Infinity, -Infinity]) {
    const t = f32([2, 32]);
    t.data[40] = bad;
    assert.throws(() => quantizeTensor(t, "q8_0", "w"), (e: unknown) => e instanceof NumericalError && /w: element \[1, 8\]/.test(e.message), String(bad));
  }
  // The scale overflows float16 once amax / 127 rounds past 65504: 65504 * 127 is the largest amax.
  assert.equal(q8_0Scale(quantizeRow(block([65504 * 127])).data, 0), 65504);
  assert.throws(() => quantizeRow(block([0, 65520 * 127])), (e: unknown) => e instanceof NumericalError && /row 0, block 0/.test(e.message));
});
