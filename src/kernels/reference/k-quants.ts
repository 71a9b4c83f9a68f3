// The reference dot products of the K-quant weight formats (tensor/q2_k.ts ... q6_k.ts) with
// Q8_K activations (tensor/q8_k.ts), as llama.cpp's CPU backend computes them:
// ggml_vec_dot_q2_K_q8_K_generic ... ..._q6_K_... (ggml/src/ggml-cpu/quants.c). Q2_K keeps one int
// sum per super-block: sumf += d_x d_w * isum - d_x dmin_w * sum_j bsums[j] * min[j]. The others
// keep eight int32 lanes aux32[l] (l = weight index mod 8) of exact integer sums, each sub-block's
// products times its integer scale, then per super-block eight float lanes sums[l] += d * aux32[l]
// with d = d_w * d_x; the lanes are added in order at the end. The Q4_K/Q5_K mins use the Q8_K block
// sums: sumf -= dmin * sum_j bsums[j] * min[j / 2]. Every float operation is one float32 rounding in
// the C code's order (Math.fround), so the result is bit-exact with that C compiled without fused
// multiply-add, and with the WebAssembly twins (kernels/wasm/assembly/kquants.ts). quant-dot.ts puts
// these in the table of dot products.

import { QK_K, loadF16, loadF32, scaleMinK4 } from "../../tensor/k-quant-math.js";
import { Q2_K_BLOCK_BYTES, Q2_K_D, Q2_K_DMIN, q2_KQuant } from "../../tensor/q2_k.js";
import { Q3_K_BLOCK_BYTES, Q3_K_D, q3_KQuant, q3_KScale } from "../../tensor/q3_k.js";
import { K4_SCALES, Q4_K_BLOCK_BYTES, Q4_K_QS } from "../../tensor/q4_k.js";
import { Q5_K_BLOCK_BYTES, Q5_K_QH, Q5_K_QS } from "../../tensor/q5_k.js";
import { Q6_K_BLOCK_BYTES, Q6_K_D, Q6_K_QH, Q6_K_SCALES } from "../../tensor/q6_k.js";
import { Q8_K_BLOCK_BYTES, Q8_K_BSUMS, Q8_K_QS } from "../../tensor/q8_k.js";

const fr = Math.fround;
const aux32 = new Int32Array(8);
const sums = new Float32Array(8);

/** int8 j of the Q8_K block at `block`. */
function q8(a: Uint8Array, block: number, j: number): number {
  return (a[block + Q8_K_QS + j]! << 24) >> 24;
}

/** int16 bsums[j] of the Q8_K block at `block`. */
function bsum(a: Uint8Array, block: number, j: number): number {
  return ((a[block + Q8_K_BSUMS + 2 * j]! | (a[block + Q8_K_BSUMS + 2 * j + 1]! << 8)) << 16) >> 16;
}

/** sums[l] += d * aux32[l] for the eight lanes, as the C loop does. */
function addLanes(d: number): void {
  for (let l = 0; l < 8; l++) sums[l] = fr(sums[l]! + fr(d * fr(aux32[l]!)));
}

/** sumf + sums[0] + ... + sums[7], one float32 addition at a time. */
function finish(sumf: number): number {
  for (let l = 0; l < 8; l++) sumf = fr(sumf + sums[l]!);
  return sumf;
}

/**
 * ggml_vec_dot_q4_K_q8_K_generic (q5 false) or ggml_vec_dot_q5_K_q8_K_generic (q5 true): `nBlocks`
 * weight blocks from byte `wOffset` of `w` with as many Q8_K blocks from byte `aOffset` of `a`.
 */
function vecDotQ45K(q5: boolean, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  const blockBytes = q5 ? Q5_K_BLOCK_BYTES : Q4_K_BLOCK_BYTES;
  const qsAt = q5 ? Q5_K_QS : Q4_K_QS;
  sums.fill(0);
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const x = wOffset + i * blockBytes;
    const y = aOffset + i * Q8_K_BLOCK_BYTES;
    aux32.fill(0);
    let sumi = 0;
    for (let j = 0; j < QK_K / 16; j++) sumi += bsum(a, y, j) * (scaleMinK4(j >> 1, w, x + K4_SCALES) >> 8);
    for (let s = 0; s < QK_K / 32; s++) {
      const scale = scaleMinK4(s, w, x + K4_SCALES) & 0xff;
      const c = s >> 1, high = s & 1;
      for (let l = 0; l < 32; l++) {
        const byte = w[x + qsAt + 32 * c + l]!;
        let q = high ? byte >> 4 : byte & 0xf;
        if (q5) q += ((w[x + Q5_K_QH + l]! >> s) & 1) << 4;
        aux32[l & 7] = aux32[l & 7]! + scale * (q * q8(a, y, 32 * s + l));
      }
    }
    const yd = loadF32(a, y);
    addLanes(fr(loadF16(w, x) * yd));
    const dmin = fr(loadF16(w, x + 2) * yd);
    sumf = fr(sumf - fr(dmin * fr(sumi)));
  }
  return finish(sumf);
}

/** ggml_vec_dot_q4_K_q8_K_generic over `nBlocks` blocks. */
export function vecDotQ4_K(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  return vecDotQ45K(false, w, wOffset, a, aOffset, nBlocks);
}

