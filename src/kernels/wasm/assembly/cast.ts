// Float casts of whole arrays, 16-bit -> float32: the twins of src/tensor/float16.ts bf16ArrayToF32
// and f16ArrayToF32 (what tensor/cast.ts castFloat uses), bit for bit, NaNs included. The backend
// runs them on every thread when a weight is loaded as float32 from bf16/f16 (backend/wasm/
// convert-weight.ts); each call converts one slice, so threads split the work by ranges.

import { bf16Hi, bf16Lo, bf16ToF32, f16High, f16Hi, f16Lo, f16ToF32 } from "./vec";

/** The float32 NaN that float16.ts's table holds for every half NaN (a JavaScript NaN stored as float32). */
const CANONICAL_NAN: u32 = 0x7fc00000;

/**
 * Lanes of `v` that are NaN replaced by CANONICAL_NAN: the widening keeps a half NaN's sign and
 * payload, f16ArrayToF32's table does not (its values come from JavaScript numbers).
 */
// @ts-ignore: decorator
@inline function canonicalNaN(v: v128): v128 {
  return v128.bitselect(i32x4.splat(CANONICAL_NAN), v, f32x4.ne(v, v));
}

/** n bfloat16s at src -> float32 at dst (the bits shifted up 16: sign and payload of NaNs kept, as bf16ArrayToF32). */
export function cast_bf16_f32(dst: usize, src: usize, n: u32): void {
  const n8 = n & ~7;
  for (let i: u32 = 0; i < n8; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), bf16Lo(h));
    v128.store(dst + (<usize>i << 2), bf16Hi(h), 16);
  }
  for (let i = n8; i < n; i++) store<f32>(dst + (<usize>i << 2), bf16ToF32(<u32>load<u16>(src + (<usize>i << 1))));
}

/** n halves at src -> float32 at dst (exact; every NaN becomes CANONICAL_NAN, as f16ArrayToF32). */
export function cast_f16_f32(dst: usize, src: usize, n: u32): void {
  const n8 = n & ~7;
  for (let i: u32 = 0; i < n8; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const high = f16High(h);
    v128.store(dst + (<usize>i << 2), canonicalNaN(f16Lo(h, high)));
    v128.store(dst + (<usize>i << 2), canonicalNaN(f16Hi(h, high)), 16);
  }
  for (let i = n8; i < n; i++) {
    const v = f16ToF32(<u32>load<u16>(src + (<usize>i << 1)));
    store<u32>(dst + (<usize>i << 2), v != v ? CANONICAL_NAN : reinterpret<u32>(v));
  }
}
