// The float weight dtypes the matrix kernels take (compile-time constants of their inlined bodies:
// each export gets its own copy) and how eight elements of each are read as two float32 vectors,
// exactly (vec.ts's widenings). matmul.ts (forward) and linear-backward.ts (the backward products)
// share them; matmul.ts adds its f16 variants on top.

import { bf16Hi, bf16Lo, bf16ToF32, f16Hi, f16Lo, f16ToF32 } from "./vec";

export const F32: i32 = 0;
export const BF16: i32 = 1;
export const F16: i32 = 2;

/** Bytes per element (any f16 variant of matmul.ts is 2). */
// @ts-ignore: decorator
@inline export function elementBytes(dt: i32): usize {
  return dt == F32 ? 4 : 2;
}

/** Elements 0..3 of the eight at p, as float32 (`r` the raw vector at p, `s` = f16High(r) for f16). */
// @ts-ignore: decorator
@inline export function floatLo(dt: i32, r: v128, s: v128): v128 {
  if (dt == F32) return r;
  if (dt == BF16) return bf16Lo(r);
  return f16Lo(r, s);
}

/** Elements 4..7 of the eight at p, as float32. */
// @ts-ignore: decorator
@inline export function floatHi(dt: i32, p: usize, r: v128, s: v128): v128 {
  if (dt == F32) return v128.load(p, 16);
  if (dt == BF16) return bf16Hi(r);
  return f16Hi(r, s);
}

/** One element at p, as float32. */
// @ts-ignore: decorator
@inline export function floatScalar(dt: i32, p: usize): f32 {
  if (dt == F32) return load<f32>(p);
  if (dt == BF16) return bf16ToF32(<u32>load<u16>(p));
  return f16ToF32(<u32>load<u16>(p));
}
