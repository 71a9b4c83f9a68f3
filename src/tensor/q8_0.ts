// The Q8_0 block format of llama.cpp, as data: int8 weights in blocks of 32 along a row, each block
// a float16 scale `d` followed by 32 int8 quants, weight = d * q. Byte for byte the layout of ggml's
// `block_q8_0` (ggml/src/ggml-common.h) and of GGUF's Q8_0 tensor data, so a row of blocks here is a
// row there. The quantizer is a port of ggml's reference quantizer `quantize_row_q8_0_ref`
// (ggml/src/ggml-quants.c), bit-exact: amax over the block, d = amax / 127 in float32, id = 1 / d
// from that unrounded d, q = roundf(x * id) (ties away from zero), and d stored as float16 (nearest,
// ties to even, as GGML_FP32_TO_FP16). No matrix math here: the q8_0 kernels are in
// kernels/reference/quantized.ts.

import { NumericalError, ShapeError, UnsupportedError } from "../errors.js";
import { bf16ArrayToF32, f16ArrayToF32, f16ToF32, f32ToF16 } from "./float16.js";
import type { FloatTensor } from "./tensor.js";

/** Weights per block: `#define QK8_0 32` in ggml/src/ggml-common.h. */
export const Q8_0_BLOCK_SIZE = 32;

/**
 * Bytes per block: `sizeof(ggml_half) + QK8_0` = 2 + 32, the static_assert on `block_q8_0` in
 * ggml/src/ggml-common.h (GGUF's Q8_0 type size, gguf-py GGML_QUANT_SIZES[Q8_0] = (32, 34)).
 */
export const Q8_0_BLOCK_BYTES = 34;

/** Bytes of the float16 scale at the start of a block (`ggml_half d`, little-endian). */
export const Q8_0_SCALE_BYTES = 2;

/** Largest quant magnitude: `(1 << 7) - 1` in quantize_row_q8_0_ref. */
export const Q8_0_MAX_QUANT = 127;

/**
 * A matrix of Q8_0 blocks: `shape` is [rows, cols] in weights (cols a multiple of 32), `data` holds
 * rows x cols / 32 blocks of 34 bytes, row after row.
 */
export interface Q8_0Tensor {
  readonly dtype: "q8_0";
  readonly shape: readonly [rows: number, cols: number];
  readonly data: Uint8Array;
}

/** Blocks in one row of `cols` weights. */
export function q8_0BlocksPerRow(cols: number): number {
  return cols / Q8_0_BLOCK_SIZE;
}

/**
 * Check that `shape` can hold Q8_0 data: 2-D, rows of whole blocks.
 * @returns [rows, cols]
 * @throws UnsupportedError naming the tensor and its shape otherwise (keep such a tensor in a float dtype)
 */
export function checkQ8_0Shape(shape: readonly number[], name = "tensor"): [number, number] {
  const [rows, cols] = shape;
  if (shape.length !== 2 || rows === undefined || cols === undefined || !Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new UnsupportedError(`tensor ${name} has shape [${shape.join(", ")}]: q8_0 holds 2-D matrices only; load it in a float dtype`);
  }
  if (cols % Q8_0_BLOCK_SIZE !== 0) {
    throw new UnsupportedError(`tensor ${name} has shape [${rows}, ${cols}]: q8_0 needs rows of whole ${Q8_0_BLOCK_SIZE}-weight blocks (${cols} is not a multiple of ${Q8_0_BLOCK_SIZE}); load it in a float dtype`);
  }
  return [rows, cols];
}

/** Bytes of Q8_0 data for a [rows, cols] matrix. @throws UnsupportedError as checkQ8_0Shape */
export function q8_0ByteLength(shape: readonly number[], name = "tensor"): number {
  const [rows, cols] = checkQ8_0Shape(shape, name);
  return rows * q8_0BlocksPerRow(cols) * Q8_0_BLOCK_BYTES;
}

/**
 * A Q8_0 tensor record over existing bytes (e.g. from a GGUF file), checked.
 * @param shape [rows, cols] in weights
 * @param data rows x cols / 32 blocks of 34 bytes
 * @throws UnsupportedError for a shape that is not 2-D with cols a multiple of 32; ShapeError (in
 *   bytes) when data is not exactly the size the shape needs
 * @example
 * const w = makeQ8_0Tensor([4096, 4096], bytes, "blk.0.attn_q");
 */
export function makeQ8_0Tensor(shape: readonly number[], data: Uint8Array, name = "tensor"): Q8_0Tensor {
  const byteLength = q8_0ByteLength(shape, name);
  if (data.length !== byteLength) throw new ShapeError(name, [byteLength], [data.length], "q8_0 data size in bytes");
  return { dtype: "q8_0", shape: [shape[0]!, shape[1]!], data };
}

