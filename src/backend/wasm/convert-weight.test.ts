// The WebAssembly backend's weight conversion (convertWeight) against its JavaScript twins, byte for
// byte: quantizeTensor and castFloat on the same seeded tensors, for every stored dtype and target,
// odd shapes (one row, rows that do not fill a thread's chunk, several scratch steps), each kernel
// provider, and several memories (a tiny memory cap makes the scratch shrink and weights spread).
// Errors are the twins' errors, and a failed conversion gives its memory back.

import { test } from "node:test";
import assert from "node:assert/strict";
import { NumericalError, ShapeError, UnsupportedError } from "../../errors.js";
import { castFloat } from "../../tensor/cast.js";
import type { FloatDType } from "../../tensor/dtype.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../../tensor/float16.js";
import { isQuantType, quantizeTensor } from "../../tensor/quant-formats.js";
import { Rng } from "../../tensor/rng.js";
import type { FloatTensor, WeightTensor } from "../../tensor/tensor.js";
import { BLOCK_ALIGN } from "./arena.js";
import { QUANTIZE_SCRATCH_BYTES } from "./convert-weight.js";
import { OP } from "./jobs.js";
import { type WasmBackend, createWasmBackend } from "./index.js";
import { KERNEL_PROVIDERS } from "./providers.test-support.js";

const STORED: readonly FloatDType[] = ["f32", "bf16", "f16"];
const TARGETS: readonly WeightTensor["dtype"][] = ["q8_0", "f32", "bf16", "f16"];

/** A seeded (rows, cols) tensor in `dtype`, with a zero row (scale 0) and values near f16's range ends. */
function storedTensor(dtype: FloatDType, shape: [number, number], seed: number): FloatTensor {
  const rng = new Rng(seed);
  const [rows, cols] = shape;
  const values = Float32Array.from({ length: rows * cols }, (_, i) => {
    const r = Math.floor(i / cols);
    if (rows > 2 && r === 1) return 0;
    return rng.normal() * (r % 3 === 2 ? 1e-5 : 0.05) + (i % 97 === 0 ? 3 : 0);
  });
  switch (dtype) {
    case "f32": return { dtype, shape, data: values };
    case "bf16": return { dtype, shape, data: f32ArrayToBf16(values) };
    case "f16": return { dtype, shape, data: f32ArrayToF16(values) };
  }
}

