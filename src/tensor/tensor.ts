// A tensor as data: an element type, a shape and a typed array of the elements in row-major order.
// No math. Weights keep their stored element type (see dtype.ts); kernels dispatch on `dtype`.

import { ShapeError } from "../errors.js";
import type { ArrayOf, DType } from "./dtype.js";
import type { QuantTensor } from "./block-format.js";

/** A dense row-major tensor whose elements are `data` (16-bit floats as raw bits). */
export type Tensor = { [D in DType]: { readonly dtype: D; readonly shape: readonly number[]; readonly data: ArrayOf<D> } }[DType];

/** A tensor of a given dtype. */
export type TensorOf<D extends DType> = Extract<Tensor, { dtype: D }>;

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Make a tensor record, checking that the data holds exactly the shape's elements. */
export function makeTensor<D extends DType>(dtype: D, shape: readonly number[], data: ArrayOf<D>, name = "tensor"): TensorOf<D> {
  if (data.length !== numel(shape)) throw new ShapeError(name, shape, [data.length]);
  return { dtype, shape: [...shape], data } as unknown as TensorOf<D>;
}

/** True when two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A tensor of a floating-point dtype: what weights are made of. */
export type FloatTensor = TensorOf<"f32"> | TensorOf<"f16"> | TensorOf<"bf16">;

/**
 * A weight matrix as the kernels take it: float elements, or blocks of one of llama.cpp's block
 * formats (block-format.ts, quant-formats.ts). Backends dispatch on `dtype`.
 */
export type WeightTensor = FloatTensor | QuantTensor;
