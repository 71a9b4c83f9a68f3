// Conformance of the WebAssembly matrix products with their reference twins
// (src/kernels/reference/linear.ts and quantized.ts), for every weight dtype (f32, bf16, f16, q8_0)
// and every build this runtime validates, on seeded random inputs whose sizes are not multiples of
// the vector width, with row slices that split the work as threads do. Also: the f16/bf16 widening
// over all 65536 bit patterns against src/tensor/float16.ts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { matmul as linearMatmul } from "../reference/linear.js";
import { matmulQuant as quantizedMatmul } from "../reference/quant-dot.js";
import { bf16ToF32, f16ToF32, f32ArrayToBf16, f32ArrayToF16 } from "../../tensor/float16.js";
import { Q8_0_BLOCK_BYTES, quantizeBlocksQ8_0 } from "../../tensor/q8_0.js";
import { quantizeTensor } from "../../tensor/quant-formats.js";
import type { QuantTensor } from "../../tensor/block-format.js";
import { Rng } from "../../tensor/rng.js";
import type { FloatTensor } from "../../tensor/tensor.js";
import { U, arenas, assertBitExact, assertClose, describeBuilds, normals } from "./harness.test-support.js";
import { type KernelBuild, type KernelMemory, type KernelModule, compileKernels, createKernelMemory, instantiateKernels } from "./module.js";

const ARENAS = await arenas();
const compiledModules = new Map<KernelBuild, KernelModule>();
for (const arena of ARENAS) compiledModules.set(arena.build, await compileKernels(arena.build));

/** (nTokens, inF, outF, [rowStart, rowEnd)): tails of every loop, 1 and several tokens, odd token counts. */
const CASES: readonly (readonly [number, number, number, number, number])[] = [
  [1, 37, 13, 0, 13], [1, 64, 8, 0, 8], [1, 129, 11, 3, 10], [1, 1, 5, 0, 5], [1, 4096, 9, 2, 9],
  // Decode tiles take rows gap = (rowEnd - rowStart) / 8 apart: gaps 8 and 6 (7 rows left over), a tail column.
  [1, 64, 70, 5, 69], [1, 97, 61, 3, 58],
  [2, 8, 4, 0, 4], [3, 129, 10, 1, 9], [4, 64, 16, 4, 12], [5, 37, 7, 0, 7], [2, 4103, 6, 0, 6], [7, 200, 12, 0, 12],
];

type FloatDt = FloatTensor["dtype"];

function makeWeight(dtype: FloatDt, values: Float32Array, outF: number, inF: number): FloatTensor {
  const shape = [outF, inF];
  if (dtype === "f32") return { dtype, shape, data: values };
  if (dtype === "bf16") return { dtype, shape, data: f32ArrayToBf16(values) };
  return { dtype, shape, data: f32ArrayToF16(values) };
}

test(`wasm kernels: ${describeBuilds(ARENAS)}`, () => {
  assert.ok(ARENAS.some((a) => a.build === "simd"), "the SIMD build always runs");
});

