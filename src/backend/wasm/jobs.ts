// Jobs of the WebAssembly backend's thread pool, shared by the main thread and the workers: the
// layout of the control block (a SharedArrayBuffer read with Atomics) and how one chunk of each
// operation maps onto a kernel call. A job is an operation, the memory it runs in, up to MAX_ARGS
// numeric arguments and a number of chunks; every thread claims chunks until none is left (dynamic
// scheduling: a thread the OS delays takes fewer chunks, and one that wakes after the job is done
// takes none; nobody waits for it). Chunks are ranges of rows (matmul, cast), heads (attention), tokens
// (norm, rope, quantize) or elements (swiglu, add); for the backward products tokens (dx) or rows (dw).

import { quantRowBytes } from "../../tensor/quant-formats.js";
import type { KernelExports } from "./kernel-abi.js";
import { matmulKernel, quantizeKernel } from "./quant-kernels.js";

/** Operation codes written to the control block. */
export const OP = {
  /** Any weight dtype; the dtype is an index into quant-kernels.ts WASM_MATMUL. */
  matmul: 1,
  /** Activations to a block format; the format is an index into quant-kernels.ts WASM_QUANTIZE. */
  quantize: 5,
  rmsNorm: 6,
  rope: 7,
  swiglu: 8,
  add: 9,
  attention: 10,
  attentionF16: 11,
  attentionBf16: 12,
  /** dx += alpha dy @ w; the weight dtype is an index into BACKWARD_INPUT_DTYPES. */
  matmulBackwardInput: 13,
  matmulBackwardWeight: 14,
  attentionBackward: 15,
  rmsNormBackward: 16,
  swigluBackward: 17,
  ropeBackward: 18,
  attentionForwardMasked: 19,
  crossEntropy: 20,
  /** A 16-bit float array to float32 (a weight loaded as float32); the source dtype is an index into CAST_DTYPES. */
  cast: 21,
} as const;

/** The source dtypes of the cast job, in job-argument order. */
export const CAST_DTYPES = ["bf16", "f16"] as const;
const CAST_KERNELS = ["cast_bf16_f32", "cast_f16_f32"] as const;

/** The float weight dtypes of the input-gradient kernel, in job-argument order (a block format runs dequantized, as f32). */
export const BACKWARD_INPUT_DTYPES = ["f32", "bf16", "f16"] as const;
const BACKWARD_INPUT_KERNELS = ["matmul_backward_input_f32", "matmul_backward_input_bf16", "matmul_backward_input_f16"] as const;

/** Int32 slots of the control block. */
export const SLOT = {
  /** Job sequence number: idle workers sleep until it changes. */
  generation: 0,
  /**
   * The claim word: (generation & 0xffff) << 16 | next chunk. A thread claims a chunk by a
   * compare-exchange that keeps the generation, so a worker that wakes late cannot take a chunk of
   * a newer job with the arguments of an older one.
   */
  claim: 1,
  /** Chunks of the current job finished; the job is done when it reaches nChunks. */
  doneChunks: 2,
  op: 3,
  memoryIndex: 4,
  nChunks: 5,
  /** 1 when the pool is closing. */
  shutdown: 6,
  /** 1 when a worker failed a chunk (it sends the error as a message). */
  failed: 7,
} as const;

/** Most chunks of one job (the claim word's low 16 bits; 0xffff marks a claim word closed). */
export const MAX_CHUNKS = 0xfffe;
/** Int32 slots before the float64 arguments (64 bytes: the arguments start on their own cache line). */
const HEADER_SLOTS = 16;
/** Most numeric arguments of a job. */
export const MAX_ARGS = 16;
/** Bytes of the control block. */
export const CONTROL_BYTES = HEADER_SLOTS * 4 + MAX_ARGS * 8;

/** The control block's two views. */
export interface Control {
  readonly slots: Int32Array;
  /** Job arguments: byte offsets up to 4 GiB and floats (eps) both fit a float64 exactly. */
  readonly args: Float64Array;
}

export function controlViews(buffer: SharedArrayBuffer): Control {
  return { slots: new Int32Array(buffer, 0, HEADER_SLOTS), args: new Float64Array(buffer, HEADER_SLOTS * 4, MAX_ARGS) };
}

/**
 * The claim word of job `generation` at `chunk`. The main thread closes the word (chunk 0xffff,
 * which no job has) before it rewrites the job's fields, and opens it (chunk 0) after, so a worker
 * holding a word of the previous job can never claim a chunk while the fields change.
 */
export function claimWord(generation: number, chunk: number): number {
  return ((generation & 0xffff) << 16) | chunk;
}

