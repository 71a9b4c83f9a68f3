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
// x86-64 (every row x token pair holds two accumulators). Prefill with scratch (Q4_K, Q5_K, Q6_K, a
// host that passes it; prefillK): both operands rearranged once into the thread's scratch, so each
// row meets four tokens per pass (kquants-prefill.ts, q6_k-prefill.ts).

import { Q8_K_BYTES, QK_K } from "./kquant-vec";
import { Q4_K_BYTES, Q5_K_BYTES, tileK45 } from "./kquants";
import { Q2_K_BYTES, tileQ2K } from "./q2_k";
import { Q3_K_BYTES, tileQ3K } from "./q3_k";
import { Q6_K_BYTES, tileQ6K } from "./q6_k";
import { K45_ACT_BLOCK, K45_W_BLOCK, arrangeK45, prefillTileK45, unpackK45 } from "./kquants-prefill";
import { Q6_K_ACT_BLOCK, Q6_K_W_BLOCK, arrangeQ6K, prefillTileQ6K, unpackQ6K } from "./q6_k-prefill";

/** The formats, as the constant that picks a tile. */
const Q2_K: u32 = 2;
const Q3_K: u32 = 3;
const Q4_K: u32 = 4;
const Q5_K: u32 = 5;
const Q6_K: u32 = 6;

/** Rows per block of the prefill loops: their weights (unpacked, with scratch) stay in cache while every token passes. */
const ROW_BLOCK: u32 = 16;
/** Tokens whose arranged activations the prefill with scratch holds at once (a longer prompt is taken in chunks). */
const TOKEN_CHUNK: u32 = 64;

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

/** Bytes of one token's arranged activations per super-block in the prefill of `format`. */
// @ts-ignore: decorator
@inline function actBlock(format: u32): usize {
  return format == Q6_K ? Q6_K_ACT_BLOCK : K45_ACT_BLOCK;
}

/** Bytes of one row's unpacked super-block in the prefill of `format`. */
// @ts-ignore: decorator
@inline function wBlock(format: u32): usize {
  return format == Q6_K ? Q6_K_W_BLOCK : K45_W_BLOCK;
}

/** Scratch bytes the prefill of `format` needs for nTokens tokens of inF (a multiple of 256); none for decode (one token). */
// @ts-ignore: decorator
@inline function prefillScratchBytes(format: u32, nTokens: u32, inF: u32): u32 {
  if (nTokens <= 1) return 0;
  const nb = inF / QK_K;
  return (nTokens < TOKEN_CHUNK ? nTokens : TOKEN_CHUNK) * nb * <u32>actBlock(format) + ROW_BLOCK * nb * <u32>wBlock(format);
}

/** One row (w, unpacked) against n tokens (1..4, a constant) in the prefill of `format`. */
// @ts-ignore: decorator
@inline function prefillTile(format: u32, n: u32, w: usize, a: usize, aStride: usize, y: usize, yStride: usize, nb: u32, o: usize, oStride: usize): void {
  if (format == Q6_K) prefillTileQ6K(n, w, a, aStride, y, yStride, nb, o, oStride);
  else prefillTileK45(n, w, a, aStride, y, yStride, nb, o, oStride);
}

/**
 * The prefill of `format` (blocks of blockBytes) with scratch (prefillScratchBytes(format, nTokens,
 * inF) bytes, this thread's alone): per chunk of TOKEN_CHUNK tokens, their activations arranged at
 * the start of scratch; per block of ROW_BLOCK rows, their super-blocks unpacked after them; then
 * each row against the chunk's tokens four at a time (a last 1..3 together).
 */
