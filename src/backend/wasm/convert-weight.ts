// Weight conversion at load time inside the WebAssembly backend's memory (Backend.convertWeight):
// float casts and Q8_0 quantization, byte-identical to their JavaScript twins tensor/cast.ts
// castFloat and tensor/quant-formats.ts quantizeTensor (convert-weight.test.ts compares them). Both
// the widening to float32 and quantization run on every thread, a few rows at a time through a
// scratch block of the weight's memory (a staging block, so each memory keeps its room for
// activations; the workers see only the memories, not the stored tensor): widening copies 16-bit
// rows there and the cast kernels (bit for bit float16.ts's array widenings) write them into the
// weight; quantization widens rows there into float32 and runs the quantize_q8_0 kernel (the
// activations' quantizer, llama.cpp's quantize_row_q8_0_ref, bit-exact) straight into the weight.
// No converted copy in ordinary arrays. Narrowing casts (rare at load) stay on the calling thread.

import { NumericalError, ShapeError } from "../../errors.js";
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from "../../tensor/float16.js";
import { Q8_0_BLOCK_BYTES, Q8_0_BLOCK_SIZE } from "../../tensor/q8_0.js";
import { type QuantTensor, checkQuantShape, isQuantType, quantizeProblem, quantizeTensor } from "../../tensor/quant-formats.js";
import { type FloatTensor, type WeightTensor, numel } from "../../tensor/tensor.js";
import type { Arena, Block } from "./arena.js";
import { CAST_DTYPES, MAX_CHUNKS, OP } from "./jobs.js";
import type { ThreadPool } from "./pool.js";
import { quantizeIndex } from "./quant-kernels.js";

/** What conversion needs of the backend (WasmBackend has it). */
export interface ConvertTarget {
  readonly arena: Arena;
  readonly pool: ThreadPool;
  allocateWeight(dtype: WeightTensor["dtype"], shape: readonly number[]): WeightTensor;
}

/**
 * Scratch per quantization or widening step: 1 MiB (256 Ki float32 or 512 Ki 16-bit weights, a few
 * rows of a 1B model), small enough to stay in cache between the copy in and the kernel, large
 * enough that waking the threads is a small part of a step.
 */
export const QUANTIZE_SCRATCH_BYTES = 1 << 20;
/** Elements per step of a narrowing cast (f32 -> 16 bits goes through a float32 buffer this long). */
const CAST_STEP_ELEMENTS = 1 << 20;
/** Chunks per thread in a step: more than one, as the backend's ops (a delayed thread leaves its share). */
const CHUNKS_PER_THREAD = 4;
/** Below this many weights a step runs on the calling thread alone (waking costs more). */
const MIN_PARALLEL_ELEMENTS = 1 << 16;

/**
 * `stored` as a weight of `dtype` in the backend's memory: see Backend.convertWeight.
 * @throws UnsupportedError (block-format shape), NumericalError (a non-finite weight or a scale past
 *   float16), ShapeError (data not matching the shape), as castFloat / quantizeTensor
 */
export function convertWeightInto(target: ConvertTarget, stored: FloatTensor, dtype: WeightTensor["dtype"], name = "tensor"): WeightTensor {
  if (dtype === "q8_0") return quantizeInto(target, stored, name);
  if (isQuantType(dtype)) {
    // A block format without a wasm quantizer: the JavaScript quantizer, then one copy in.
    const quantized = quantizeTensor(stored, dtype, name);
    const weight = target.allocateWeight(dtype, stored.shape) as QuantTensor;
    weight.data.set(quantized.data);
    return weight;
  }
  const n = numel(stored.shape);
  if (stored.data.length !== n) throw new ShapeError(name, [n], [stored.data.length], "float data elements");
  const weight = target.allocateWeight(dtype, stored.shape) as FloatTensor;
  if (weight.dtype === stored.dtype) (weight.data as Float32Array | Uint16Array).set(stored.data);
  else if (weight.dtype === "f32") widenInto(target, stored, weight.data);
  else {
    const narrow = weight.dtype === "bf16" ? f32ArrayToBf16 : f32ArrayToF16;
    const f32 = new Float32Array(Math.min(n, CAST_STEP_ELEMENTS)); // (step) widened source elements
    for (let i = 0; i < n; i += CAST_STEP_ELEMENTS) {
      const count = Math.min(CAST_STEP_ELEMENTS, n - i);
      narrow(widen(stored, i, count, f32.subarray(0, count)), weight.data.subarray(i, i + count));
    }
  }
  return weight;
}

