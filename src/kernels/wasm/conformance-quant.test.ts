// Conformance of the WebAssembly block-format kernels (assembly/kquants.ts, q2_k.ts, q3_k.ts,
// q6_k.ts, legacy-quants.ts, q8_0.ts and the prefills with scratch: the activation quantizers and the
// matrix products by K-quant, legacy and Q8_0 weights) with their reference twins
// (tensor/q8_k.ts quantizeBlocksQ8_K, kernels/reference/quant-dot.ts matmulQuant over the dots of
// k-quants.ts: llama.cpp's quantize_row_q8_K_ref and ggml_vec_dot_*_generic), for every build this
// runtime validates. Every comparison is bit for bit: the kernels compute the same exact integer
// block sums (integer addition is associative, so lane order does not matter) and then the C code's
// float32 operations in the C code's order, per output, with no fused multiply-add in either build
// (the relaxed build only changes how the integer sums are formed). Weights come from the reference
// quantizer and from random bytes (any scale, any quant, the int8 scale -128 of Q6_K included);
// sizes cover one and many super-blocks, odd row counts, row slices as threads split them, decode
// (1 token) and prefill (odd and even token counts).

import { test } from "node:test";
import assert from "node:assert/strict";
import { QUANT_DOTS, matmulQuant } from "../reference/quant-dot.js";
import type { QuantTensor, QuantType } from "../../tensor/block-format.js";
import { f32ToF16 } from "../../tensor/float16.js";
import { BLOCK_FORMATS, quantRowBytes, quantizeTensor } from "../../tensor/quant-formats.js";
import { Rng } from "../../tensor/rng.js";
import { type Arena, arenas, assertBitExact, describeBuilds, normals } from "./harness.test-support.js";
import type { WasmKernels } from "./module.js";

const ARENAS = await arenas();

/** The exports that size a matmul's scratch. */
type ScratchBytes = Extract<keyof WasmKernels, `matmul_${string}_scratch_bytes`>;

/**
 * The wasm kernels of each weight format this file covers: its matmul and its activations' quantizer;
 * and the export sizing its scratch where the matmul is run again with scratch (the prefills that
 * rearrange their operands once: assembly/kquant-matmul.ts prefillK, assembly/legacy-prefill.ts).
 */
const KERNELS: ReadonlyArray<readonly [QuantType, keyof WasmKernels, keyof WasmKernels, ScratchBytes?]> = [
  ["q8_0", "matmul_q8_0", "quantize_q8_0"],
  ["q4_0", "matmul_q4_0", "quantize_q8_0"],
  ["q4_0", "matmul_q4_0", "quantize_q8_0", "matmul_q4_0_scratch_bytes"],
  ["q5_0", "matmul_q5_0", "quantize_q8_0"],
  ["q5_0", "matmul_q5_0", "quantize_q8_0", "matmul_q5_0_scratch_bytes"],
  ["q4_1", "matmul_q4_1", "quantize_q8_1"],
  ["q5_1", "matmul_q5_1", "quantize_q8_1"],
  ["q2_k", "matmul_q2_k", "quantize_q8_k"],
  ["q3_k", "matmul_q3_k", "quantize_q8_k"],
  ["q4_k", "matmul_q4_k", "quantize_q8_k"],
  ["q4_k", "matmul_q4_k", "quantize_q8_k", "matmul_q4_k_scratch_bytes"],
  ["q5_k", "matmul_q5_k", "quantize_q8_k"],
  ["q5_k", "matmul_q5_k", "quantize_q8_k", "matmul_q5_k_scratch_bytes"],
  ["q6_k", "matmul_q6_k", "quantize_q8_k"],
  ["q6_k", "matmul_q6_k", "quantize_q8_k", "matmul_q6_k_scratch_bytes"],
];

/** Byte offsets of each format's float16 scales inside a block (kept finite in random-byte weights). */
const HALF_FIELDS: Readonly<Partial<Record<QuantType, readonly number[]>>> = { q8_0: [0], q4_0: [0], q5_0: [0], q4_1: [0, 2], q5_1: [0, 2], q2_k: [80, 82], q3_k: [108], q4_k: [0, 2], q5_k: [0, 2], q6_k: [208] };

/** (nTokens, inF, outF, rowStart, rowEnd): one and many blocks, odd rows, slices, decode and prefill. */
type Case = readonly [number, number, number, number, number];
const CASES: readonly Case[] = [
  [1, 256, 1, 0, 1], [1, 256, 13, 0, 13], [1, 2048, 19, 3, 18], [1, 512, 37, 0, 37], [1, 4096, 9, 1, 9],
  // Decode pairs/quads rows `gap` apart (a half / quarter of the slice): gaps up to 10, a row or three left over.
  [1, 256, 24, 1, 24], [1, 512, 43, 0, 43],
  [2, 256, 7, 0, 7], [3, 768, 11, 2, 11], [4, 512, 16, 4, 12], [5, 1024, 9, 0, 9], [8, 256, 21, 0, 21], [7, 2048, 5, 1, 4],
];
/** More for a matmul with scratch: two token chunks (64 + 67 tokens), rows beyond one row block (16). */
const SCRATCH_CASES: readonly Case[] = [[131, 512, 37, 3, 36], [65, 256, 17, 0, 17]];
/** More for the 32-weight formats: one block, odd block counts (3, 129). */
const CASES_32: readonly Case[] = [[1, 32, 5, 0, 5], [1, 96, 13, 2, 11], [3, 32, 6, 0, 6], [2, 4128, 7, 0, 7], [5, 160, 12, 1, 12]];