for (const dtype of ["f32", "bf16", "f16"] as const) {
  test(`matmul_${dtype} matches the reference matmul within the float32 summation bound`, () => {
    const rng = new Rng(0x5eed + dtype.length);
    for (const [nTokens, inF, outF, rowStart, rowEnd] of CASES) {
      // Scale 0.05 keeps weights in the usual range; every third case uses 1e-5, where most f16
      // weights are subnormal, so the widening's subnormal path is exercised inside the kernel.
      const scale = (inF + outF) % 3 === 0 ? 1e-5 : 0.05;
      const w = makeWeight(dtype, normals(rng, outF * inF, scale), outF, inF); // (outF, inF)
      const x = normals(rng, nTokens * inF); // (nTokens, inF)
      const expected = new Float32Array(nTokens * outF); // (nTokens, outF)
      linearMatmul(expected, x, w, nTokens);
      // Bound: the reference sums exactly (float64) and rounds once; the kernel sums float32 products
      // in 8 lanes of about inF/8 terms, then a 3-level tree, then up to 7 tail terms: a chain of at
      // most k = ceil(inF/8) + 10 roundings, so |error| <= k * u * sum|x_i w_i| (Higham's gamma_k, to
      // first order; products widened from 16 bits are exact), plus u |result| for the reference's own
      // rounding. Dropping or repeating one term, or a wrong row, is far above this. The relaxed build
      // fuses multiply-adds (relaxed_madd: a product and its sum rounded once, not twice), which only
      // removes roundings from each chain, so the same bound covers both builds.
      const k = Math.ceil(inF / 8) + 10;
      const wf = new Float32Array(outF * inF);
      for (let i = 0; i < wf.length; i++) wf[i] = dtype === "f32" ? w.data[i]! : dtype === "bf16" ? bf16ToF32(w.data[i]!) : f16ToF32(w.data[i]!);
      const absSum = (t: number, r: number): number => {
        let s = 0;
        for (let i = 0; i < inF; i++) s += Math.abs(x[t * inF + i]! * wf[r * inF + i]!);
        return s;
      };
      for (const arena of ARENAS) {
        arena.reset();
        const wPtr = arena.put(w.data);
        const xPtr = arena.put(x);
        const outPtr = arena.alloc(nTokens * outF * 4); // filled with NaN: rows outside the slice stay NaN
        const fn = dtype === "f32" ? arena.kernels.matmul_f32 : dtype === "bf16" ? arena.kernels.matmul_bf16 : arena.kernels.matmul_f16;
        fn(outPtr, xPtr, wPtr, nTokens, inF, outF, rowStart, rowEnd);
        const actual = arena.f32(outPtr, nTokens * outF);
        const inSlice = (i: number): boolean => i % outF >= rowStart && i % outF < rowEnd;
        const sliced = expected.map((v, i) => (inSlice(i) ? v : NaN));
        const what = `${arena.build} matmul_${dtype} nTokens ${nTokens} inF ${inF} outF ${outF} rows [${rowStart}, ${rowEnd})`;
        assertClose(actual, sliced, (i) => k * U * absSum(Math.floor(i / outF), i % outF) + U * Math.abs(expected[i]!), what);
      }
    }
  });
}

test("16-bit widening inside the kernels is exact for all 65536 bit patterns (f16 and bf16, vector and tail paths)", () => {
  const bits = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) bits[i] = i;
  for (const arena of ARENAS) {
    arena.reset();
    const src = arena.put(bits);
    const dst = arena.alloc(65536 * 4);
    for (const path of ["vector", "scalar"] as const) {
      (path === "vector" ? arena.kernels.widen_f16 : arena.kernels.widen_f16_scalar)(dst, src, 65536);
      const got = arena.f32(dst, 65536);
      for (let i = 0; i < 65536; i++) {
        const want = f16ToF32(i);
        if (!(Object.is(got[i], want) || (Number.isNaN(want) && Number.isNaN(got[i]!)))) {
          assert.fail(`${arena.build} ${path} f16 widening of 0x${i.toString(16)}: ${got[i]}, expected ${want}`);
        }
      }
    }
    // Through the matmul kernels: one-column rows (tail path) and 8-wide rows of [h, 0 x 7] (vector
    // path) times x = [1, 0 ...]: each output is the widened weight (+0 for -0, the only loss).
    for (const inF of [1, 8]) {
      const w = new Uint16Array(65536 * inF);
      for (let i = 0; i < 65536; i++) w[i * inF] = i;
      const x = new Float32Array(inF);
      x[0] = 1;
      for (const dtype of ["f16", "bf16"] as const) {
        arena.reset();
        const wPtr = arena.put(w);
        const xPtr = arena.put(x);
        const out = arena.alloc(65536 * 4);
        (dtype === "f16" ? arena.kernels.matmul_f16 : arena.kernels.matmul_bf16)(out, xPtr, wPtr, 1, inF, 65536, 0, 65536);
        const got = arena.f32(out, 65536);
        for (let i = 0; i < 65536; i++) {
          const want = dtype === "f16" ? f16ToF32(i) : bf16ToF32(i);
          if (!(got[i] === want || (Number.isNaN(want) && Number.isNaN(got[i]!)))) {
            assert.fail(`${arena.build} matmul_${dtype} (inF ${inF}) widening of 0x${i.toString(16)}: ${got[i]}, expected ${want}`);
          }
        }
      }
    }
  }
});

