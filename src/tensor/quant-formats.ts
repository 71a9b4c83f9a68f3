// The table of block formats (ggml's type_traits, ggml/src/ggml.c): one row per quantized type, and
// the generic operations every format gets from its row: shape checks, byte lengths, tensor records,
// whole-tensor quantize (row by row, so a 16-bit tensor is never widened whole) and dequantize.
// Adding a format is one row here plus its file in tensor/ (block layout, quantize/dequantize) and
// its dot product in kernels/reference/quant-dot.ts.

import { NumericalError, ShapeError, UnsupportedError } from "../errors.js";
import type { BlockFormat, BlockType, QuantTensor, QuantType } from "./block-format.js";
import { bf16ArrayToF32, f16ArrayToF32 } from "./float16.js";
import { Q8_0_FORMAT } from "./q8_0.js";
import { Q8_1_FORMAT } from "./q8_1.js";
import { Q4_0_FORMAT } from "./q4_0.js";
import { Q4_1_FORMAT } from "./q4_1.js";
import { Q5_0_FORMAT } from "./q5_0.js";
import { Q5_1_FORMAT } from "./q5_1.js";
import { Q2_K_FORMAT } from "./q2_k.js";
import { Q3_K_FORMAT } from "./q3_k.js";
import { Q4_K_FORMAT } from "./q4_k.js";
import { Q5_K_FORMAT } from "./q5_k.js";
import { Q6_K_FORMAT } from "./q6_k.js";
import { Q8_K_FORMAT } from "./q8_k.js";
import type { FloatTensor, WeightTensor } from "./tensor.js";

export type { BlockFormat, BlockType, QuantTensor, QuantType } from "./block-format.js";

/** Every block format by our name of it. */
export const BLOCK_FORMATS: Readonly<Record<BlockType, BlockFormat>> = {
  q8_0: Q8_0_FORMAT,
  q4_0: Q4_0_FORMAT,
  q4_1: Q4_1_FORMAT,
  q5_0: Q5_0_FORMAT,
  q5_1: Q5_1_FORMAT,
  q2_k: Q2_K_FORMAT,
  q3_k: Q3_K_FORMAT,
  q4_k: Q4_K_FORMAT,
  q5_k: Q5_K_FORMAT,
  q6_k: Q6_K_FORMAT,
  q8_1: Q8_1_FORMAT,
  q8_k: Q8_K_FORMAT,
};

/** The formats weights may be stored in, in the order options list them. */
export const QUANT_TYPES: readonly QuantType[] = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"];

/** True when `dtype` names a weight block format. */
export function isQuantType(dtype: string): dtype is QuantType {
  return (QUANT_TYPES as readonly string[]).includes(dtype);
}

/** True when a weight is in a block format (not a float tensor). */
export function isQuantTensor(t: WeightTensor): t is QuantTensor {
  return isQuantType(t.dtype);
}

/** The block format with GGML type id `ggmlType`, if we have it. */
export function formatOfGgmlType(ggmlType: number): BlockFormat | undefined {
  return Object.values(BLOCK_FORMATS).find((f) => f.ggmlType === ggmlType);
}

/**
 * Check that `shape` can hold `type` data: 2-D, rows of whole blocks.
 * @returns [rows, cols]
 * @throws UnsupportedError naming the tensor and its shape otherwise (keep such a tensor in a float dtype)
 */
export function checkQuantShape(type: BlockType, shape: readonly number[], name = "tensor"): [number, number] {
  const { blockSize } = BLOCK_FORMATS[type];
  const [rows, cols] = shape;
  if (shape.length !== 2 || rows === undefined || cols === undefined || !Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new UnsupportedError(`tensor ${name} has shape [${shape.join(", ")}]: ${type} holds 2-D matrices only; load it in a float dtype`);
  }
  if (cols % blockSize !== 0) {
    throw new UnsupportedError(`tensor ${name} has shape [${rows}, ${cols}]: ${type} needs rows of whole ${blockSize}-weight blocks (${cols} is not a multiple of ${blockSize}); load it in a float dtype`);
  }
  return [rows, cols];
}

/** Bytes of one row of `cols` weights in `type`. */
export function quantRowBytes(type: BlockType, cols: number): number {
  const { blockSize, blockBytes } = BLOCK_FORMATS[type];
  return (cols / blockSize) * blockBytes;
}

/** Bytes of `type` data for a [rows, cols] matrix. @throws UnsupportedError as checkQuantShape */
export function quantByteLength(type: BlockType, shape: readonly number[], name = "tensor"): number {
  const [rows, cols] = checkQuantShape(type, shape, name);
  return rows * quantRowBytes(type, cols);
}

/**
 * A quantized tensor record over existing bytes (e.g. from a GGUF file), checked.
 * @throws UnsupportedError for a shape that is not rows of whole blocks; ShapeError (in bytes) when
 *   data is not exactly the size the shape needs
 * @example
 * const w = makeQuantTensor("q8_0", [4096, 4096], bytes, "blk.0.attn_q");
 */
