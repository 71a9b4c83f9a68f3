// Bit-exact bf16/f16 conversion: every 16-bit pattern round-trips, and narrowing rounds to nearest
// even, overflows and keeps subnormals as PyTorch does.

import { test } from "node:test";
import assert from "node:assert/strict";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "./float16.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number): number => { f32[0] = x; return u32[0]!; };

test("bfloat16 widening is exact and narrowing round-trips every bf16 value", () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = bf16ToF32(bits);
    if (Number.isNaN(value)) {
      assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(value))));
      continue;
    }
    assert.equal(bitsOf(value), bits << 16 >>> 0);
    assert.equal(f32ToBf16(value), bits);
  }
});

test("bfloat16 narrowing rounds to nearest, ties to even", () => {
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties go to the even mantissa (1.0).
  assert.equal(bf16ToF32(f32ToBf16(1 + 2 ** -8)), 1);
  // 1 + 3 * 2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even): goes up.
  assert.equal(bf16ToF32(f32ToBf16(1 + 3 * 2 ** -8)), 1.015625);
  assert.equal(bf16ToF32(f32ToBf16(1 + 2 ** -8 + 2 ** -20)), 1.0078125);
  assert.equal(bf16ToF32(f32ToBf16(3.4e38)), Infinity);
});

test("half widening is exact and narrowing round-trips every half value", () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = f16ToF32(bits);
    if (Number.isNaN(value)) {
      assert.ok(Number.isNaN(f16ToF32(f32ToF16(value))));
      continue;
    }
    assert.equal(f32ToF16(value), bits, `bits 0x${bits.toString(16)}`);
  }
});

test("half narrowing rounds to nearest even, overflows to infinity, keeps subnormals", () => {
  assert.equal(f16ToF32(f32ToF16(65504)), 65504);
  assert.equal(f16ToF32(f32ToF16(65519)), 65504);
  assert.equal(f16ToF32(f32ToF16(65520)), Infinity);
  assert.equal(f16ToF32(f32ToF16(-1e6)), -Infinity);
  assert.equal(f16ToF32(f32ToF16(2 ** -24)), 2 ** -24);
  assert.equal(f16ToF32(f32ToF16(2 ** -25)), 0); // tie between 0 and 2^-24: even is 0
  assert.equal(f16ToF32(f32ToF16(3 * 2 ** -25)), 2 ** -23); // tie between 1 and 2 units: even is 2
  assert.equal(f16ToF32(f32ToF16(1 + 2 ** -11)), 1); // tie: even mantissa
  assert.equal(f16ToF32(f32ToF16(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
});
