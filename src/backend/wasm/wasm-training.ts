// The training ops of the WebAssembly backend (backend/training-backend.ts's TrainingBackend: the
// WasmBackend methods of those names call these), on the SIMD twins of the reference kernels in
// src/kernels/wasm/assembly/ (linear-backward.ts, attention-backward.ts, attention-train.ts for the
// masked attention forward, cross-entropy.ts, elementwise-backward.ts), split over the worker pool as the forward ops are: the input gradient,
// RMSNorm and RoPE by tokens, the weight gradient by output rows, attention by (row, kv head), SwiGLU
// by elements. Arrays outside the backend's memory are staged per call (staging.ts); nothing is cached
// across calls, because training changes the weights and norm weights it hands in between them.

import { ArgumentError } from "../../errors.js";
import type { TrainAttentionShape } from "../../kernels/reference/attention-train.js";
import { dequantizeRows, isQuantTensor } from "../../tensor/quant-formats.js";
import type { WeightTensor } from "../../tensor/tensor.js";
import { BLOCK_ALIGN } from "./arena.js";
import { BACKWARD_INPUT_DTYPES, OP } from "./jobs.js";
import { Staging, checkLength, splitWhenNoRoom } from "./staging.js";
import type { WasmBackend } from "./wasm-backend.js";

/** Tokens per chunk of a backward product: multiples of the kernel's four-row tile, a few chunks per thread. */
function tokenChunk(b: WasmBackend, nTokens: number): number {
  if (b.nThreads === 1) return Math.max(nTokens, 1);
  return Math.max(4, Math.ceil(nTokens / (b.nThreads * 4) / 4) * 4);
}

/**
 * dx (nTokens, inFeatures) += alpha * dy (nTokens, outFeatures) @ w (outFeatures, inFeatures), as
 * kernels/reference/linear-backward.ts matmulBackwardInput. A block-format weight is dequantized
 * (the reference's dequantizeRows) into a float32 scratch block for the call.
 */
export function matmulBackwardInput(b: WasmBackend, dx: Float32Array, dy: Float32Array, w: WeightTensor, nTokens: number, alpha = 1): void {
  const [outF, inF] = w.shape as [number, number];
  checkLength("matmulBackwardInput dy", dy, nTokens * outF);
  checkLength("matmulBackwardInput dx", dx, nTokens * inF);
  const quant = isQuantTensor(w);
  const home = quant ? b.homeOf(dx) : b.placeWeight(w).memoryIndex;
  const dtype = quant ? 0 : BACKWARD_INPUT_DTYPES.indexOf(w.dtype as (typeof BACKWARD_INPUT_DTYPES)[number]);
  inputProduct(b, `matmulBackwardInput ${w.dtype}`, home, dtype, dx, dy, inF, outF, nTokens, alpha, (s) => {
    if (!quant) return b.placeWeight(w).byteOffset;
    const wPtr = s.scratch(outF * inF * 4);
    dequantizeRows(w, 0, outF, new Float32Array(b.arena.buffer(home), wPtr, outF * inF));
    return wPtr;
  });
}

/**
 * The input-gradient job over token slices (fewer at a time when there is no room): dx (nTokens,
 * inF) += alpha * dy (nTokens, outF) @ the matrix `weight` gives the address of (once per staging,
 * of dtype index `dtype` in BACKWARD_INPUT_DTYPES), timed as `op`.
 */
function inputProduct(
  b: WasmBackend, op: string, home: number, dtype: number, dx: Float32Array, dy: Float32Array,
  inF: number, outF: number, nTokens: number, alpha: number, weight: (s: Staging) => number,
): void {
  b.timed(op, () => {
    splitWhenNoRoom(nTokens, (t0, n) => new Staging(b.arena, home).run((s) => {
      const wPtr = weight(s);
      const dyPtr = s.place(dy.subarray(t0 * outF, (t0 + n) * outF), "in");
      const dxPtr = s.place(dx.subarray(t0 * inF, (t0 + n) * inF), "inout");
      const perChunk = tokenChunk(b, n);
      b.pool.run(OP.matmulBackwardInput, home, [dtype, dxPtr, dyPtr, wPtr, n, inF, outF, alpha, perChunk], Math.ceil(n / perChunk));
    }));
  });
}

