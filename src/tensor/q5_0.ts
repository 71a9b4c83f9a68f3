// The Q5_0 block format of llama.cpp: Q4_0 (q4_0.ts) with a fifth bit per weight, weight =
// d * (q - 16). Byte for byte ggml's `block_q5_0` (ggml/src/ggml-common.h): half d, uint8 qh[4] (a
// little-endian uint32 whose bit j is the fifth bit of weight j), uint8 qs[16] (low nibbles: weight j
// < 16 in the low nibble of qs[j], 16 + j in its high nibble); 22 bytes. quantize_row_q5_0_ref and
// dequantize_row_q5_0 (ggml/src/ggml-quants.c), bit-exact: d = max / -16, q = min(31, (int8)(x * id
// + 16.5)).

import type { BlockFormat } from "./block-format.js";
import { loadF16, storeF16 } from "./k-quant-math.js";
import { signedAbsMax } from "./q4_0.js";

/** Weights per block: `#define QK5_0 32`. */
export const Q5_0_BLOCK_SIZE = 32;
/** Bytes per block: sizeof(ggml_half) + sizeof(uint32_t) + QK5_0 / 2, the static_assert on block_q5_0. */
export const Q5_0_BLOCK_BYTES = 22;
/** Byte offsets of qh and qs in a block_q5_0. */
export const Q5_0_QH = 2;
export const Q5_0_QS = 6;

const fr = Math.fround;

/** Store the 32 fifth bits (bit j of `qh`) as the little-endian uint32 at byte `at`. */
export function storeQh(dst: Uint8Array, at: number, qh: number): void {
  for (let k = 0; k < 4; k++) dst[at + k] = (qh >>> (8 * k)) & 0xff;
}

/** The 5-bit quant j (0..31) of a Q5_0/Q5_1 block whose qh is at byte `qhAt` and qs at `qsAt`. */
export function quant5(data: Uint8Array, qhAt: number, qsAt: number, j: number): number {
  const byte = data[qsAt + (j & 15)]!;
  const high = (data[qhAt + (j >> 3)]! >> (j & 7)) & 1;
  return (j < 16 ? byte & 0xf : byte >> 4) | (high << 4);
}

/** quantize_row_q5_0_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ5_0(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const x = srcOffset + b * Q5_0_BLOCK_SIZE;
    const y = dstOffset + b * Q5_0_BLOCK_BYTES;
    const d = fr(signedAbsMax(src, x, Q5_0_BLOCK_SIZE) / -16);
    const id = d !== 0 ? fr(1 / d) : 0;
    storeF16(dst, y, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const xi0 = Math.min(31, Math.trunc(fr(fr(src[x + j]! * id) + 16.5)));
      const xi1 = Math.min(31, Math.trunc(fr(fr(src[x + 16 + j]! * id) + 16.5)));
      dst[y + Q5_0_QS + j] = (xi0 & 0xf) | ((xi1 & 0xf) << 4);
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + 16);
    }
    storeQh(dst, y + Q5_0_QH, qh);
  }
}

/** dequantize_row_q5_0: (q - 16) * d (exact in float32). */
export function dequantizeBlocksQ5_0(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const block = blockOffset + b * Q5_0_BLOCK_BYTES;
    const d = loadF16(data, block);
    for (let j = 0; j < Q5_0_BLOCK_SIZE; j++) out[outOffset + b * Q5_0_BLOCK_SIZE + j] = (quant5(data, block + Q5_0_QH, block + Q5_0_QS, j) - 16) * d;
  }
}

/** Q5_0's row in the table of block formats: GGML_TYPE_Q5_0 = 6. */
export const Q5_0_FORMAT: BlockFormat = {
  type: "q5_0",
  ggmlName: "Q5_0",
  ggmlType: 6,
  blockSize: Q5_0_BLOCK_SIZE,
  blockBytes: Q5_0_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ5_0,
  quantizeBlocks: quantizeBlocksQ5_0,
};
