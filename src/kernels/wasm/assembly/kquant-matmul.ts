// The matrix-product loop of the K-quant kernels and their exports: out (nTokens, outF) rows
// [rowStart, rowEnd) = xq @ w^T, xq from quantize_q8_k (kquants.ts; nTokens rows of inF / 256
// Q8_K blocks), w (outF, inF / 256) blocks of the format. Each format's tile, its block dot over one
// row, bit-exact with the reference, lives with the format (q2_k.ts, q3_k.ts, kquants.ts for Q4_K and
// Q5_K, q6_k.ts); the format is a constant at every call, so each export inlines its own tile alone.
//
// Decode (one token): rows in pairs g, g + gap (one pass over the token's activations serves two
// rows; the pairs' rows are half the slice apart, so each thread reads two long streams), a last row
// alone. Prefill: blocks of ROW_BLOCK rows, each row against tokens in pairs (its unpacked
// quants serve both), a last token alone. Larger tiles need more than the 16 vector registers of
// x86-64 (every row x token pair holds two accumulators).

import { Q8_K_BYTES, QK_K } from "./kquant-vec";
import { Q4_K_BYTES, Q5_K_BYTES, tileK45 } from "./kquants";
import { Q2_K_BYTES, tileQ2K } from "./q2_k";
import { Q3_K_BYTES, tileQ3K } from "./q3_k";
import { Q6_K_BYTES, tileQ6K } from "./q6_k";
import { prefillQ6K } from "./q6_k-prefill";

/** The formats, as the constant that picks a tile. */
const Q2_K: u32 = 2;
const Q3_K: u32 = 3;
const Q4_K: u32 = 4;
const Q5_K: u32 = 5;
const Q6_K: u32 = 6;

/** Rows per block of the prefill loop: their weights stay in cache while every token pair passes. */
const ROW_BLOCK: u32 = 16;

/**
 * The tile of `format` over nb blocks: row x0 with token y0 into o00, and with twoRows row x1 with
 * y0 into o10, or with twoTokens row x0 with token y1 into o01 (not both).
 */
// @ts-ignore: decorator
@inline function tile(format: u32, twoRows: bool, twoTokens: bool, x0: usize, x1: usize, y0: usize, y1: usize, nb: u32, o00: usize, o10: usize, o01: usize): void {
  if (format == Q2_K) tileQ2K(twoRows, twoTokens, x0, x1, y0, y1, nb, o00, o10, o01);
  else if (format == Q3_K) tileQ3K(twoRows, twoTokens, x0, x1, y0, y1, nb, o00, o10, o01);
  else if (format == Q6_K) tileQ6K(twoRows, twoTokens, x0, x1, y0, y1, nb, o00, o10, o01);
  else tileK45(format == Q5_K, twoRows, twoTokens, x0, x1, y0, y1, nb, o00, o10, o01);
}

/** The loop over rows and tokens for `format`, whose blocks are blockBytes long. */
// @ts-ignore: decorator
@inline function matmulK(format: u32, blockBytes: usize, out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  const nb = inF / QK_K;
  const rowBytes = <usize>nb * blockBytes;
  const tokenBytes = <usize>nb * Q8_K_BYTES;
  if (nTokens == 1) {
    // Tiles of rows g and g + gap, gap = half the slice: tile g + 1 reads both its rows right after
    // tile g's, so a thread reads two long sequential streams instead of starting two new ones every
    // two rows (a 2048-wide Q4_K row is 1152 bytes, short for the hardware prefetcher; the float and
    // q8_0 decode tiles do the same, matmul.ts decodeRows8).
    const gap = (rowEnd - rowStart) >> 1;
    const pair = <usize>gap * rowBytes;
    for (let r = rowStart; r < rowStart + gap; r++) {
      const x = w + <usize>r * rowBytes;
      tile(format, true, false, x, x + pair, xq, xq, nb, out + (<usize>r << 2), out + (<usize>(r + gap) << 2), 0);
    }
    const r = rowStart + 2 * gap;
    if (r < rowEnd) tile(format, false, false, w + <usize>r * rowBytes, 0, xq, xq, nb, out + (<usize>r << 2), 0, 0);
    return;
  }
  for (let r0 = rowStart; r0 < rowEnd; r0 += ROW_BLOCK) {
    const r1 = r0 + ROW_BLOCK < rowEnd ? r0 + ROW_BLOCK : rowEnd;
    let t: u32 = 0;
    for (; t + 2 <= nTokens; t += 2) {
      const y = xq + <usize>t * tokenBytes;
      const o = out + (<usize>t * outF << 2);
      for (let r = r0; r < r1; r++) {
        const x = w + <usize>r * rowBytes;
        tile(format, false, true, x, x, y, y + tokenBytes, nb, o + (<usize>r << 2), 0, o + ((<usize>outF + r) << 2));
      }
    }
    if (t < nTokens) {
      const y = xq + <usize>t * tokenBytes;
      const o = out + (<usize>t * outF << 2);
      for (let r = r0; r < r1; r++) tile(format, false, false, w + <usize>r * rowBytes, 0, y, y, nb, o + (<usize>r << 2), 0, 0);
    }
  }
}

/** Q2_K weights (84-byte blocks). */
export function matmul_q2_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulK(Q2_K, Q2_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** Q3_K weights (110-byte blocks). */
export function matmul_q3_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulK(Q3_K, Q3_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** Q4_K weights (144-byte blocks). */
export function matmul_q4_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulK(Q4_K, Q4_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** Q5_K weights (176-byte blocks). */
export function matmul_q5_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32): void {
  matmulK(Q5_K, Q5_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/**
 * Q6_K weights (210-byte blocks). scratch: 0, or for nTokens > 1 this thread's
 * matmul_q6_k_scratch_bytes(nTokens, inF) bytes, where the prefill rearranges both operands once
 * (q6_k-prefill.ts; a host passing no ninth argument passes 0).
 */
export function matmul_q6_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, scratch: usize): void {
  if (nTokens > 1 && scratch != 0) {
    prefillQ6K(out, xq, w, nTokens, inF, outF, rowStart, rowEnd, scratch);
    return;
  }
  matmulK(Q6_K, Q6_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}
