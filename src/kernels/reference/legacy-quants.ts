// The reference dot products of the 32-weight block formats Q4_0, Q4_1, Q5_0, Q5_1 (tensor/q4_0.ts
// ... q5_1.ts) with their activation formats, as llama.cpp's CPU backend computes them:
// ggml_vec_dot_q4_0_q8_0_generic, ..._q4_1_q8_1_..., ..._q5_0_q8_0_..., ..._q5_1_q8_1_...
// (ggml/src/ggml-cpu/quants.c). Per block an exact integer dot sumi of the quants, then, in the C
// code's order, one float32 rounding per operation (Math.fround): Q4_0 sumi * d_w * d_x (left to
// right), Q5_0 (d_w * d_x) * sumi, Q4_1/Q5_1 (d_w * d_x) * sumi + m_w * s_x (s_x = d_x * the sum of
// the activation quants: the offset m times every quant, summed once), all added in block order.
// Bit-exact with that C compiled without fused multiply-add, and with the WebAssembly twins.
// quant-dot.ts puts these in the table of dot products.

import { loadF16 } from "../../tensor/k-quant-math.js";
import { Q4_0_BLOCK_BYTES, q4_0Quant } from "../../tensor/q4_0.js";
import { Q4_1_BLOCK_BYTES, Q4_1_M, q4_1Quant } from "../../tensor/q4_1.js";
import { Q5_0_BLOCK_BYTES, Q5_0_QH, Q5_0_QS, quant5 } from "../../tensor/q5_0.js";
import { Q5_1_BLOCK_BYTES, Q5_1_M, Q5_1_QH, Q5_1_QS } from "../../tensor/q5_1.js";
import { Q8_0_BLOCK_BYTES, q8_0Quant } from "../../tensor/q8_0.js";
import { Q8_1_BLOCK_BYTES, Q8_1_S, q8_1Quant } from "../../tensor/q8_1.js";

const fr = Math.fround;

/** ggml_vec_dot_q4_0_q8_0_generic: `nBlocks` Q4_0 blocks from w[wOffset] with Q8_0 blocks from a[aOffset]. */
export function vecDotQ4_0(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  let sumf = 0;
  for (let ib = 0; ib < nBlocks; ib++) {
    const x = wOffset + ib * Q4_0_BLOCK_BYTES;
    const y = aOffset + ib * Q8_0_BLOCK_BYTES;
    let sumi = 0;
    for (let j = 0; j < 32; j++) sumi += q4_0Quant(w, x, j) * q8_0Quant(a, y, j);
    sumf = fr(sumf + fr(fr(sumi * loadF16(w, x)) * loadF16(a, y)));
  }
  return sumf;
}

/** ggml_vec_dot_q5_0_q8_0_generic: `nBlocks` Q5_0 blocks with Q8_0 blocks. */
export function vecDotQ5_0(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  let sumf = 0;
  for (let ib = 0; ib < nBlocks; ib++) {
    const x = wOffset + ib * Q5_0_BLOCK_BYTES;
    const y = aOffset + ib * Q8_0_BLOCK_BYTES;
    let sumi = 0;
    for (let j = 0; j < 32; j++) sumi += (quant5(w, x + Q5_0_QH, x + Q5_0_QS, j) - 16) * q8_0Quant(a, y, j);
    sumf = fr(sumf + fr(fr(loadF16(w, x) * loadF16(a, y)) * sumi));
  }
  return sumf;
}

/** The Q4_1/Q5_1 dot: per block (d_w * d_x) * sumi + m_w * s_x, summed in block order. */
function vecDotOffset(quant: (w: Uint8Array, x: number, j: number) => number, blockBytes: number, mAt: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  let sumf = 0;
  for (let ib = 0; ib < nBlocks; ib++) {
    const x = wOffset + ib * blockBytes;
    const y = aOffset + ib * Q8_1_BLOCK_BYTES;
    let sumi = 0;
    for (let j = 0; j < 32; j++) sumi += quant(w, x, j) * q8_1Quant(a, y, j);
    const scaled = fr(fr(loadF16(w, x) * loadF16(a, y)) * sumi);
    sumf = fr(sumf + fr(scaled + fr(loadF16(w, x + mAt) * loadF16(a, y + Q8_1_S))));
  }
  return sumf;
}

/** ggml_vec_dot_q4_1_q8_1_generic: `nBlocks` Q4_1 blocks with Q8_1 blocks. */
export function vecDotQ4_1(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  return vecDotOffset(q4_1Quant, Q4_1_BLOCK_BYTES, Q4_1_M, w, wOffset, a, aOffset, nBlocks);
}

const q5_1Quant = (w: Uint8Array, x: number, j: number): number => quant5(w, x + Q5_1_QH, x + Q5_1_QS, j);

/** ggml_vec_dot_q5_1_q8_1_generic: `nBlocks` Q5_1 blocks with Q8_1 blocks. */
export function vecDotQ5_1(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  return vecDotOffset(q5_1Quant, Q5_1_BLOCK_BYTES, Q5_1_M, w, wOffset, a, aOffset, nBlocks);
}