/**
 * widen(stored, 0, n, weight) on every thread: rows copied a scratch step at a time into the weight's
 * memory and cast there by the cast job. On this thread alone (widen(), the reference the cast
 * kernels are tested against) for a small tensor, a single thread, or a memory with no room for
 * one row of scratch.
 */
function widenInto(target: ConvertTarget, stored: FloatTensor, weight: Float32Array): void {
  const { arena, pool } = target;
  const n = weight.length;
  const dtypeIndex = CAST_DTYPES.indexOf(stored.dtype as (typeof CAST_DTYPES)[number]);
  const cols = stored.shape.at(-1) ?? 1;
  const scratch = dtypeIndex < 0 || n < MIN_PARALLEL_ELEMENTS || pool.nThreads === 1
    ? undefined
    : allocateScratch(arena, arena.locate(weight)!.memoryIndex, n / cols, cols * 2);
  if (scratch === undefined) {
    widen(stored, 0, n, weight);
    return;
  }
  const { block, rowsPerStep } = scratch;
  try {
    const rows = n / cols;
    const byteOffset = arena.locate(weight)!.byteOffset;
    const staged = new Uint16Array(arena.buffer(block.memoryIndex), block.byteOffset, rowsPerStep * cols); // (rowsPerStep, cols)
    for (let r0 = 0; r0 < rows; r0 += rowsPerStep) {
      const m = Math.min(rowsPerStep, rows - r0);
      staged.set(stored.data.subarray(r0 * cols, (r0 + m) * cols));
      const perChunk = rowsPerChunk(pool, m, cols);
      pool.run(OP.cast, block.memoryIndex, [dtypeIndex, byteOffset + r0 * cols * 4, block.byteOffset, m, cols, perChunk], Math.ceil(m / perChunk));
    }
  } finally {
    arena.free(block);
  }
}

/** Rows per chunk of a step of `rows` rows of `cols` elements: one chunk when waking the threads costs more. */
function rowsPerChunk(pool: ThreadPool, rows: number, cols: number): number {
  return rows * cols < MIN_PARALLEL_ELEMENTS || pool.nThreads === 1
    ? rows
    : Math.max(Math.ceil(rows / (pool.nThreads * CHUNKS_PER_THREAD)), Math.ceil(rows / MAX_CHUNKS));
}

/** Elements [start, start + count) of `t` as float32 into `dst` (exact), which it returns. */
function widen(t: FloatTensor, start: number, count: number, dst: Float32Array): Float32Array {
  const src = t.data.subarray(start, start + count);
  switch (t.dtype) {
    case "f32": dst.set(src); return dst;
    case "bf16": return bf16ArrayToF32(src as Uint16Array, dst);
    case "f16": return f16ArrayToF32(src as Uint16Array, dst);
  }
}

/**
 * widen(), and whether every element is finite: tested on the stored bits (exponent all ones),
 * folded into the bf16 loop so the check costs no second pass over the common case.
 */
function widenFinite(t: FloatTensor, start: number, count: number, dst: Float32Array): boolean {
  if (t.dtype === "bf16") {
    const src = t.data;
    const dstBits = new Uint32Array(dst.buffer, dst.byteOffset, count);
    // (bits & exponent) + one exponent unit reaches 0x8000 only when the exponent is all ones.
    let flags = 0;
    for (let i = 0; i < count; i++) {
      const bits = src[start + i]!;
      flags |= (bits & 0x7f80) + 0x80;
      dstBits[i] = bits << 16;
    }
    return (flags & 0x8000) === 0;
  }
  widen(t, start, count, dst);
  for (let i = 0; i < count; i++) if (!Number.isFinite(dst[i]!)) return false;
  return true;
}