/**
 * dx (nTokens, inFeatures) += alpha * dy (nTokens, outFeatures) @ w (outFeatures, inFeatures) for a
 * float32 w that changes between calls (TrainingBackend.matmulStaged): w is staged for the call like
 * the activations, never placed as a weight (placeWeight remembers a weight's copy).
 */
export function matmulStaged(b: WasmBackend, dx: Float32Array, dy: Float32Array, w: Float32Array, outF: number, nTokens: number, alpha = 1): void {
  const inF = w.length / outF;
  if (!Number.isInteger(inF)) throw new ArgumentError(`matmulStaged: w holds ${w.length} values, not a multiple of outFeatures ${outF}`);
  checkLength("matmulStaged dy", dy, nTokens * outF);
  checkLength("matmulStaged dx", dx, nTokens * inF);
  inputProduct(b, "matmulStaged", b.homeOf(dx), BACKWARD_INPUT_DTYPES.indexOf("f32"), dx, dy, inF, outF, nTokens, alpha, (s) => s.place(w, "in"));
}

/**
 * dw (outFeatures, inFeatures) += alpha * dy^T (outFeatures, nTokens) @ x (nTokens, inFeatures), as
 * kernels/reference/linear-backward.ts matmulBackwardWeight.
 */
export function matmulBackwardWeight(b: WasmBackend, dw: Float32Array, dy: Float32Array, x: Float32Array, nTokens: number, outFeatures: number, alpha = 1): void {
  const inF = dw.length / outFeatures;
  checkLength("matmulBackwardWeight dy", dy, nTokens * outFeatures);
  checkLength("matmulBackwardWeight x", x, nTokens * inF);
  const home = b.homeOf(dw);
  b.timed("matmulBackwardWeight", () => {
    // Fewer tokens at a time when there is no room: each part adds its share of the sum to dw.
    splitWhenNoRoom(nTokens, (t0, n) => new Staging(b.arena, home).run((s) => {
      const dwPtr = s.place(dw, "inout");
      const dyPtr = s.place(dy.subarray(t0 * outFeatures, (t0 + n) * outFeatures), "in");
      const xPtr = s.place(x.subarray(t0 * inF, (t0 + n) * inF), "in");
      const perChunk = b.rowsPerChunk(outFeatures);
      b.pool.run(OP.matmulBackwardWeight, home, [dwPtr, dyPtr, xPtr, n, inF, outFeatures, alpha, perChunk], Math.ceil(outFeatures / perChunk));
    }));
  });
}

