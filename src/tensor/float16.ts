// Bit-exact conversions between float32 and the two 16-bit float formats (IEEE half, bfloat16).
// Widening is exact. Narrowing rounds to nearest, ties to even, as PyTorch's `.to(torch.bfloat16)`
// and `.to(torch.float16)` do (c10/util/BFloat16.h round_to_nearest_even; c10/util/Half.h
// fp16_ieee_from_fp32_value), and keeps NaN a NaN.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value of bfloat16 bits (exact). */
export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** bfloat16 bits of a number: first rounded to float32, then to bfloat16 (nearest, ties to even). */
export function f32ToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x0040) & 0xffff; // NaN stays a (quiet) NaN
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** float32 value of IEEE half bits (exact): a lookup in the table of all 65536 values. */
export function f16ToF32(bits: number): number {
  return F16_VALUES[bits & 0xffff]!;
}

/** The value of IEEE half bits, from the format's definition (builds F16_VALUES). */
function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Every half value by its bits (256 KiB): the block formats' scales are decoded billions of times. */
const F16_VALUES = Float32Array.from({ length: 65536 }, (_, bits) => f16Value(bits));

/** IEEE half bits of a number: first rounded to float32, then to half (nearest, ties to even). */
export function f32ToF16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const absBits = x & 0x7fffffff;
  if (absBits > 0x7f800000) return sign | 0x7e00; // NaN
  if (absBits >= 0x477ff000) return sign | 0x7c00; // rounds past the largest half (65504): infinity
  if (absBits < 0x38800000) {
    // Subnormal half (or zero): the value in units of 2^-24, rounded to nearest even.
    const a = Math.abs(f32[0]!) * 2 ** 24;
    let q = Math.floor(a);
    const r = a - q;
    if (r > 0.5 || (r === 0.5 && (q & 1) === 1)) q += 1;
    return sign | q;
  }
  // Normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits.
  const rebased = absBits - ((127 - 15) << 23);
  const rounded = rebased + 0xfff + ((rebased >>> 13) & 1);
  return sign | (rounded >>> 13);
}

/** Widen a whole array of bfloat16 bits to float32. */
export function bf16ArrayToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const dstBits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) dstBits[i] = src[i]! << 16;
  return dst;
}

/** Widen a whole array of half bits to float32. */
export function f16ArrayToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = f16ToF32(src[i]!);
  return dst;
}

/** Whether no half in `bits` is infinity or NaN (exponent field all ones). */
export function f16ArrayFinite(bits: Uint16Array): boolean {
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7c00) === 0x7c00) return false;
  return true;
}

/** Narrow a float32 array to bfloat16 bits (nearest, ties to even). */
export function f32ArrayToBf16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = f32ToBf16(src[i]!);
  return dst;
}

/** Narrow a float32 array to half bits (nearest, ties to even). */
export function f32ArrayToF16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = f32ToF16(src[i]!);
  return dst;
}