/** roundf: to nearest, ties away from zero (Math.round sends -2.5 to -2; C's roundf to -3). */
function roundHalfAwayFromZero(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Quantize `nBlocks` blocks of 32 float32 values from `src` (at element `srcOffset`) into `dst` (at
 * byte `dstOffset`): quantize_row_q8_0_ref, operation for operation in float32 (Math.fround after
 * each float operation; the inputs are float32 already). Does not check its input: a NaN or
 * infinite value gives the garbage the C code gives (quantizeQ8_0 checks weights first).
 */
export function quantizeBlocksQ8_0(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * Q8_0_BLOCK_SIZE;
    const y = dstOffset + b * Q8_0_BLOCK_BYTES;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) {
      const a = Math.abs(src[x + j]!);
      amax = amax > a ? amax : a; // MAX(amax, fabsf(v)) as the C macro evaluates it
    }
    const d = Math.fround(amax / Q8_0_MAX_QUANT);
    const id = d !== 0 ? Math.fround(1 / d) : 0; // from the float32 d, not the float16 one stored
    const dBits = f32ToF16(d);
    dst[y] = dBits & 0xff;
    dst[y + 1] = dBits >>> 8;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) {
      const q = roundHalfAwayFromZero(Math.fround(src[x + j]! * id));
      dst[y + Q8_0_SCALE_BYTES + j] = q & 0xff; // int8 two's complement
    }
  }
}

/** The float16 scale of the block starting at byte `blockOffset`, as a number. */
export function q8_0Scale(data: Uint8Array, blockOffset: number): number {
  return f16ToF32(data[blockOffset]! | (data[blockOffset + 1]! << 8));
}

/** Quant `j` (0..31) of the block starting at byte `blockOffset`, as a signed integer. */
export function q8_0Quant(data: Uint8Array, blockOffset: number, j: number): number {
  return (data[blockOffset + Q8_0_SCALE_BYTES + j]! << 24) >> 24;
}

/**
 * Dequantize `nBlocks` blocks from byte `blockOffset` into `out` (from element 0): d * q, as
 * dequantize_row_q8_0 (exact: an int8 times a float16 fits float32).
 */
export function dequantizeBlocksQ8_0(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q8_0_BLOCK_BYTES;
    const d = q8_0Scale(data, block);
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) out[b * Q8_0_BLOCK_SIZE + j] = q8_0Quant(data, block, j) * d;
  }
}

/**
 * All weights of a Q8_0 tensor as float32, row-major (rows, cols).
 * @example
 * const values = dequantizeQ8_0(model.weights.layers[0].attnQ);
 */
export function dequantizeQ8_0(t: Q8_0Tensor): Float32Array {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols); // (rows, cols)
  dequantizeBlocksQ8_0(t.data, 0, rows * q8_0BlocksPerRow(cols), out);
  return out;
}

/** Copy row `r` of a float tensor (cols wide) into `out` as float32 (exact widening). */
function rowAsF32(t: FloatTensor, r: number, cols: number, out: Float32Array): void {
  const start = r * cols;
  switch (t.dtype) {
    case "f32": out.set(t.data.subarray(start, start + cols)); return;
    case "bf16": bf16ArrayToF32(t.data.subarray(start, start + cols), out); return;
    case "f16": f16ArrayToF32(t.data.subarray(start, start + cols), out); return;
  }
}

/**
 * Quantize a float matrix (f32, f16 or bf16) to Q8_0, one row at a time, so a 16-bit tensor is
 * never widened whole: the extra memory is one float32 row. Bit-exact with llama.cpp's reference
 * quantizer (quantize_row_q8_0_ref, what `llama-quantize` and gguf-py use for Q8_0), applied to the
 * float32 values of the elements.
 * @param src a (rows, cols) float tensor, cols a multiple of 32
 * @param name the tensor's name, for error messages
 * @throws UnsupportedError for a shape that cannot be Q8_0; NumericalError for a NaN or infinite
 *   weight, or a block whose scale overflows float16 (|weight| above 65504 x 127)
 * @example
 * const w = quantizeQ8_0({ dtype: "f32", shape: [2, 32], data: new Float32Array(64).fill(0.5) });
 * // w.data.length === 2 * 34
 */
export function quantizeQ8_0(src: FloatTensor, name = "tensor"): Q8_0Tensor {
  const [rows, cols] = checkQ8_0Shape(src.shape, name);
  if (src.data.length !== rows * cols) throw new ShapeError(name, [rows * cols], [src.data.length], "float data elements");
  const blocksPerRow = q8_0BlocksPerRow(cols);
  const rowBytes = blocksPerRow * Q8_0_BLOCK_BYTES;
  const data = new Uint8Array(rows * rowBytes); // (rows, blocksPerRow) blocks
  const row = new Float32Array(cols); // (cols) one source row as float32
  for (let r = 0; r < rows; r++) {
    rowAsF32(src, r, cols, row);
    for (let i = 0; i < cols; i++) {
      if (!Number.isFinite(row[i]!)) throw new NumericalError(`tensor ${name}: element [${r}, ${i}] is ${row[i]}; q8_0 needs finite weights`);
    }
    quantizeBlocksQ8_0(row, 0, blocksPerRow, data, r * rowBytes);
    for (let b = 0; b < blocksPerRow; b++) {
      const scale = q8_0Scale(data, r * rowBytes + b * Q8_0_BLOCK_BYTES);
      if (!Number.isFinite(scale)) {
        throw new NumericalError(`tensor ${name}: row ${r}, block ${b} (columns ${b * Q8_0_BLOCK_SIZE}..${(b + 1) * Q8_0_BLOCK_SIZE - 1}) has a weight beyond 65504 x 127; its q8_0 scale overflows float16`);
      }
    }
  }
  return { dtype: "q8_0", shape: [rows, cols], data };
}