/** ggml_vec_dot_q5_K_q8_K_generic over `nBlocks` blocks. */
export function vecDotQ5_K(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  return vecDotQ45K(true, w, wOffset, a, aOffset, nBlocks);
}

const q6 = new Int8Array(QK_K); // one Q6_K block's quants, minus 32, unpacked as the C code's aux8

/**
 * ggml_vec_dot_q6_K_q8_K_generic over `nBlocks` blocks: one int8 scale per 16 weights, no mins. The
 * quants are unpacked first (as the C code's aux8; the same mapping as q6_KQuant) and the eight
 * lanes kept in locals, for speed: this dot is the tied output projection of most GGUF files.
 */
export function vecDotQ6_K(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  const a8 = int8View(a);
  sums.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const x = wOffset + i * Q6_K_BLOCK_BYTES;
    const y = aOffset + i * Q8_K_BLOCK_BYTES + Q8_K_QS;
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const ql0 = w[x + 64 * h + l]!, ql1 = w[x + 64 * h + 32 + l]!, qh = w[x + Q6_K_QH + 32 * h + l]!;
        q6[128 * h + l] = ((ql0 & 0xf) | ((qh & 3) << 4)) - 32;
        q6[128 * h + 32 + l] = ((ql1 & 0xf) | (((qh >> 2) & 3) << 4)) - 32;
        q6[128 * h + 64 + l] = ((ql0 >> 4) | (((qh >> 4) & 3) << 4)) - 32;
        q6[128 * h + 96 + l] = ((ql1 >> 4) | (((qh >> 6) & 3) << 4)) - 32;
      }
    }
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (let j = 0; j < QK_K; j += 8) {
      const scale = (w[x + Q6_K_SCALES + (j >> 4)]! << 24) >> 24;
      s0 += scale * (q6[j]! * a8[y + j]!);
      s1 += scale * (q6[j + 1]! * a8[y + j + 1]!);
      s2 += scale * (q6[j + 2]! * a8[y + j + 2]!);
      s3 += scale * (q6[j + 3]! * a8[y + j + 3]!);
      s4 += scale * (q6[j + 4]! * a8[y + j + 4]!);
      s5 += scale * (q6[j + 5]! * a8[y + j + 5]!);
      s6 += scale * (q6[j + 6]! * a8[y + j + 6]!);
      s7 += scale * (q6[j + 7]! * a8[y + j + 7]!);
    }
    aux32[0] = s0; aux32[1] = s1; aux32[2] = s2; aux32[3] = s3; aux32[4] = s4; aux32[5] = s5; aux32[6] = s6; aux32[7] = s7;
    addLanes(fr(loadF16(w, x + Q6_K_D) * loadF32(a, y - Q8_K_QS)));
  }
  return finish(0);
}

let viewed: Uint8Array | undefined;
let view: Int8Array = new Int8Array(0);

/** `a` as int8 (a cached view: the activation row is the same for every output of a matmul). */
function int8View(a: Uint8Array): Int8Array {
  if (a !== viewed) {
    viewed = a;
    view = new Int8Array(a.buffer, a.byteOffset, a.byteLength);
  }
  return view;
}

/** ggml_vec_dot_q2_K_q8_K_generic over `nBlocks` blocks: integer sums per super-block, its mins from the Q8_K block sums. */
export function vecDotQ2_K(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const x = wOffset + i * Q2_K_BLOCK_BYTES;
    const y = aOffset + i * Q8_K_BLOCK_BYTES;
    let summs = 0;
    for (let j = 0; j < QK_K / 16; j++) summs += bsum(a, y, j) * (w[x + j]! >> 4);
    let isum = 0;
    for (let g = 0; g < QK_K / 16; g++) {
      let isuml = 0;
      for (let l = 16 * g; l < 16 * g + 16; l++) isuml += q8(a, y, l) * q2_KQuant(w, x, l);
      isum += (w[x + g]! & 0xf) * isuml;
    }
    const yd = loadF32(a, y);
    const dall = fr(yd * loadF16(w, x + Q2_K_D));
    const dmin = fr(yd * loadF16(w, x + Q2_K_DMIN));
    sumf = fr(sumf + fr(fr(dall * isum) - fr(dmin * summs)));
  }
  return sumf;
}

/** ggml_vec_dot_q3_K_q8_K_generic over `nBlocks` blocks: eight int32 lanes, scale - 32 per 16 weights. */
export function vecDotQ3_K(w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number, nBlocks: number): number {
  sums.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const x = wOffset + i * Q3_K_BLOCK_BYTES;
    const y = aOffset + i * Q8_K_BLOCK_BYTES;
    aux32.fill(0);
    for (let g = 0; g < QK_K / 16; g++) {
      const scale = q3_KScale(w, x, g);
      for (let l = 0; l < 16; l++) aux32[l & 7] = aux32[l & 7]! + scale * (q3_KQuant(w, x, 16 * g + l) * q8(a, y, 16 * g + l));
    }
    addLanes(fr(loadF16(w, x + Q3_K_D) * loadF32(a, y)));
  }
  return finish(0);
}
