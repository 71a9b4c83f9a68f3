// Element types of tensors, as data: names, byte widths and the typed array that holds each.
// 16-bit floats (f16, bf16) are kept as their raw bits in a Uint16Array and widened by the kernels,
// so a bf16 weight costs 2 bytes resident. No math here beyond bit conversions (see float16.ts).

/** Element type of a tensor. Names follow GGML/PyTorch short names; file formats map to these. */
export type DType = "f64" | "f32" | "f16" | "bf16" | "i64" | "i32" | "i16" | "i8" | "u64" | "u32" | "u16" | "u8" | "bool";

/** The floating-point types a model's weights may be computed from. */
export type FloatDType = "f32" | "f16" | "bf16";

/** PyTorch's names of the float dtypes (torch_dtype values, dtype options), and what they mean here. */
export const TORCH_FLOAT_DTYPES: ReadonlyMap<string, FloatDType> = new Map([
  ["float32", "f32"], ["bfloat16", "bf16"], ["float16", "f16"],
]);

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  f64: 8, f32: 4, f16: 2, bf16: 2,
  i64: 8, i32: 4, i16: 2, i8: 1,
  u64: 8, u32: 4, u16: 2, u8: 1,
  bool: 1,
};

/** The typed array that holds the elements of each dtype (16-bit floats as raw bits). */
export interface DTypeArrays {
  f64: Float64Array; f32: Float32Array; f16: Uint16Array; bf16: Uint16Array;
  i64: BigInt64Array; i32: Int32Array; i16: Int16Array; i8: Int8Array;
  u64: BigUint64Array; u32: Uint32Array; u16: Uint16Array; u8: Uint8Array;
  bool: Uint8Array;
}

export type ArrayOf<D extends DType> = DTypeArrays[D];

export function isFloatDType(dtype: DType): dtype is FloatDType {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16";
}

/**
 * A typed-array view of `byteLength` bytes of `buffer` from `byteOffset`, for `dtype`.
 * The offset must be aligned to the element size (buffers this library allocates always are).
 */
export function viewAs<D extends DType>(dtype: D, buffer: ArrayBufferLike, byteOffset: number, nElements: number): ArrayOf<D> {
  const make = (): DTypeArrays[DType] => {
    switch (dtype) {
      case "f64": return new Float64Array(buffer, byteOffset, nElements);
      case "f32": return new Float32Array(buffer, byteOffset, nElements);
      case "f16": case "bf16": case "u16": return new Uint16Array(buffer, byteOffset, nElements);
      case "i64": return new BigInt64Array(buffer, byteOffset, nElements);
      case "i32": return new Int32Array(buffer, byteOffset, nElements);
      case "i16": return new Int16Array(buffer, byteOffset, nElements);
      case "i8": return new Int8Array(buffer, byteOffset, nElements);
      case "u64": return new BigUint64Array(buffer, byteOffset, nElements);
      case "u32": return new Uint32Array(buffer, byteOffset, nElements);
      case "u8": case "bool": return new Uint8Array(buffer, byteOffset, nElements);
    }
  };
  return make() as ArrayOf<D>;
}

/** A zero-filled array of `nElements` elements of `dtype`. */
export function allocArray<D extends DType>(dtype: D, nElements: number): ArrayOf<D> {
  return viewAs(dtype, new ArrayBuffer(nElements * DTYPE_BYTES[dtype]), 0, nElements);
}