test(`wasm block-format kernels: ${describeBuilds(ARENAS)}`, () => {
  assert.ok(ARENAS.some((a) => a.build === "simd"), "the SIMD build always runs");
});

/** Random block bytes with every float16 scale field set to a finite positive value. */
function randomBlocks(type: QuantType, rng: Rng, rows: number, cols: number): QuantTensor {
  const { blockBytes, blockSize } = BLOCK_FORMATS[type];
  const data = new Uint8Array((rows * cols * blockBytes) / blockSize);
  for (let i = 0; i < data.length; i++) data[i] = rng.nextU32() & 0xff;
  for (let b = 0; b < data.length / blockBytes; b++) {
    for (const at of HALF_FIELDS[type] ?? []) {
      const bits = f32ToF16(Math.abs(rng.normal()) * 1e-3);
      data[b * blockBytes + at] = bits & 0xff;
      data[b * blockBytes + at + 1] = bits >> 8;
    }
  }
  return { dtype: type, shape: [rows, cols], data };
}

/** Bytes after a kernel's scratch that must stay as the arena left them (0xff). */
const GUARD_BYTES = 256;

/**
 * The wasm product of `w` and `x` on `arena`, rows [rowStart, rowEnd); rows outside stay NaN. With
 * `scratch` (the export sizing it), the matmul gets that many bytes of 0xff-filled scratch, and the
 * bytes after it are checked untouched.
 */
function wasmMatmul(arena: Arena, w: QuantTensor, x: Float32Array, nTokens: number, rowStart: number, rowEnd: number, kernel: keyof WasmKernels, quantize: keyof WasmKernels, scratch?: ScratchBytes): Float32Array {
  const [outF, inF] = w.shape;
  const activation = QUANT_DOTS[w.dtype].activation;
  arena.reset();
  const wPtr = arena.put(w.data);
  const xPtr = arena.put(x);
  const xq = arena.alloc(nTokens * quantRowBytes(activation, inF));
  const outPtr = arena.alloc(nTokens * outF * 4); // 0xff bytes: NaN
  const scratchBytes = scratch !== undefined ? arena.kernels[scratch](nTokens, inF) : 0;
  const scratchPtr = scratch !== undefined ? arena.alloc(scratchBytes + GUARD_BYTES) : 0;
  (arena.kernels[quantize] as WasmKernels["quantize_q8_k"])(xq, xPtr, nTokens, inF);
  (arena.kernels[kernel] as WasmKernels["matmul_q6_k"])(outPtr, xq, wPtr, nTokens, inF, outF, rowStart, rowEnd, scratchPtr);
  if (scratch !== undefined) assert.ok(arena.bytes(scratchPtr + scratchBytes, GUARD_BYTES).every((b) => b === 0xff), `${arena.build} ${kernel} wrote past its ${scratchBytes} bytes of scratch (nTokens ${nTokens}, inF ${inF})`);
  return arena.f32(outPtr, nTokens * outF);
}

/** The reference result with rows outside [rowStart, rowEnd) set to the 0xffffffff NaN the arena leaves. */
function referenceSlice(w: QuantTensor, x: Float32Array, nTokens: number, rowStart: number, rowEnd: number): Float32Array {
  const outF = w.shape[0];
  const expected = new Float32Array(nTokens * outF);
  matmulQuant(expected, x, w, nTokens);
  const bits = new Uint32Array(expected.buffer);
  for (let i = 0; i < expected.length; i++) if (i % outF < rowStart || i % outF >= rowEnd) bits[i] = 0xffffffff;
  return expected;
}

test("quantize_q8_1 is byte-exact with quantize_row_q8_1_ref (ties away from zero, zero and tiny blocks, the sum s)", () => {
  const rng = new Rng(0x0881);
  const nTokens = 3;
  const inF = 96;
  const x = normals(rng, nTokens * inF, 2);
  x.set([127, 0.5, 1.5, -2.5, -0.5, 126.5, -126.5, 3.5], 0); // amax 127: d = 1, exact .5 ties
  x.fill(0, 32, 64); // an all-zero block: d = 0, s = 0
  for (let i = 64; i < 96; i++) x[i] = rng.normal() * 1e-9; // d below float16's normal range
  const blocks = (nTokens * inF) / 32;
  const expected = new Uint8Array(blocks * BLOCK_FORMATS.q8_1.blockBytes);
  BLOCK_FORMATS.q8_1.quantizeBlocks!(x, 0, blocks, expected, 0);
  for (const arena of ARENAS) {
    arena.reset();
    const xPtr = arena.put(x);
    const xq = arena.alloc(expected.length);
    arena.kernels.quantize_q8_1(xq, xPtr, nTokens, inF);
    assert.deepEqual(arena.bytes(xq, expected.length), expected, `${arena.build} quantize_q8_1`);
  }
});

