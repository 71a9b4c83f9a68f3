// The WebAssembly backend against its twin, the reference backend, on seeded inputs: every op and
// weight dtype, odd sizes (rows that do not fill a chunk, single tokens), 1, 2 and 3 threads, arrays
// inside and outside the backend's memory, and several memories (a tiny memory cap forces weights
// and activations into different memories). The kernels themselves are tested in src/kernels/wasm/;
// this covers how the backend splits and places work, with each kernel provider.

import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceBackend } from "../reference.js";
import { ArgumentError, LlamaError, ShapeError } from "../../errors.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../../tensor/float16.js";
import { quantizeTensor } from "../../tensor/quant-formats.js";
import { Rng } from "../../tensor/rng.js";
import type { WeightTensor } from "../../tensor/tensor.js";
import type { KvRows } from "../backend.js";
import { type WasmBackend, createWasmBackend } from "./index.js";
import { KERNEL_PROVIDERS } from "./providers.test-support.js";

const randoms = (rng: Rng, n: number, scale = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * scale);

function weightOf(dtype: WeightTensor["dtype"], shape: [number, number], values: Float32Array): WeightTensor {
  switch (dtype) {
    case "f32": return { dtype, shape, data: values };
    case "bf16": return { dtype, shape, data: f32ArrayToBf16(values) };
    case "f16": return { dtype, shape, data: f32ArrayToF16(values) };
    default: return quantizeTensor({ dtype: "f32", shape, data: values }, dtype);
  }
}

/**
 * KV rows of `x` in `dtype`, in the backend's memory when `b` is given (16-bit: a view of float32s;
 * the allocated arrays go to `allocated`, to be freed by the caller).
 */
function kvRowsOf(dtype: KvRows["dtype"], x: Float32Array, b: WasmBackend | undefined, allocated: Float32Array[]): KvRows {
  if (dtype === "f32") {
    const data = b?.allocateFloat32(x.length) ?? new Float32Array(x.length);
    if (b !== undefined) allocated.push(data);
    data.set(x);
    return { dtype, data };
  }
  const bits = dtype === "f16" ? f32ArrayToF16(x) : f32ArrayToBf16(x);
  if (b === undefined) return { dtype, data: bits };
  const backing = b.allocateFloat32(Math.ceil(x.length / 2));
  allocated.push(backing);
  const data = new Uint16Array(backing.buffer, backing.byteOffset, x.length);
  data.set(bits);
  return { dtype, data };
}

/**
 * |a - b| <= bound[i] elementwise, with bound the error allowed per element (see the callers for
 * why each bound is what it is).
 */
function assertClose(actual: Float32Array, expected: Float32Array, bound: (i: number) => number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    if (!(diff <= bound(i))) assert.fail(`${what}: element ${i} is ${actual[i]}, reference ${expected[i]} (allowed ${bound(i)})`);
  }
}

/** Float32 results of element-wise ops (rmsnorm, rope, swiglu, attention): a few float32 ulps apart. */
const elementwiseBound = (expected: Float32Array) => (i: number): number => 1e-5 * Math.max(1, Math.abs(expected[i]!));

async function withBackend(options: Parameters<typeof createWasmBackend>[0], body: (b: WasmBackend) => void | Promise<void>): Promise<void> {
  const backend = await createWasmBackend(options);
  try {
    await body(backend);
  } finally {
    await backend.close();
  }
}

