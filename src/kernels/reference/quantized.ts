// The reference dot product for Q8_0 weights (tensor/q8_0.ts), as llama.cpp's CPU backend computes
// it; quant-dot.ts runs the matrix multiply and embedding lookup of every block format on these.
// Plain loops, the specification that optimized twins (the WebAssembly kernels) are tested against.
//
// The multiply never dequantizes the weights: like ggml's mul_mat for a Q8_0 weight (vec_dot_type
// Q8_0 in ggml-cpu.c), each activation row is first quantized to Q8_0 blocks, then every output is
// ggml_vec_dot_q8_0_q8_0_generic (ggml/src/ggml-cpu/quants.c): per block an exact integer dot
// product of the 32 int8 pairs, times d_w * d_x, summed in float32. Every float operation here
// rounds to float32 (Math.fround) in the C code's order, so the result is bit-exact with that
// generic C kernel compiled without fused multiply-add.
//
// Departure: llama.cpp's x86 build quantizes activations with its SIMD quantize_row_q8_0, which
// scales by 127 / amax and rounds ties to even; we use the reference quantizer (1 / (amax / 127),
// ties away from zero) for activations too, as its generic build does. The two differ by one quant
// step on rare near-ties.

import { Q8_0_BLOCK_BYTES, Q8_0_BLOCK_SIZE, Q8_0_SCALE_BYTES, q8_0Scale } from "../../tensor/q8_0.js";

/**
 * The dot product of two rows of `nBlocks` Q8_0 blocks, `a` from byte `aOffset` and `b` from byte
 * `bOffset`: ggml_vec_dot_q8_0_q8_0_generic. sumi is exact (|sumi| <= 32 x 127 x 127 < 2^24, so also
 * exact as a float32), d_a * d_b is exact (two 11-bit significands), the rest rounds as float32.
 */
export function vecDotQ8_0(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number, nBlocks: number): number {
  const a8 = int8View(a, 0), b8 = int8View(b, 1);
  let sumf = 0;
  for (let ib = 0; ib < nBlocks; ib++) {
    const blockA = aOffset + ib * Q8_0_BLOCK_BYTES;
    const blockB = bOffset + ib * Q8_0_BLOCK_BYTES;
    const qa = blockA + Q8_0_SCALE_BYTES, qb = blockB + Q8_0_SCALE_BYTES;
    let sumi = 0;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) sumi += a8[qa + j]! * b8[qb + j]!;
    const scale = Math.fround(q8_0Scale(a, blockA) * q8_0Scale(b, blockB));
    sumf = Math.fround(sumf + Math.fround(sumi * scale));
  }
  return sumf;
}

const viewed: [Uint8Array | undefined, Uint8Array | undefined] = [undefined, undefined];
const views: Int8Array[] = [new Int8Array(0), new Int8Array(0)];

/** `a` as int8: a view cached per operand (the same weight and activation rows come back for every output). */
function int8View(a: Uint8Array, slot: 0 | 1): Int8Array {
  if (a !== viewed[slot]) {
    viewed[slot] = a;
    views[slot] = new Int8Array(a.buffer, a.byteOffset, a.byteLength);
  }
  return views[slot]!;
}
