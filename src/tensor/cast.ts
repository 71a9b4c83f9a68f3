// Converting float tensors between f32, f16 and bf16, with PyTorch's rounding (nearest, ties to
// even; see float16.ts). Widening is exact. Used when a model is loaded with a dtype other than the
// stored one (`dtype: "float32"` on a bf16 checkpoint, as `torch_dtype=torch.float32` does).

import type { FloatDType } from "./dtype.js";
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from "./float16.js";
import { dequantizeTensor, isQuantTensor } from "./quant-formats.js";
import type { FloatTensor, WeightTensor } from "./tensor.js";

/** The elements of a float tensor as float32 (the same array for an f32 tensor). */
export function floatTensorToF32(t: FloatTensor): Float32Array {
  switch (t.dtype) {
    case "f32": return t.data;
    case "bf16": return bf16ArrayToF32(t.data);
    case "f16": return f16ArrayToF32(t.data);
  }
}

/** The elements of a weight as float32: widened (see floatTensorToF32), or dequantized from its block format. */
export function weightToF32(t: WeightTensor): Float32Array {
  return isQuantTensor(t) ? dequantizeTensor(t) : floatTensorToF32(t);
}

/** The tensor in `dtype`: the same object when it already is, else a new tensor. */
export function castFloat(t: FloatTensor, dtype: FloatDType): FloatTensor {
  if (t.dtype === dtype) return t;
  const f32 = floatTensorToF32(t);
  switch (dtype) {
    case "f32": return { dtype, shape: t.shape, data: f32 };
    case "bf16": return { dtype, shape: t.shape, data: f32ArrayToBf16(f32) };
    case "f16": return { dtype, shape: t.shape, data: f32ArrayToF16(f32) };
  }
}