test("matmul_f16_finite is bit for bit matmul_f16 on weights without infinity/NaN (decode fast path and its fallbacks)", () => {
  const rng = new Rng(0xf16f);
  for (const [nTokens, inF, outF, rowStart, rowEnd] of [...CASES, [1, 2048, 37, 0, 37], [1, 200, 24, 5, 24]] as const) {
    for (const xScale of [1, 3e4, 1e-30]) {
      // xScale 3e4 puts some |x| past 2^16, where x * 2^112 would overflow: the exact path runs then.
      const scale = (inF + outF) % 3 === 0 ? 1e-5 : 0.05;
      const w = makeWeight("f16", normals(rng, outF * inF, scale), outF, inF); // (outF, inF)
      const x = normals(rng, nTokens * inF, xScale); // (nTokens, inF)
      if (xScale === 1 && nTokens === 1) x[inF >> 1] = Infinity; // infinity stays infinity when scaled
      for (const arena of ARENAS) {
        arena.reset();
        const wPtr = arena.put(w.data);
        const xPtr = arena.put(x);
        const exact = arena.alloc(nTokens * outF * 4);
        const fast = arena.alloc(nTokens * outF * 4);
        arena.kernels.matmul_f16(exact, xPtr, wPtr, nTokens, inF, outF, rowStart, rowEnd);
        arena.kernels.matmul_f16_finite(fast, xPtr, wPtr, nTokens, inF, outF, rowStart, rowEnd);
        const a = arena.bytes(exact, nTokens * outF * 4);
        const b = arena.bytes(fast, nTokens * outF * 4);
        assert.deepEqual(b, a, `${arena.build} matmul_f16_finite nTokens ${nTokens} inF ${inF} outF ${outF} x scale ${xScale}`);
      }
    }
  }
});

test("matmul_f16_finite's widening is exact for every finite f16 bit pattern (all 65536 checked: 63488 finite)", () => {
  const bits = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) bits[i] = i;
  const finite = bits.filter((h) => (h & 0x7c00) !== 0x7c00); // (63488,)
  assert.equal(finite.length, 63488);
  for (const arena of ARENAS) {
    arena.reset();
    const src = arena.put(bits);
    const dst = arena.alloc(65536 * 4);
    arena.kernels.widen_f16_scaled(dst, src, 65536);
    const got = arena.f32(dst, 65536);
    for (let i = 0; i < 65536; i++) {
      if ((i & 0x7c00) === 0x7c00) {
        // Infinity and NaN come out finite (why matmul_f16_finite is for finite weights only).
        assert.ok(Number.isFinite(got[i]!), `${arena.build} 0x${i.toString(16)}`);
        continue;
      }
      // got = value * 2^-112 exactly: scaled back by a power of two in float64 it is the value.
      const back = got[i]! * 2 ** 112;
      if (!Object.is(back, f16ToF32(i))) assert.fail(`${arena.build} scaled f16 widening of 0x${i.toString(16)}: ${got[i]} * 2^112 = ${back}, expected ${f16ToF32(i)}`);
    }
    // Through the kernel's decode path: 8-wide rows [h, 0 x 7] (and 9-wide, a tail column) times
    // x = [1, 0 ...]; each output is the widened weight (+0 for -0).
    for (const inF of [8, 9]) {
      const w = new Uint16Array(finite.length * inF);
      for (let i = 0; i < finite.length; i++) w[i * inF] = finite[i]!;
      const x = new Float32Array(inF);
      x[0] = 1;
      arena.reset();
      const wPtr = arena.put(w);
      const xPtr = arena.put(x);
      const out = arena.alloc(finite.length * 4);
      arena.kernels.matmul_f16_finite(out, xPtr, wPtr, 1, inF, finite.length, 0, finite.length);
      const o = arena.f32(out, finite.length);
      for (let i = 0; i < finite.length; i++) {
        if (o[i] !== f16ToF32(finite[i]!)) assert.fail(`${arena.build} matmul_f16_finite (inF ${inF}) widening of 0x${finite[i]!.toString(16)}: ${o[i]}, expected ${f16ToF32(finite[i]!)}`);
      }
    }
  }
});