export function makeQuantTensor(type: QuantType, shape: readonly number[], data: Uint8Array, name = "tensor"): QuantTensor {
  const byteLength = quantByteLength(type, shape, name);
  if (data.length !== byteLength) throw new ShapeError(name, [byteLength], [data.length], `${type} data size in bytes`);
  return { dtype: type, shape: [shape[0]!, shape[1]!], data };
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
 * The error quantizing rows [r0, r0 + n) must report, or undefined: row by row, the row's
 * elements first (a non-finite weight), then its blocks (a block that dequantizes to a non-finite
 * value: its float16 scale overflowed). `x` holds the rows as float32, `data` their blocks.
 * Shared by quantizeTensor and backends that quantize in their own memory, so both say the same.
 */
export function quantizeProblem(type: BlockType, x: Float32Array, data: Uint8Array, dataOffset: number, r0: number, n: number, cols: number, name: string): NumericalError | undefined {
  const format = BLOCK_FORMATS[type];
  const blocksPerRow = cols / format.blockSize;
  const values = new Float32Array(format.blockSize); // (blockSize) one block dequantized
  for (let r = r0; r < r0 + n; r++) {
    for (let i = 0; i < cols; i++) {
      const value = x[(r - r0) * cols + i]!;
      if (!Number.isFinite(value)) return new NumericalError(`tensor ${name}: element [${r}, ${i}] is ${value}; ${type} needs finite weights`);
    }
    for (let b = 0; b < blocksPerRow; b++) {
      format.dequantizeBlocks(data, dataOffset + ((r - r0) * blocksPerRow + b) * format.blockBytes, 1, values, 0);
      if (!values.every(Number.isFinite)) {
        const first = b * format.blockSize;
        return new NumericalError(`tensor ${name}: row ${r}, block ${b} (columns ${first}..${first + format.blockSize - 1}) has a weight too large for ${type}: its float16 scale overflows`);
      }
    }
  }
  return undefined;
}

/**
 * Quantize a float matrix (f32, f16 or bf16) to `type`, one row at a time (the extra memory is one
 * float32 row), bit-exact with llama.cpp's reference quantizer for the format applied to the
 * float32 values of the elements.
 * @throws UnsupportedError for a shape that cannot be `type`, or a format we cannot quantize to;
 *   ShapeError when the data does not match the shape; NumericalError for a NaN or infinite
 *   weight, or a block whose scale overflows float16
 * @example
 * const w = quantizeTensor({ dtype: "f32", shape: [2, 32], data: new Float32Array(64).fill(0.5) }, "q8_0");
 * // w.data.length === 2 * 34
 */
export function quantizeTensor(src: FloatTensor, type: QuantType, name = "tensor"): QuantTensor {
  const format = BLOCK_FORMATS[type];
  const quantize = format.quantizeBlocks;
  if (quantize === undefined) throw new UnsupportedError(`tensor ${name}: quantizing to ${type} is not supported (it is a format we read only)`);
  const [rows, cols] = checkQuantShape(type, src.shape, name);
  if (src.data.length !== rows * cols) throw new ShapeError(name, [rows * cols], [src.data.length], "float data elements");
  const blocksPerRow = cols / format.blockSize;
  const rowBytes = blocksPerRow * format.blockBytes;
  const data = new Uint8Array(rows * rowBytes); // (rows, blocksPerRow) blocks
  const row = new Float32Array(cols); // (cols) one source row as float32
  for (let r = 0; r < rows; r++) {
    rowAsF32(src, r, cols, row);
    quantize(row, 0, blocksPerRow, data, r * rowBytes);
    const problem = quantizeProblem(type, row, data, r * rowBytes, r, 1, cols, name);
    if (problem !== undefined) throw problem;
  }
  return { dtype: type, shape: [rows, cols], data };
}

/**
 * Dequantize `nRows` rows of a quantized tensor from row `row0` into `out` (from element 0).
 */
export function dequantizeRows(t: QuantTensor, row0: number, nRows: number, out: Float32Array): void {
  const format = BLOCK_FORMATS[t.dtype];
  const cols = t.shape[1];
  const blocksPerRow = cols / format.blockSize;
  format.dequantizeBlocks(t.data, row0 * blocksPerRow * format.blockBytes, nRows * blocksPerRow, out, 0);
}

/**
 * All weights of a quantized tensor as float32, row-major (rows, cols): ggml's dequantize_row_*.
 * @example
 * const values = dequantizeTensor(model.weights.layers[0].attnQ as QuantTensor);
 */
export function dequantizeTensor(t: QuantTensor): Float32Array {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols); // (rows, cols)
  dequantizeRows(t, 0, rows, out);
  return out;
}