/** Whether the float16 scales of `nBlocks` blocks from byte `byteOffset` are all finite. */
function scalesFinite(data: Uint8Array, byteOffset: number, nBlocks: number): boolean {
  // The high byte of a little-endian half holds its exponent bits 0x7c: all ones is inf or NaN.
  for (let b = 0, at = byteOffset + 1; b < nBlocks; b++, at += Q8_0_BLOCK_BYTES) if ((data[at]! & 0x7c) === 0x7c) return false;
  return true;
}

/** quantizeTensor(…, "q8_0") into a weight allocated in the backend's memory, on every thread. */
function quantizeInto(target: ConvertTarget, stored: FloatTensor, name: string): QuantTensor {
  const [rows, cols] = checkQuantShape("q8_0", stored.shape, name);
  if (stored.data.length !== rows * cols) throw new ShapeError(name, [rows * cols], [stored.data.length], "float data elements");
  const weight = target.allocateWeight("q8_0", [rows, cols]) as QuantTensor;
  if (rows * cols === 0) return weight;
  const { arena, pool } = target;
  const { memoryIndex, byteOffset } = arena.locate(weight.data)!;
  const weightBlock: Block = { memoryIndex, byteOffset, byteLength: weight.data.byteLength };
  const blocksPerRow = cols / Q8_0_BLOCK_SIZE;
  const rowBytes = blocksPerRow * Q8_0_BLOCK_BYTES;
  let scratch: { block: Block; rowsPerStep: number } | undefined;
  try {
    scratch = allocateScratch(arena, memoryIndex, rows, cols * 4);
    if (scratch === undefined) {
      // Not one float32 row fits next to this memory's weights: the JavaScript twin, then a copy.
      weight.data.set(quantizeTensor(stored, "q8_0", name).data);
      return weight;
    }
    const { block, rowsPerStep } = scratch;
    const x = new Float32Array(arena.buffer(memoryIndex), block.byteOffset, rowsPerStep * cols); // (rowsPerStep, cols)
    for (let r0 = 0; r0 < rows; r0 += rowsPerStep) {
      const n = Math.min(rowsPerStep, rows - r0);
      const finite = widenFinite(stored, r0 * cols, n * cols, x);
      const perChunk = rowsPerChunk(pool, n, cols);
      pool.run(OP.quantize, memoryIndex, [quantizeIndex("q8_0"), byteOffset + r0 * rowBytes, block.byteOffset, n, cols, perChunk], Math.ceil(n / perChunk));
      if (!finite || !scalesFinite(weight.data, r0 * rowBytes, n * blocksPerRow)) {
        throw quantizeProblem("q8_0", x, weight.data, r0 * rowBytes, r0, n, cols, name)
          ?? new NumericalError(`tensor ${name}: q8_0 conversion failed a check that quantizeTensor passes (rows ${r0}..${r0 + n - 1})`);
      }
    }
    return weight;
  } catch (error) {
    arena.free(weightBlock);
    throw error;
  } finally {
    if (scratch !== undefined) arena.free(scratch.block);
  }
}

/**
 * A scratch block of whole rows (`rowBytes` each) in memory `memoryIndex`: QUANTIZE_SCRATCH_BYTES,
 * or fewer rows when the memory has no room for that; undefined when not even one row fits.
 */
function allocateScratch(arena: Arena, memoryIndex: number, rows: number, rowBytes: number): { block: Block; rowsPerStep: number } | undefined {
  for (let rowsPerStep = Math.min(rows, Math.max(1, Math.floor(QUANTIZE_SCRATCH_BYTES / rowBytes))); rowsPerStep >= 1; rowsPerStep = Math.floor(rowsPerStep / 2)) {
    const block = arena.allocateIn(memoryIndex, rowsPerStep * rowBytes, "staging");
    if (block !== undefined) return { block, rowsPerStep };
  }
  return undefined;
}