test("quantize_q8_0 is byte-exact with the reference quantizer (ties away from zero, zero and tiny blocks)", () => {
  const rng = new Rng(0x0880);
  const nTokens = 3;
  const inF = 96;
  const x = normals(rng, nTokens * inF, 2);
  // Block 0 of token 0: amax 127 gives d = 1, id = 1, so these land exactly on .5 ties.
  x.set([127, 0.5, 1.5, -2.5, -0.5, 126.5, -126.5, 3.5], 0);
  x.fill(0, 32, 64); // an all-zero block: d = 0, id = 0
  for (let i = 64; i < 96; i++) x[i] = rng.normal() * 1e-9; // d far below float16's range: subnormal or 0
  const blocks = (nTokens * inF) / 32;
  const expected = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  quantizeBlocksQ8_0(x, 0, blocks, expected, 0);
  for (const arena of ARENAS) {
    arena.reset();
    const xPtr = arena.put(x);
    const xq = arena.alloc(expected.length);
    arena.kernels.quantize_q8_0(xq, xPtr, nTokens, inF);
    assert.deepEqual(arena.bytes(xq, expected.length), expected, `${arena.build} quantize_q8_0`);
  }
});

test("matmul_q8_0 is bit-exact with the reference (llama.cpp's generic vec_dot_q8_0_q8_0)", () => {
  const rng = new Rng(0x9808);
  const cases: readonly (readonly [number, number, number, number, number])[] = [
    [1, 32, 5, 0, 5], [1, 64, 8, 0, 8], [1, 96, 13, 2, 11], [2, 64, 9, 1, 9], [3, 4096, 6, 0, 6], [5, 160, 12, 0, 12], [4, 32, 4, 0, 4],
    // Decode tiles take rows gap = (rowEnd - rowStart) / 8 apart: gaps 8, 6 (7 rows left over), 5.
    [1, 64, 70, 5, 69], [1, 96, 61, 3, 58], [1, 2048, 40, 0, 40],
  ];
  for (const [nTokens, inF, outF, rowStart, rowEnd] of cases) {
    const w = quantizeTensor({ dtype: "f32", shape: [outF, inF], data: normals(rng, outF * inF, 0.05) }, "q8_0", "w");
    // A quant of -128 never comes from llama.cpp's quantizer but is legal in a file: widening handles it.
    w.data[2 + 5] = 0x80;
    const x = normals(rng, nTokens * inF);
    const expected = new Float32Array(nTokens * outF);
    quantizedMatmul(expected, x, w, nTokens);
    for (const arena of ARENAS) {
      arena.reset();
      const wPtr = arena.put(w.data);
      const xPtr = arena.put(x);
      const xq = arena.alloc((nTokens * inF * Q8_0_BLOCK_BYTES) / 32);
      const outPtr = arena.alloc(nTokens * outF * 4);
      arena.kernels.quantize_q8_0(xq, xPtr, nTokens, inF);
      arena.kernels.matmul_q8_0(outPtr, xq, wPtr, nTokens, inF, outF, rowStart, rowEnd);
      const actual = arena.f32(outPtr, nTokens * outF);
      const sliced = expected.map((v, i) => (i % outF >= rowStart && i % outF < rowEnd ? v : NaN));
      // NaN outside the slice: 0xffffffff in both (alloc fills 0xff; map's NaN is 0x7fc00000), so compare those by NaN-ness.
      for (let i = 0; i < actual.length; i++) if (Number.isNaN(sliced[i]!) && Number.isNaN(actual[i]!)) actual[i] = sliced[i]!;
      assertBitExact(actual, sliced, `${arena.build} matmul_q8_0 nTokens ${nTokens} inF ${inF} outF ${outF} rows [${rowStart}, ${rowEnd})`);
    }
  }
});