/** One matmul on the backend and the reference; out is prefilled so a row the backend skips shows. */
function checkMatmul(b: WasmBackend, rng: Rng, dtype: WeightTensor["dtype"], outF: number, inF: number, nTokens: number, inArena: boolean, exact = false): void {
  const values = randoms(rng, outF * inF, 0.1);
  let w = weightOf(dtype, [outF, inF], values);
  let x: Float32Array = randoms(rng, nTokens * inF);
  let out: Float32Array = new Float32Array(nTokens * outF).fill(Number.NaN);
  if (inArena) {
    const placed = b.allocateWeight(w.dtype, w.shape);
    new Uint8Array(placed.data.buffer, placed.data.byteOffset, placed.data.byteLength).set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    w = placed;
    const xa = b.allocateFloat32(x.length);
    xa.set(x);
    x = xa;
    out = b.allocateFloat32(out.length).fill(Number.NaN);
  }
  const expected = new Float32Array(nTokens * outF);
  referenceBackend.matmul(expected, x, w, nTokens);
  b.matmul(out, x, w, nTokens);
  // Float32 sums of inF products in another order: each differs from the exact sum by at most
  // inF * 2^-24 * sum |x_i w_i| (the recursive-summation bound), so the two by twice that. For q8_0
  // the activations' own quantization may round a tie the other way: one quant step (d_x) on an
  // element moves the output by at most d_x * |w_i|, bounded here by max|x| / 127 * sum |w_i|.
  const bound = (i: number): number => {
    const t = Math.floor(i / outF);
    const r = i % outF;
    let sumAbs = 0;
    let sumW = 0;
    let maxX = 0;
    for (let k = 0; k < inF; k++) {
      sumAbs += Math.abs(x[t * inF + k]! * values[r * inF + k]!);
      sumW += Math.abs(values[r * inF + k]!);
      maxX = Math.max(maxX, Math.abs(x[t * inF + k]!));
    }
    return 2 * inF * 2 ** -24 * sumAbs + (dtype === "q8_0" ? (maxX / 127) * sumW : 0);
  };
  const what = `matmul ${dtype} ${outF}x${inF}, ${nTokens} tokens${inArena ? ", in arena" : ""}`;
  if (exact) assert.deepEqual(out, expected, `${what}: bit-exact`);
  else assertClose(out, expected, bound, what);
  if (inArena) b.freeFloat32(x), b.freeFloat32(out);
}

function checkOthers(b: WasmBackend, rng: Rng, nTokens: number): void {
  const dim = 48;
  const x = randoms(rng, nTokens * dim);
  const weight = randoms(rng, dim);
  const norm = [new Float32Array(x.length), new Float32Array(x.length)] as const;
  b.rmsNorm(norm[0], x, weight, nTokens, 1e-5);
  referenceBackend.rmsNorm(norm[1], x, weight, nTokens, 1e-5);
  assertClose(norm[0], norm[1], elementwiseBound(norm[1]), "rmsNorm");

  const [nHeads, nKvHeads, headDim] = [6, 2, 8];
  const cos = randoms(rng, (nTokens * headDim) / 2);
  const sin = randoms(rng, (nTokens * headDim) / 2);
  const q = randoms(rng, nTokens * nHeads * headDim);
  const qRef = q.slice();
  b.rope(q, nTokens, nHeads, headDim, cos, sin);
  referenceBackend.rope(qRef, nTokens, nHeads, headDim, cos, sin);
  assertClose(q, qRef, elementwiseBound(qRef), "rope");

  const startPos = 5;
  const kvLength = (startPos + nTokens) * nKvHeads * headDim;
  const keys = randoms(rng, kvLength + 7 * nKvHeads * headDim); // capacity past the filled rows
  const values = randoms(rng, keys.length);
  const shape = { nTokens, startPos, nHeads, nKvHeads, headDim };
  // Every cache dtype, the rows staged (plain arrays) and in place (16-bit rows as a view of an
  // allocateFloat32 block, as KvCache allocates them). The kernel widens 16-bit rows exactly, so the
  // float32 bound holds against the reference on the same bits.
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    for (const inArena of [false, true]) {
      const allocated: Float32Array[] = [];
      const rows = (x: Float32Array): KvRows => kvRowsOf(dtype, x, inArena ? b : undefined, allocated);
      const [k, v] = [rows(keys), rows(values)];
      const att = [new Float32Array(q.length), new Float32Array(q.length)] as const;
      b.attention(att[0], q, k, v, shape);
      referenceBackend.attention(att[1], q, k, v, shape);
      assertClose(att[0], att[1], elementwiseBound(att[1]), `attention ${dtype}${inArena ? ", in arena" : ""}`);
      for (const a of allocated) b.freeFloat32(a);
    }
  }

  const n = nTokens * 37;
  const gate = randoms(rng, n);
  const up = randoms(rng, n);
  const outs = [gate.slice(), gate.slice()] as const;
  b.swiglu(outs[0], outs[0], up); // out = gate, as the forward pass calls it
  referenceBackend.swiglu(outs[1], outs[1], up);
  assertClose(outs[0], outs[1], elementwiseBound(outs[1]), "swiglu");

  const acc = [gate.slice(), gate.slice()] as const;
  b.addInPlace(acc[0], up);
  referenceBackend.addInPlace(acc[1], up);
  assert.deepEqual(acc[0], acc[1], "addInPlace is exact");

  for (const dtype of ["f32", "bf16", "q8_0"] as const) {
    const table = weightOf(dtype, [11, 64], randoms(rng, 11 * 64));
    const rows = [new Float32Array(3 * 64), new Float32Array(3 * 64)] as const;
    b.embed(rows[0], table, [10, 0, 10]);
    referenceBackend.embed(rows[1], table, [10, 0, 10]);
    assert.deepEqual(rows[0], rows[1], `embed ${dtype} is exact`);
  }
}