/** The chunk index of a closed claim word. */
export const CLOSED_CHUNK = 0xffff;

/**
 * Claim and run chunks of job `generation` until none is left (or a newer job replaced it, which can
 * only happen to a thread that claimed nothing: a job is not replaced before all its chunks are
 * done). Reports each finished chunk in doneChunks and wakes the main thread after the last one.
 * @param kernelsOf the kernels of this thread on a memory (a worker may attach a memory on demand)
 * @param thread this thread's index (main 0, workers 1..): selects its attention scratch
 * @param onError receives the error of a chunk that failed (the failed slot is set too)
 * @returns the number of chunks this thread ran
 */
export function runChunks(
  control: Control, generation: number, kernelsOf: (memoryIndex: number) => KernelExports, thread: number, onError: (error: unknown) => void,
): number {
  const { slots, args } = control;
  const tag = claimWord(generation, 0);
  let ran = 0;
  for (;;) {
    const word = Atomics.load(slots, SLOT.claim);
    if ((word & 0xffff0000) !== tag) return ran;
    const chunk = word & 0xffff;
    const nChunks = slots[SLOT.nChunks]!;
    if (chunk >= nChunks) return ran;
    if (Atomics.compareExchange(slots, SLOT.claim, word, word + 1) !== word) continue;
    // The chunk is ours and the job cannot change until it is reported done: read op and args now.
    try {
      runChunk(slots[SLOT.op]!, args, kernelsOf(slots[SLOT.memoryIndex]!), chunk, thread);
    } catch (error) {
      // Keep claiming (the job must still finish, or the main thread would wait forever); the main
      // thread throws once every chunk is accounted for.
      Atomics.store(slots, SLOT.failed, 1);
      onError(error);
    }
    ran++;
    if (Atomics.add(slots, SLOT.doneChunks, 1) + 1 === nChunks) Atomics.notify(slots, SLOT.doneChunks);
  }
}

