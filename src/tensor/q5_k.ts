// The Q5_K block format of llama.cpp: Q4_K (q4_k.ts) with a fifth bit per weight. Byte for byte
// ggml's `block_q5_K` (ggml/src/ggml-common.h): half d, half dmin, uint8 scales[12], uint8 qh[32],
// uint8 qs[128] (176 bytes); weight 64c + l (l < 32) has its fifth bit in bit 2c of qh[l], weight
// 64c + 32 + l in bit 2c + 1. dequantize_row_q5_K and quantize_row_q5_K_ref
// (ggml/src/ggml-quants.c) ported operation for operation in float32 (bit-exact).

import type { BlockFormat } from "./block-format.js";
import { QK_K } from "./k-quant-math.js";
import { dequantizeK45, quantizeSuperBlockK45 } from "./q4_k.js";

/** Bytes per block: 2 * sizeof(ggml_half) + K_SCALE_SIZE + QK_K/8 + QK_K/2, the static_assert on block_q5_K. */
export const Q5_K_BLOCK_BYTES = 176;
/** Byte offsets of qh and qs in a block_q5_K. */
export const Q5_K_QH = 16;
export const Q5_K_QS = 48;

const L = new Uint8Array(QK_K);

/** quantize_row_q5_K_ref over `nBlocks` blocks from src[srcOffset] into dst at byte dstOffset. */
export function quantizeBlocksQ5_K(src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number): void {
  for (let b = 0; b < nBlocks; b++) {
    const y = dstOffset + b * Q5_K_BLOCK_BYTES;
    quantizeSuperBlockK45(src, srcOffset + b * QK_K, dst, y, 31, -0.5, Math.fround(0.1), 15, L);
    dst.fill(0, y + Q5_K_QH, y + Q5_K_QH + 32);
    for (let c = 0; c < 4; c++) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[64 * c + j]!;
        let l2 = L[64 * c + j + 32]!;
        if (l1 > 15) {
          l1 -= 16;
          dst[y + Q5_K_QH + j] = dst[y + Q5_K_QH + j]! | (1 << (2 * c));
        }
        if (l2 > 15) {
          l2 -= 16;
          dst[y + Q5_K_QH + j] = dst[y + Q5_K_QH + j]! | (2 << (2 * c));
        }
        dst[y + Q5_K_QS + 32 * c + j] = l1 | (l2 << 4);
      }
    }
  }
}

/** dequantize_row_q5_K. */
export function dequantizeBlocksQ5_K(data: Uint8Array, blockOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void {
  dequantizeK45(data, blockOffset, nBlocks, out, outOffset, Q5_K_BLOCK_BYTES, Q5_K_QS, Q5_K_QH);
}

/** Q5_K's row in the table of block formats: GGML_TYPE_Q5_K = 13. */
export const Q5_K_FORMAT: BlockFormat = {
  type: "q5_k",
  ggmlName: "Q5_K",
  ggmlType: 13,
  blockSize: QK_K,
  blockBytes: Q5_K_BLOCK_BYTES,
  dequantizeBlocks: dequantizeBlocksQ5_K,
  quantizeBlocks: quantizeBlocksQ5_K,
};