for (const provider of KERNEL_PROVIDERS) {
  for (const threads of [1, 2, 3]) {
    test(`${provider.name} kernels, ${threads} threads: every op and dtype matches the reference`, async () => {
      await withBackend({ threads, kernelProvider: provider.url }, (b) => {
        const rng = new Rng(1000 + threads);
        for (const dtype of ["f32", "bf16", "f16", "q8_0"] as const) {
          for (const [outF, inF, nTokens] of [[37, 64, 1], [130, 96, 3], [16, 32, 2]] as const) {
            checkMatmul(b, rng, dtype, outF, inF, nTokens, false);
            checkMatmul(b, rng, dtype, outF, inF, nTokens, true);
          }
        }
        // The other block formats with wasm kernels: bit-exact with the reference (the
        // conformance tests), so through the backend's splitting and staging too.
        for (const dtype of ["q4_0", "q5_0", "q4_1", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"] as const) {
          for (const [outF, inF, nTokens] of [[37, 256, 1], [70, 512, 3]] as const) {
            checkMatmul(b, rng, dtype, outF, inF, nTokens, false, true);
            checkMatmul(b, rng, dtype, outF, inF, nTokens, true, true);
          }
          assert.ok(`matmul ${dtype}` in b.opStats(), `${dtype} ran on the backend's kernels, not the reference fallback`);
        }
        for (const nTokens of [1, 4]) checkOthers(b, rng, nTokens);
      });
    });
  }

  test(`${provider.name} kernels: weights and activations spread over several small memories`, async () => {
    // A 3-page cap: each 96 KiB weight needs a memory of its own, so x, out and the weights of
    // consecutive matmuls live in different memories and must be staged across them.
    await withBackend({ threads: 2, kernelProvider: provider.url, maxMemoryBytes: 3 * 65536 }, (b) => {
      const rng = new Rng(7);
      const [outF, inF] = [384, 64];
      const weights = Array.from({ length: 3 }, () => {
        const w = b.allocateWeight("f32", [outF, inF]);
        (w.data as Float32Array).set(randoms(rng, outF * inF, 0.1));
        return w;
      });
      assert.equal(b.arena.memories.length, 3, "one memory per weight");
      let x = b.allocateFloat32(2 * inF);
      x.set(randoms(rng, x.length));
      let xRef = x.slice();
      for (const w of weights) {
        // (2, outF) -> next layer's input: the first inF outputs (a slice keeps the shapes small).
        const out = b.allocateFloat32(2 * outF);
        const outRef = new Float32Array(2 * outF);
        b.matmul(out, x, w, 2);
        referenceBackend.matmul(outRef, xRef, w, 2);
        assertClose(out, outRef, elementwiseBound(outRef), "matmul across memories");
        b.addInPlace(out, outRef); // out (memory of x or another) += outRef (plain array)
        referenceBackend.addInPlace(outRef, outRef.slice());
        assertClose(out, outRef, elementwiseBound(outRef), "add across memories");
        b.freeFloat32(x);
        x = b.allocateFloat32(2 * inF);
        x.set(out.subarray(0, inF)), x.set(out.subarray(outF, outF + inF), inF);
        xRef = x.slice();
        b.freeFloat32(out);
      }
      assert.throws(() => b.allocateWeight("f32", [1024, 64]), (e: unknown) => e instanceof LlamaError && /does not fit one WebAssembly memory/.test((e as Error).message));
    });
  });

  test(`${provider.name} kernels: an op whose activations do not fit its weight's memory runs on fewer tokens at a time`, async () => {
    // 4-page memories: a 192 KiB weight leaves about 64 KiB, and 64 tokens need 128 KiB of x and out.
    await withBackend({ threads: 2, kernelProvider: provider.url, maxMemoryBytes: 4 * 65536 }, (b) => {
      const rng = new Rng(11);
      const [outF, inF, nTokens] = [384, 128, 64];
      const w = b.allocateWeight("f32", [outF, inF]);
      (w.data as Float32Array).set(randoms(rng, outF * inF, 0.1));
      const x = randoms(rng, nTokens * inF);
      const out = new Float32Array(nTokens * outF);
      const expected = new Float32Array(nTokens * outF);
      b.matmul(out, x, w, nTokens);
      referenceBackend.matmul(expected, x, w, nTokens);
      assertClose(out, expected, elementwiseBound(expected), "matmul split by tokens");
    });
  });
}

test("back-to-back jobs of different sizes never mix (thread pool stress)", async () => {
  // Consecutive element-wise jobs with different chunk counts and buffers, on more threads than
  // cores: a worker that wakes late must neither run a chunk with a half-written job nor count one
  // the main thread no longer waits for. Each add's result is exact, so any mix-up shows.
  await withBackend({ threads: 3 }, (b) => {
    const sizes = [1 << 17, 3 << 16, 1 << 16, 5 << 16];
    const outs = sizes.map((n) => b.allocateFloat32(n));
    const ones = sizes.map((n) => b.allocateFloat32(n).fill(1));
    const rounds = 300;
    for (let r = 0; r < rounds; r++) for (const [i, out] of outs.entries()) b.addInPlace(out, ones[i]!);
    outs.forEach((out, i) => {
      const wrong = out.findIndex((v) => v !== rounds);
      assert.equal(wrong, -1, `buffer ${i}: element ${wrong} is ${out[wrong]}, expected ${rounds}`);
    });
  });
});

test("f16 weights: finite ones take matmul_f16_finite, one holding infinity or NaN the exact kernel (same results as matmul_f16)", async () => {
  const rng = new Rng(0xf160);
  const [outF, inF] = [24, 64];
  await withBackend({ threads: 2 }, (b) => {
    const finite = weightOf("f16", [outF, inF], randoms(rng, outF * inF, 0.05)) as Extract<WeightTensor, { dtype: "f16" }>;
    const special = { ...finite, data: finite.data.slice() };
    special.data[3 * inF + 5] = 0x7c00; // +infinity in row 3
    special.data[17 * inF + 40] = 0x7e01; // a NaN in row 17
    const x = randoms(rng, inF);
    for (const w of [finite, special]) {
      const expected = new Float32Array(outF);
      referenceBackend.matmul(expected, x, w, 1);
      const out = new Float32Array(outF);
      b.matmul(out, x, w, 1);
      for (let r = 0; r < outF; r++) {
        if (!Number.isFinite(expected[r]!)) assert.ok(Object.is(out[r], expected[r]) || (Number.isNaN(out[r]!) && Number.isNaN(expected[r]!)), `row ${r}: ${out[r]}, expected ${expected[r]}`);
        else assert.ok(Math.abs(out[r]! - expected[r]!) <= 1e-5, `row ${r}: ${out[r]}, expected ${expected[r]}`);
      }
      if (w === special) assert.ok(!Number.isFinite(out[3]!) && Number.isNaN(out[17]!), "the special rows stay infinite / NaN");
    }
  });
});

test("bad inputs get typed errors; the backend refuses work after close()", async () => {
  const provider = KERNEL_PROVIDERS[0]!;
  await assert.rejects(createWasmBackend({ threads: 0, kernelProvider: provider.url }), ArgumentError);
  await assert.rejects(createWasmBackend({ maxMemoryBytes: 1000, kernelProvider: provider.url }), ArgumentError);
  const b = await createWasmBackend({ threads: 2, kernelProvider: provider.url });
  const w = weightOf("f32", [4, 8], new Float32Array(32));
  assert.throws(() => b.matmul(new Float32Array(4), new Float32Array(7), w, 1), ShapeError);
  assert.throws(() => b.matmul(new Float32Array(3), new Float32Array(8), w, 1), ShapeError);
  assert.throws(() => b.matmul(new Float32Array(4), new Float32Array(8), { dtype: "f32", shape: [4, 8], data: new Float32Array(31) }, 1), ShapeError, "weight data too short");
  assert.throws(() => b.freeFloat32(new Float32Array(4)), ArgumentError);
  const a = b.allocateFloat32(4);
  b.freeFloat32(a);
  assert.throws(() => b.freeFloat32(a), ArgumentError, "double free");
  await b.close();
  await b.close();
  assert.throws(() => b.matmul(new Float32Array(4), new Float32Array(8), w, 1), LlamaError);
});