/** Check the arrays of a masked attention call against its shape (q-shaped, kv-shaped, per-query statistics, mask). */
function checkAttention(op: string, shape: TrainAttentionShape, qShaped: Readonly<Record<string, Float32Array>>, kvShaped: Readonly<Record<string, Float32Array>>, lse: Float64Array, mask: Uint8Array): void {
  const { rows, seqLen, nHeads, nKvHeads, headDim } = shape;
  if (nKvHeads < 1 || nHeads % nKvHeads !== 0) throw new ArgumentError(`${op}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const n = rows * seqLen;
  for (const [what, array] of Object.entries(qShaped)) checkLength(`${op} ${what}`, array, n * nHeads * headDim);
  for (const [what, array] of Object.entries(kvShaped)) checkLength(`${op} ${what}`, array, n * nKvHeads * headDim);
  checkLength(`${op} lse`, lse, n * nHeads);
  checkLength(`${op} mask`, mask, n);
}

/** Per-thread scratch of the masked attention kernels: its stride and the block for every thread. */
function attentionScratch(b: WasmBackend, s: Staging, home: number, shape: TrainAttentionShape): [number, number] {
  const stride = Math.ceil(b.pool.kernelsOn(home).attention_backward_scratch_bytes(shape.seqLen, shape.headDim) / BLOCK_ALIGN) * BLOCK_ALIGN;
  return [s.scratch(stride * b.nThreads), stride];
}

/**
 * Training attention's forward, as kernels/reference/attention-train.ts attentionForwardMasked
 * (out and lse written): one chunk per sequence row and kv head. The kernel gives each query's max
 * score and sum of exponentials; lse = max + log(sum) is taken here (-Infinity for a query that
 * sees no key: max -Infinity, sum 0).
 */
export function attentionForward(b: WasmBackend, out: Float32Array, lse: Float64Array, q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array, shape: TrainAttentionShape): void {
  checkAttention("attentionForward", shape, { out, q }, { k, v }, lse, mask);
  const { rows, seqLen, nHeads, nKvHeads, headDim } = shape;
  const home = b.homeOf(q);
  b.timed("attentionForward", () => new Staging(b.arena, home).run((s) => {
    const sumsPtr = s.scratch(lse.byteLength);
    const ptrs = [s.place(out, "out"), s.place(lse, "out"), sumsPtr, s.place(q, "in"), s.place(k, "in"), s.place(v, "in"), s.place(mask, "in")];
    const [scratch, stride] = attentionScratch(b, s, home, shape);
    b.pool.run(OP.attentionForwardMasked, home, [...ptrs, seqLen, nHeads, nKvHeads, headDim, scratch, stride], rows * nKvHeads);
    const maxes = new Float64Array(b.arena.buffer(home), ptrs[1]!, lse.length); // (rows * seqLen, nHeads)
    const sums = new Float64Array(b.arena.buffer(home), sumsPtr, lse.length); // (rows * seqLen, nHeads)
    for (let i = 0; i < maxes.length; i++) maxes[i] = maxes[i]! + Math.log(sums[i]!);
  }));
}

/**
 * The rows' cross-entropy, as kernels/reference/cross-entropy.ts crossEntropy (losses written, and
 * dLogits when given, which may be logits): chunks of rows on the pool. The kernel gives each
 * scored row's max and sum of exponentials; loss = max + log(sum) - the target's logit is taken
 * here, the target's logit read before the kernel may overwrite it.
 */
export function crossEntropy(b: WasmBackend, losses: Float64Array, dLogits: Float32Array | undefined, logits: Float32Array, targets: Int32Array, vocabSize: number, norm: number): void {
  const nRows = targets.length;
  checkLength("crossEntropy logits", logits, nRows * vocabSize);
  checkLength("crossEntropy losses", losses, nRows);
  if (dLogits !== undefined) checkLength("crossEntropy dLogits", dLogits, nRows * vocabSize);
  const targetLogits = new Float64Array(nRows); // (nRows) each scored row's logit of its target
  for (let r = 0; r < nRows; r++) {
    const target = targets[r]!;
    if (target >= vocabSize) throw new ArgumentError(`crossEntropy: row ${r} has target ${target}, outside the vocabulary [0, ${vocabSize})`);
    if (target >= 0) targetLogits[r] = logits[r * vocabSize + target]!;
  }
  const home = b.homeOf(logits);
  b.timed("crossEntropy", () => {
    splitWhenNoRoom(nRows, (r0, n) => new Staging(b.arena, home).run((s) => {
      const rows = logits.subarray(r0 * vocabSize, (r0 + n) * vocabSize);
      const maxesPtr = s.scratch(n * 8);
      const sumsPtr = s.scratch(n * 8);
      const logitsPtr = s.place(rows, dLogits === logits ? "inout" : "in");
      const dPtr = dLogits === undefined ? 0 : dLogits === logits ? logitsPtr : s.place(dLogits.subarray(r0 * vocabSize, (r0 + n) * vocabSize), "out");
      const perChunk = b.tokensPerChunk(n, vocabSize);
      const args = [maxesPtr, sumsPtr, dPtr, logitsPtr, s.place(new Uint8Array(targets.buffer, targets.byteOffset + r0 * 4, n * 4), "in"), vocabSize, 1 / norm, perChunk, n];
      b.pool.run(OP.crossEntropy, home, args, Math.ceil(n / perChunk));
      const maxes = new Float64Array(b.arena.buffer(home), maxesPtr, n); // (n)
      const sums = new Float64Array(b.arena.buffer(home), sumsPtr, n); // (n)
      for (let r = 0; r < n; r++) losses[r0 + r] = targets[r0 + r]! < 0 ? 0 : maxes[r]! + Math.log(sums[r]!) - targetLogits[r0 + r]!;
    }));
  });
}

/**
 * Training attention's backward, as kernels/reference/attention-train.ts attentionBackwardMasked
 * (accumulates into dq, dk, dv): one chunk per sequence row and kv head, so no two threads write
 * the same gradient row.
 */
export function attentionBackward(
  b: WasmBackend, dq: Float32Array, dk: Float32Array, dv: Float32Array, dOut: Float32Array,
  q: Float32Array, k: Float32Array, v: Float32Array, lse: Float64Array, mask: Uint8Array, shape: TrainAttentionShape,
): void {
  checkAttention("attentionBackward", shape, { dq, dOut, q }, { dk, dv, k, v }, lse, mask);
  const { rows, seqLen, nHeads, nKvHeads, headDim } = shape;
  const home = b.homeOf(q);
  b.timed("attentionBackward", () => new Staging(b.arena, home).run((s) => {
    const ptrs = [s.place(dq, "inout"), s.place(dk, "inout"), s.place(dv, "inout"), s.place(dOut, "in"), s.place(q, "in"), s.place(k, "in"), s.place(v, "in"), s.place(lse, "in"), s.place(mask, "in")];
    const [scratch, stride] = attentionScratch(b, s, home, shape);
    b.pool.run(OP.attentionBackward, home, [...ptrs, seqLen, nHeads, nKvHeads, headDim, scratch, stride], rows * nKvHeads);
  }));
}

/**
 * RMSNorm's backward, as kernels/reference/elementwise-backward.ts rmsNormBackward: dx accumulates;
 * each chunk of tokens sums its weight gradient into a row of its own, and the rows are added to
 * dWeight here (float64, then float32, as the reference adds its float64 sums).
 */
export function rmsNormBackward(
  b: WasmBackend, dx: Float32Array, dWeight: Float32Array | undefined, dy: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, eps: number,
): void {
  const dim = weight.length;
  for (const [what, array] of [["dx", dx], ["dy", dy], ["x", x]] as const) checkLength(`rmsNormBackward ${what}`, array, nTokens * dim);
  if (dWeight !== undefined) checkLength("rmsNormBackward dWeight", dWeight, dim);
  const home = b.homeOf(x);
  b.timed("rmsNormBackward", () => new Staging(b.arena, home).run((s) => {
    const perChunk = b.tokensPerChunk(nTokens, dim);
    const nChunks = Math.ceil(nTokens / perChunk);
    const rowsPtr = dWeight === undefined ? 0 : s.scratch(nChunks * dim * 4);
    const partial = new Float32Array(b.arena.buffer(home), rowsPtr, dWeight === undefined ? 0 : nChunks * dim); // (nChunks, dim)
    partial.fill(0);
    // The norm weight is staged per call, never cached: training updates it between calls.
    const args = [s.place(dx, "inout"), rowsPtr, s.place(dy, "in"), s.place(x, "in"), s.place(weight, "in"), nTokens, dim, eps, perChunk];
    b.pool.run(OP.rmsNormBackward, home, args, nChunks);
    if (dWeight === undefined) return;
    for (let i = 0; i < dim; i++) {
      let sum = 0;
      for (let c = 0; c < nChunks; c++) sum += partial[c * dim + i]!;
      dWeight[i] = dWeight[i]! + sum;
    }
  }));
}

/** SwiGLU's backward, as kernels/reference/elementwise-backward.ts swigluBackward (dGate, dUp written). */
export function swigluBackward(b: WasmBackend, dGate: Float32Array, dUp: Float32Array, dh: Float32Array, gate: Float32Array, up: Float32Array): void {
  const n = dh.length;
  for (const [what, array] of [["dGate", dGate], ["dUp", dUp], ["gate", gate], ["up", up]] as const) checkLength(`swigluBackward ${what}`, array, n);
  const home = b.homeOf(gate);
  b.timed("swigluBackward", () => new Staging(b.arena, home).run((s) => {
    const perChunk = b.elementsPerChunk(n);
    const args = [s.place(dGate.subarray(0, n), "out"), s.place(dUp.subarray(0, n), "out"), s.place(dh, "in"), s.place(gate.subarray(0, n), "in"), s.place(up.subarray(0, n), "in"), n, perChunk];
    b.pool.run(OP.swigluBackward, home, args, Math.ceil(n / perChunk));
  }));
}