test("matmul_q8_0 is bit-exact at the ends of the int8 range (every weight byte, token quants of +-127)", () => {
  // The relaxed build's 8-bit dot splits the token's quants into positive and negative parts; this
  // puts every weight byte (-128 .. 127, -128 included) against quants of +127 and -127 (a block
  // of +-1 quantizes to +-127 everywhere) and against mixed ones, on the decode and prefill paths.
  const rng = new Rng(0x7f7f);
  const [inF, outF] = [256, 19];
  const blocks = (outF * inF) / 32;
  const data = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const at = b * Q8_0_BLOCK_BYTES;
    new DataView(data.buffer).setUint16(at, f32ArrayToF16(new Float32Array([Math.abs(rng.normal()) * 1e-2]))[0]!, true);
    for (let j = 0; j < 32; j++) data[at + 2 + j] = (b * 32 + j) & 0xff; // all 256 byte values, repeatedly
  }
  const w: QuantTensor = { dtype: "q8_0", shape: [outF, inF], data };
  for (const nTokens of [1, 3]) {
    const x = new Float32Array(nTokens * inF);
    // Even blocks: +-1 (all quants +-127); odd blocks: normals (mixed quants).
    for (let i = 0; i < x.length; i++) x[i] = Math.floor(i / 32) % 2 === 1 ? rng.normal() : rng.nextU32() & 1 ? 1 : -1;
    const expected = new Float32Array(nTokens * outF);
    quantizedMatmul(expected, x, w, nTokens);
    for (const arena of ARENAS) {
      arena.reset();
      const xq = arena.alloc((nTokens * inF * Q8_0_BLOCK_BYTES) / 32);
      const outPtr = arena.alloc(nTokens * outF * 4);
      arena.kernels.quantize_q8_0(xq, arena.put(x), nTokens, inF);
      arena.kernels.matmul_q8_0(outPtr, xq, arena.put(data), nTokens, inF, outF, 0, outF);
      assertBitExact(arena.f32(outPtr, nTokens * outF), expected, `${arena.build} matmul_q8_0 int8 range ends, nTokens ${nTokens}`);
    }
  }
});

test("kernels address memory above 2 GiB (pointers past the int32 range) like memory below it", (t) => {
  // A memory just over 2 GiB: pages are committed lazily, so only the touched megabyte is resident.
  const pages = 32768 + 32;
  let memory: KernelMemory;
  try {
    memory = createKernelMemory(pages, pages);
  } catch (error) {
    return t.skip(`runtime refused a ${pages}-page memory: ${String(error)}`);
  }
  const high = 2 ** 31 + 4096; // every operand lives above 2^31
  const rng = new Rng(0x2000);
  const [nTokens, inF, outF] = [3, 96, 9];
  const w = quantizeTensor({ dtype: "f32", shape: [outF, inF], data: normals(rng, outF * inF, 0.05) }, "q8_0", "w");
  const wf = f32ArrayToF16(normals(rng, outF * inF, 0.05));
  const x = normals(rng, nTokens * inF);
  const place = (data: Uint8Array | Uint16Array | Float32Array, at: number): number => {
    new Uint8Array(memory.buffer, at, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return at;
  };
  for (const arena of ARENAS) {
    const k = instantiateKernels(compiledModules.get(arena.build)!, memory);
    const xPtr = place(x, high);
    const wPtr = place(w.data, high + 4096);
    const hPtr = place(wf, high + 8192);
    const xq = high + 16384;
    const out = high + 20480;
    k.quantize_q8_0(xq, xPtr, nTokens, inF);
    k.matmul_q8_0(out, xq, wPtr, nTokens, inF, outF, 0, outF);
    const expectedQ = new Float32Array(nTokens * outF);
    quantizedMatmul(expectedQ, x, w, nTokens);
    assertBitExact(new Float32Array(memory.buffer, out, nTokens * outF).slice(), expectedQ, `${arena.build} matmul_q8_0 above 2 GiB`);
    // The same f16 product computed low (the arena) and high must agree bit for bit.
    arena.reset();
    const lowOut = arena.alloc(nTokens * outF * 4);
    arena.kernels.matmul_f16(lowOut, arena.put(x), arena.put(wf), nTokens, inF, outF, 0, outF);
    k.matmul_f16(out, xPtr, hPtr, nTokens, inF, outF, 0, outF);
    assertBitExact(new Float32Array(memory.buffer, out, nTokens * outF).slice(), arena.f32(lowOut, nTokens * outF), `${arena.build} matmul_f16 above 2 GiB`);
  }
});