// @ts-ignore: decorator
@inline function prefillK(format: u32, blockBytes: usize, out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, scratch: usize): void {
  const nb = inF / QK_K;
  const rowBytes = <usize>nb * blockBytes, tokenBytes = <usize>nb * Q8_K_BYTES;
  const actRow = <usize>nb * actBlock(format), wRow = <usize>nb * wBlock(format);
  const table = scratch + <usize>(nTokens < TOKEN_CHUNK ? nTokens : TOKEN_CHUNK) * actRow;
  const oStride = <usize>outF << 2;
  for (let t0: u32 = 0; t0 < nTokens; t0 += TOKEN_CHUNK) {
    const nt = nTokens - t0 < TOKEN_CHUNK ? nTokens - t0 : TOKEN_CHUNK;
    const y0 = xq + <usize>t0 * tokenBytes;
    for (let t: u32 = 0; t < nt; t++) {
      for (let i: u32 = 0; i < nb; i++) {
        const dst = scratch + <usize>t * actRow + <usize>i * actBlock(format), y = y0 + <usize>t * tokenBytes + <usize>i * Q8_K_BYTES;
        if (format == Q6_K) arrangeQ6K(dst, y);
        else arrangeK45(dst, y);
      }
    }
    for (let r0 = rowStart; r0 < rowEnd; r0 += ROW_BLOCK) {
      const r1 = r0 + ROW_BLOCK < rowEnd ? r0 + ROW_BLOCK : rowEnd;
      for (let r = r0; r < r1; r++) {
        const x = w + <usize>r * rowBytes, dst = table + <usize>(r - r0) * wRow;
        for (let i: u32 = 0; i < nb; i++) {
          if (format == Q6_K) unpackQ6K(dst + <usize>i * Q6_K_W_BLOCK, x + <usize>i * blockBytes);
          else unpackK45(format == Q5_K, dst + <usize>i * K45_W_BLOCK, x + <usize>i * blockBytes);
        }
      }
      let t: u32 = 0;
      for (; t + 4 <= nt; t += 4) {
        const a = scratch + <usize>t * actRow, y = y0 + <usize>t * tokenBytes, o = out + <usize>(t0 + t) * oStride;
        for (let r = r0; r < r1; r++) prefillTile(format, 4, table + <usize>(r - r0) * wRow, a, actRow, y, tokenBytes, nb, o + (<usize>r << 2), oStride);
      }
      const left = nt - t;
      if (left == 0) continue;
      const a = scratch + <usize>t * actRow, y = y0 + <usize>t * tokenBytes, o = out + <usize>(t0 + t) * oStride;
      for (let r = r0; r < r1; r++) {
        const wr = table + <usize>(r - r0) * wRow, or = o + (<usize>r << 2);
        if (left == 3) prefillTile(format, 3, wr, a, actRow, y, tokenBytes, nb, or, oStride);
        else if (left == 2) prefillTile(format, 2, wr, a, actRow, y, tokenBytes, nb, or, oStride);
        else prefillTile(format, 1, wr, a, actRow, y, tokenBytes, nb, or, oStride);
      }
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

/**
 * Q4_K weights (144-byte blocks). scratch: 0, or for nTokens > 1 this thread's
 * matmul_q4_k_scratch_bytes(nTokens, inF) bytes, where the prefill rearranges both operands once
 * (prefillK; a host passing no ninth argument passes 0).
 */
export function matmul_q4_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, scratch: usize): void {
  if (nTokens > 1 && scratch != 0) prefillK(Q4_K, Q4_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, scratch);
  else matmulK(Q4_K, Q4_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** Q5_K weights (176-byte blocks); scratch as matmul_q4_k's (matmul_q5_k_scratch_bytes). */
export function matmul_q5_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, scratch: usize): void {
  if (nTokens > 1 && scratch != 0) prefillK(Q5_K, Q5_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, scratch);
  else matmulK(Q5_K, Q5_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** Q6_K weights (210-byte blocks); scratch as matmul_q4_k's (matmul_q6_k_scratch_bytes). */
export function matmul_q6_k(out: usize, xq: usize, w: usize, nTokens: u32, inF: u32, outF: u32, rowStart: u32, rowEnd: u32, scratch: usize): void {
  if (nTokens > 1 && scratch != 0) prefillK(Q6_K, Q6_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd, scratch);
  else matmulK(Q6_K, Q6_K_BYTES, out, xq, w, nTokens, inF, outF, rowStart, rowEnd);
}

/** Scratch bytes matmul_q4_k's prefill of nTokens tokens of inF (a multiple of 256) takes (per thread). */
export function matmul_q4_k_scratch_bytes(nTokens: u32, inF: u32): u32 {
  return prefillScratchBytes(Q4_K, nTokens, inF);
}

/** Scratch bytes matmul_q5_k's prefill takes (per thread). */
export function matmul_q5_k_scratch_bytes(nTokens: u32, inF: u32): u32 {
  return prefillScratchBytes(Q5_K, nTokens, inF);
}

/** Scratch bytes matmul_q6_k's prefill takes (per thread). */
export function matmul_q6_k_scratch_bytes(nTokens: u32, inF: u32): u32 {
  return prefillScratchBytes(Q6_K, nTokens, inF);
}