// Argument order per op is the order the kernel takes them, then the chunk size (and for attention
// the scratch base and stride); wasm-backend.ts writes them in the same order.
function runChunk(op: number, a: Float64Array, k: KernelExports, chunk: number, thread: number): void {
  switch (op) {
    case OP.matmul: {
      const [dtype, out, x, w, nTokens, inF, outF, rowsPerChunk, scratch, scratchStride] = a as unknown as number[];
      const start = chunk * rowsPerChunk!;
      const end = Math.min(outF!, start + rowsPerChunk!);
      matmulKernel(k, dtype!)(out!, x!, w!, nTokens!, inF!, outF!, start, end, scratch === 0 ? 0 : scratch! + thread * scratchStride!);
      return;
    }
    case OP.quantize: {
      const [type, xq, x, nTokens, inF, tokensPerChunk] = a as unknown as number[];
      const t0 = chunk * tokensPerChunk!;
      const n = Math.min(nTokens!, t0 + tokensPerChunk!) - t0;
      const [format, quantize] = quantizeKernel(k, type!);
      quantize(xq! + t0 * quantRowBytes(format, inF!), x! + t0 * inF! * 4, n, inF!);
      return;
    }
    case OP.cast: {
      const [dtype, dst, src, rows, cols, rowsPerChunk] = a as unknown as number[];
      const r0 = chunk * rowsPerChunk!;
      const n = Math.min(rows!, r0 + rowsPerChunk!) - r0;
      k[CAST_KERNELS[dtype!]!](dst! + r0 * cols! * 4, src! + r0 * cols! * 2, n * cols!);
      return;
    }
    case OP.rmsNorm: {
      const [out, x, weight, nTokens, dim, eps, tokensPerChunk] = a as unknown as number[];
      const t0 = chunk * tokensPerChunk!;
      const n = Math.min(nTokens!, t0 + tokensPerChunk!) - t0;
      k.rmsnorm(out! + t0 * dim! * 4, x! + t0 * dim! * 4, weight!, n, dim!, eps!);
      return;
    }
    case OP.rope:
    case OP.ropeBackward: {
      // The same arguments and split; the backward rotates by the negated angle.
      const [x, nTokens, nHeads, headDim, cos, sin, tokensPerChunk] = a as unknown as number[];
      const t0 = chunk * tokensPerChunk!;
      const n = Math.min(nTokens!, t0 + tokensPerChunk!) - t0;
      const half = headDim! / 2;
      (op === OP.rope ? k.rope : k.rope_backward)(x! + t0 * nHeads! * headDim! * 4, n, nHeads!, headDim!, cos! + t0 * half * 4, sin! + t0 * half * 4);
      return;
    }
    case OP.swiglu: {
      const [out, gate, up, n, perChunk] = a as unknown as number[];
      const i0 = chunk * perChunk!;
      k.swiglu(out! + i0 * 4, gate! + i0 * 4, up! + i0 * 4, Math.min(n!, i0 + perChunk!) - i0);
      return;
    }
    case OP.add: {
      const [out, x, n, perChunk] = a as unknown as number[];
      const i0 = chunk * perChunk!;
      k.add(out! + i0 * 4, x! + i0 * 4, Math.min(n!, i0 + perChunk!) - i0);
      return;
    }
    case OP.attention: case OP.attentionF16: case OP.attentionBf16: {
      const [out, q, keys, values, nTokens, startPos, nHeads, nKvHeads, headDim, headsPerChunk, scratch, scratchStride] = a as unknown as number[];
      const h0 = chunk * headsPerChunk!;
      const h1 = Math.min(nHeads!, h0 + headsPerChunk!);
      const f = op === OP.attention ? k.attention : op === OP.attentionF16 ? k.attention_f16 : k.attention_bf16;
      f(out!, q!, keys!, values!, nTokens!, startPos!, nHeads!, nKvHeads!, headDim!, h0, h1, scratch! + thread * scratchStride!);
      return;
    }
    case OP.matmulBackwardInput: {
      const [dtype, dx, dy, w, nTokens, inF, outF, alpha, tokensPerChunk] = a as unknown as number[];
      const t0 = chunk * tokensPerChunk!;
      k[BACKWARD_INPUT_KERNELS[dtype!]!](dx!, dy!, w!, nTokens!, inF!, outF!, alpha!, t0, Math.min(nTokens!, t0 + tokensPerChunk!));
      return;
    }
    case OP.matmulBackwardWeight: {
      const [dw, dy, x, nTokens, inF, outF, alpha, rowsPerChunk] = a as unknown as number[];
      const r0 = chunk * rowsPerChunk!;
      k.matmul_backward_weight(dw!, dy!, x!, nTokens!, inF!, outF!, alpha!, r0, Math.min(outF!, r0 + rowsPerChunk!));
      return;
    }
    case OP.attentionBackward: {
      const [dq, dk, dv, dOut, q, kk, v, lse, mask, seqLen, nHeads, nKvHeads, headDim, scratch, scratchStride] = a as unknown as number[];
      k.attention_backward(dq!, dk!, dv!, dOut!, q!, kk!, v!, lse!, mask!, seqLen!, nHeads!, nKvHeads!, headDim!, chunk, chunk + 1, scratch! + thread * scratchStride!);
      return;
    }
    case OP.attentionForwardMasked: {
      const [out, maxes, sums, q, kk, v, mask, seqLen, nHeads, nKvHeads, headDim, scratch, scratchStride] = a as unknown as number[];
      k.attention_forward_masked(out!, maxes!, sums!, q!, kk!, v!, mask!, seqLen!, nHeads!, nKvHeads!, headDim!, chunk, chunk + 1, scratch! + thread * scratchStride!);
      return;
    }
    case OP.crossEntropy: {
      const [maxes, sums, dLogits, logits, targets, vocab, invNorm, rowsPerChunk, nRows] = a as unknown as number[];
      const r0 = chunk * rowsPerChunk!;
      k.cross_entropy(maxes!, sums!, dLogits!, logits!, targets!, vocab!, invNorm!, r0, Math.min(nRows!, r0 + rowsPerChunk!));
      return;
    }
    case OP.rmsNormBackward: {
      // Each chunk adds its tokens' weight gradient into its own row of dWeightRows (summed by the caller).
      const [dx, dWeightRows, dy, x, weight, nTokens, dim, eps, tokensPerChunk] = a as unknown as number[];
      const t0 = chunk * tokensPerChunk!;
      const n = Math.min(nTokens!, t0 + tokensPerChunk!) - t0;
      const at = (p: number): number => p + t0 * dim! * 4;
      k.rmsnorm_backward(at(dx!), dWeightRows === 0 ? 0 : dWeightRows! + chunk * dim! * 4, at(dy!), at(x!), weight!, n, dim!, eps!);
      return;
    }
    case OP.swigluBackward: {
      const [dGate, dUp, dh, gate, up, n, perChunk] = a as unknown as number[];
      const i0 = chunk * perChunk!;
      const at = (p: number): number => p + i0 * 4;
      k.swiglu_backward(at(dGate!), at(dUp!), at(dh!), at(gate!), at(up!), Math.min(n!, i0 + perChunk!) - i0);
      return;
    }
    default:
      throw new Error(`wasm backend: unknown job op ${op}`);
  }
}