test("quantize_q8_k is byte-exact with quantize_row_q8_K_ref (ties to even, first largest magnitude, zero blocks, bsums)", () => {
  const rng = new Rng(0x08c8);
  const nTokens = 2;
  const inF = 1024;
  const x = normals(rng, nTokens * inF, 3);
  // Block 0: max = -127 gives iscale = 1 exactly, so these are exact .5 ties (round half to even).
  x.set([-127, 0.5, 1.5, 2.5, -0.5, -1.5, 126.5, -126.5, 3.5, 4.5], 0);
  x.fill(0, 256, 512); // an all-zero block: d = 0, zero quants and sums
  // Block 2: two elements of the largest magnitude, the positive one first: max is +2 (iscale -63.5).
  for (let i = 512; i < 768; i++) x[i] = rng.normal() * 0.5;
  x[600] = 2;
  x[700] = -2;
  for (let i = 768; i < 1024; i++) x[i] = rng.normal() * 1e-30; // tiny values: iscale near float32's top
  const blocks = (nTokens * inF) / 256;
  const expected = new Uint8Array(blocks * BLOCK_FORMATS.q8_k.blockBytes);
  BLOCK_FORMATS.q8_k.quantizeBlocks!(x, 0, blocks, expected, 0);
  for (const arena of ARENAS) {
    arena.reset();
    const xPtr = arena.put(x);
    const xq = arena.alloc(expected.length);
    arena.kernels.quantize_q8_k(xq, xPtr, nTokens, inF);
    assert.deepEqual(arena.bytes(xq, expected.length), expected, `${arena.build} quantize_q8_k`);
  }
});

for (const [index, [type, kernel, quantize, scratch]] of KERNELS.entries()) {
  const dotName = `ggml_vec_dot_${BLOCK_FORMATS[type].ggmlName}_${BLOCK_FORMATS[QUANT_DOTS[type].activation].ggmlName}_generic`;
  test(`${kernel}${scratch ? " with scratch" : ""} is bit-exact with the reference (${dotName}): quantized and random-byte weights`, () => {
    const rng = new Rng(0x4b00 + index);
    // With scratch: more tokens than one chunk of arranged activations (64), and a remainder of 3.
    const more = [...(BLOCK_FORMATS[type].blockSize === 32 ? CASES_32 : []), ...(scratch ? SCRATCH_CASES : [])];
    for (const [nTokens, inF, outF, rowStart, rowEnd] of [...CASES, ...more]) {
      const quantized = quantizeTensor({ dtype: "f32", shape: [outF, inF], data: normals(rng, outF * inF, 0.05) }, type, "w");
      for (const w of [quantized, randomBlocks(type, rng, outF, inF)]) {
        const x = normals(rng, nTokens * inF);
        const expected = referenceSlice(w, x, nTokens, rowStart, rowEnd);
        for (const arena of ARENAS) {
          const actual = wasmMatmul(arena, w, x, nTokens, rowStart, rowEnd, kernel, quantize, scratch);
          assertBitExact(actual, expected, `${arena.build} ${kernel}${scratch ? " with scratch" : ""} ${w === quantized ? "quantized" : "random bytes"} nTokens ${nTokens} inF ${inF} outF ${outF} rows [${rowStart}, ${rowEnd})`);
        }
      }
    }
  });
}

test("block-format kernels are bit-exact at the ends of the activation range (every quant +-127) and with all-zero activation blocks", () => {
  // Activations of +-1 quantize to +-127 everywhere (the relaxed build's 8-bit dots see their
  // operands' extremes); a zero block has d = 0 and must contribute exactly 0 (and its bsums 0).
  const rng = new Rng(0x7f7e);
  const [inF, outF] = [1024, 13];
  for (const [type, kernel, quantize, scratch] of KERNELS) {
    const w = randomBlocks(type, rng, outF, inF);
    for (const nTokens of [1, 3]) {
      const x = new Float32Array(nTokens * inF);
      for (let i = 0; i < x.length; i++) {
        const block = Math.floor(i / 256) % 4;
        x[i] = block === 0 ? (rng.nextU32() & 1 ? 1 : -1) : block === 1 ? 0 : block === 2 ? -1 : rng.normal();
      }
      const expected = referenceSlice(w, x, nTokens, 0, outF);
      for (const arena of ARENAS) {
        assertBitExact(wasmMatmul(arena, w, x, nTokens, 0, outF, kernel, quantize, scratch), expected, `${arena.build} ${kernel}${scratch ? " with scratch" : ""} activation extremes, nTokens ${nTokens}`);
      }
    }
  }
});