const bytes = (t: WeightTensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** convertWeight's result, checked against the JavaScript twin and to be in the backend's memory. */
function checkConversion(backend: WasmBackend, stored: FloatTensor, dtype: WeightTensor["dtype"], what: string): void {
  const expected = isQuantType(dtype) ? quantizeTensor(stored, dtype, what) : castFloat(stored, dtype);
  const actual = backend.convertWeight(stored, dtype, what);
  assert.equal(actual.dtype, dtype, what);
  assert.deepEqual([...actual.shape], [...stored.shape], what);
  assert.notEqual(backend.arena.locate(actual.data), undefined, `${what}: in the backend's memory`);
  assert.ok(Buffer.from(bytes(actual)).equals(Buffer.from(bytes(expected))), `${what}: bytes differ from the JavaScript twin`);
}

/** Shapes of q8_0's rules: one row, one block, odd row counts, and more rows than one scratch step. */
const SHAPES: readonly [number, number][] = [[1, 32], [3, 64], [37, 96], [130, 160], [Math.ceil((QUANTIZE_SCRATCH_BYTES * 1.5) / (512 * 4)), 512]];

for (const provider of KERNEL_PROVIDERS) {
  test(`convertWeight equals quantizeTensor / castFloat byte for byte, every dtype pair: ${provider.name} kernels`, async () => {
    const backend = await createWasmBackend({ threads: 2, kernelProvider: provider.url });
    try {
      for (const storedDType of STORED) {
        for (const [i, shape] of SHAPES.entries()) {
          const stored = storedTensor(storedDType, shape, 7 + i);
          for (const dtype of TARGETS) checkConversion(backend, stored, dtype, `${storedDType} [${shape}] -> ${dtype}`);
        }
      }
      // Float casts take any shape, q8_0's rules aside.
      const odd: FloatTensor = { dtype: "bf16", shape: [5, 7], data: f32ArrayToBf16(Float32Array.from({ length: 35 }, (_, i) => i / 7 - 2)) };
      for (const dtype of ["f32", "f16", "bf16"] as const) checkConversion(backend, odd, dtype, `bf16 [5,7] -> ${dtype}`);
    } finally {
      await backend.close();
    }
  });
}

test("convertWeight over several small memories: the scratch shrinks to fit, weights spread, bytes unchanged", async () => {
  // A 4-page (256 KiB) cap: each 1200-row q8_0 weight and its float32 scratch cannot share a memory
  // at full size, so the scratch is halved until it fits next to the weights.
  const backend = await createWasmBackend({ threads: 2, maxMemoryBytes: 4 * 65536 });
  try {
    for (const [i, storedDType] of STORED.entries()) {
      for (const dtype of TARGETS) {
        const shape: [number, number] = dtype === "q8_0" ? [1200, 64] : [300, 64];
        checkConversion(backend, storedTensor(storedDType, shape, 40 + i), dtype, `${storedDType} [${shape}] -> ${dtype} (small memories)`);
      }
    }
    assert.ok(backend.arena.memories.length >= 3, `weights in ${backend.arena.memories.length} memories`);
  } finally {
    await backend.close();
  }
});

test("convertWeight to q8_0 throws quantizeTensor's errors (first bad row, elements before scales) and frees the weight", async () => {
  const backend = await createWasmBackend({ threads: 2 });
  try {
    const cases: [string, FloatTensor][] = [];
    const withValue = (dtype: FloatDType, at: number, value: number, shape: [number, number] = [40, 64]): FloatTensor => {
      const values = Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.sin(i));
      values[at] = value;
      const data = dtype === "f32" ? values : dtype === "bf16" ? f32ArrayToBf16(values) : f32ArrayToF16(values);
      return { dtype, shape, data } as FloatTensor;
    };
    for (const dtype of STORED) {
      cases.push([`${dtype} NaN`, withValue(dtype, 21 * 64 + 5, NaN)], [`${dtype} -Infinity`, withValue(dtype, 39 * 64 + 63, -Infinity)]);
    }
    // A scale past float16 (|w| > 65504 x 127) in row 3, then a NaN in row 9: the scale is reported.
    const both = withValue("f32", 3 * 64 + 40, 1e8);
    (both.data as Float32Array)[9 * 64] = NaN;
    cases.push(["f32 scale overflow before a NaN", both]);
    for (const [what, stored] of cases) {
      let expected: unknown;
      try {
        quantizeTensor(stored, "q8_0", what);
      } catch (error) {
        expected = error;
      }
      assert.ok(expected instanceof NumericalError, `${what}: quantizeTensor throws`);
      const usedBefore = backend.arena.usedBytes();
      assert.throws(() => backend.convertWeight(stored, "q8_0", what), (error: unknown) => error instanceof NumericalError && error.message === expected.message, what);
      assert.equal(backend.arena.usedBytes(), usedBefore, `${what}: memory given back`);
    }
    const notBlocks: FloatTensor = { dtype: "bf16", shape: [2, 48], data: new Uint16Array(96) };
    assert.throws(() => backend.convertWeight(notBlocks, "q8_0", "w"), UnsupportedError);
    const short: FloatTensor = { dtype: "bf16", shape: [2, 64], data: new Uint16Array(100) };
    assert.throws(() => backend.convertWeight(short, "q8_0", "w"), ShapeError);
    assert.throws(() => backend.convertWeight(short, "f32", "w"), ShapeError);
  } finally {
    await backend.close();
  }
});

test("widening to float32 on every thread equals castFloat byte for byte: every 16-bit pattern, NaNs included, several steps", async () => {
  // 1.1 M elements (2.1 MiB of 16-bit rows: three scratch steps, many chunks each), each of the 65536
  // patterns 16 times (7919 is odd, so i * 7919 mod 2^16 runs through all of them); 100 columns, so
  // chunks start off the vector width and end in the kernels' scalar tails.
  const shape: [number, number] = [Math.ceil((QUANTIZE_SCRATCH_BYTES * 1.05) / 100), 100];
  const bits = Uint16Array.from({ length: shape[0] * shape[1] }, (_, i) => (i * 7919) & 0xffff);
  const steps = Math.ceil(shape[0] / Math.floor(QUANTIZE_SCRATCH_BYTES / (shape[1] * 2)));
  for (const provider of KERNEL_PROVIDERS) {
    const backend = await createWasmBackend({ threads: 2, kernelProvider: provider.url });
    try {
      // Count the pool's cast jobs, so a silent fall-back to the single-thread widening fails the test.
      let castJobs = 0;
      const run = backend.pool.run.bind(backend.pool);
      backend.pool.run = (op, memoryIndex, args, nChunks) => {
        if (op === OP.cast) castJobs++;
        run(op, memoryIndex, args, nChunks);
      };
      for (const dtype of ["bf16", "f16"] as const) {
        const usedBefore = backend.arena.usedBytes();
        castJobs = 0;
        const what = `${provider.name} kernels: ${dtype} [${shape}] -> f32`;
        checkConversion(backend, { dtype, shape, data: bits }, "f32", what);
        assert.equal(castJobs, steps, `${what}: one cast job per scratch step`);
        // The weight stays (its block rounded up to BLOCK_ALIGN); the scratch is given back.
        assert.ok(backend.arena.usedBytes() - usedBefore < shape[0] * shape[1] * 4 + BLOCK_ALIGN, `${what}: scratch freed`);
      }
    } finally {
      await backend.close();
    }
  }
});
