// The WebAssembly backend: the Backend interface on the WebAssembly SIMD kernels
// (src/kernels/wasm/), every core through a pool of worker threads sharing the memories (pool.ts),
// weights and activations in shared WebAssembly memories (arena.ts). Its twin is the reference
// backend (backend/reference.ts): same operations, same shapes, tested against it op by op.
//
// Kernels address memory by byte offset, so every tensor an op touches must be in the memory of the
// op (the weight's for matmul). Arrays allocated through allocateWeight/allocateFloat32 already are
// (zero copy); any other array is handled too: a weight is copied in on first use (cached per data
// array), an activation is copied into a staging block for the call and, if written, copied back.
// Matmul splits output rows, attention query heads, the per-token ops tokens; the main thread
// computes chunks too.

import { ArgumentError, ShapeError, UnsupportedError } from "../../errors.js";
import { embed as referenceEmbed, matmul as referenceMatmul } from "../../kernels/reference/linear.js";
import { DTYPE_BYTES } from "../../tensor/dtype.js";
import { f16ArrayFinite } from "../../tensor/float16.js";
import { QUANT_DOTS } from "../../kernels/reference/quant-dot.js";
import { isQuantTensor, isQuantType, quantByteLength, quantRowBytes } from "../../tensor/quant-formats.js";
import { type FloatTensor, type WeightTensor, numel } from "../../tensor/tensor.js";
import type { AttentionShape, KvRows } from "../backend.js";
import type { TrainAttentionShape } from "../../kernels/reference/attention-train.js";
import type { TrainingBackend } from "../training-backend.js";
import { type Arena, type Block, BLOCK_ALIGN } from "./arena.js";
import { NoRoomError, type OpArray, Staging, checkLength, splitWhenNoRoom } from "./staging.js";
import * as training from "./wasm-training.js";
import { convertWeightInto } from "./convert-weight.js";
import { OP } from "./jobs.js";
import { F16_FINITE_MATMUL_INDEX, matmulIndex, matmulScratchBytes, quantizeIndex } from "./quant-kernels.js";
import type { ThreadPool } from "./pool.js";

/** The dtypes a weight may be allocated in. */
export type WeightDType = WeightTensor["dtype"];

/** Calls of one op and their total wall-clock time. */
export interface OpStats {
  calls: number;
  seconds: number;
}

/** Where a tensor's bytes are: a memory and a byte offset in it. */
interface Place {
  readonly memoryIndex: number;
  readonly byteOffset: number;
}

/**
 * Chunks per thread for the ops split by rows or heads: more than one, so a thread the OS delays
 * (this machine is shared) leaves its remaining chunks to the others.
 */
const CHUNKS_PER_THREAD = 4;
/** Matmul chunks are whole multiples of this many rows: 16 float32 outputs = one 64-byte cache line. */
const ROW_ALIGN = 16;
/** Below this many elements an element-wise op runs on the main thread alone (waking costs more). */
const MIN_PARALLEL_ELEMENTS = 1 << 16;

const ATTENTION_OP = { f32: OP.attention, f16: OP.attentionF16, bf16: OP.attentionBf16 } as const;

/** The WebAssembly backend (create it with createWasmBackend in index.ts). */
export class WasmBackend implements TrainingBackend {
  readonly name = "wasm";
  /** Placement of weights that were not allocated in the arena, per data array. */
  private readonly copiedWeights = new WeakMap<object, Place>();
  /** Per f16 weight (its data): whether it holds no infinity or NaN, so matmul_f16_finite serves it. */
  private readonly finiteF16 = new WeakMap<object, boolean>();
  /** Copies of read-only float arrays (norm weights) per memory, per array. */
  private readonly copiedConstants = new WeakMap<Float32Array, Map<number, number>>();
  /** Blocks handed out by allocateFloat32, for freeFloat32. */
  private readonly allocations = new WeakMap<Float32Array, Block>();
  /**
   * Frees the block of an allocateFloat32 array the program dropped without freeFloat32 (a KV cache
   * nobody released), so memory the garbage collector cannot see does not leak.
   */
  private readonly unreachable = new FinalizationRegistry<Block>((block) => this.arena.free(block));
  /** Attention scratch per memory: one stride per thread. */
  private readonly attentionScratch = new Map<number, { byteOffset: number; stride: number }>();
  /** Calls and wall time per op since the last resetOpStats(). */
  private stats = new Map<string, OpStats>();

  /** @internal use createWasmBackend */
  constructor(readonly pool: ThreadPool, readonly arena: Arena) {}

  /** Threads computing each op (the main thread included). */
  get nThreads(): number {
    return this.pool.nThreads;
  }

  /**
   * A weight tensor whose data lives in the backend's memory, for a loader to read into (its
   * contents are unspecified until written). Kernels then use it in place.
   * @throws UnsupportedError for a tensor larger than one WebAssembly memory, or a q8_0 shape that
   *   is not rows of whole blocks
   */
  allocateWeight(dtype: WeightDType, shape: readonly number[]): WeightTensor {
    const byteLength = weightByteLength(dtype, shape);
    const block = this.arena.allocate(byteLength);
    const buffer = this.arena.buffer(block.memoryIndex);
    switch (dtype) {
      case "f32": return { dtype, shape: [...shape], data: new Float32Array(buffer, block.byteOffset, byteLength / 4) };
      case "bf16": case "f16": return { dtype, shape: [...shape], data: new Uint16Array(buffer, block.byteOffset, byteLength / 2) };
      default: return { dtype, shape: [shape[0]!, shape[1]!], data: new Uint8Array(buffer, block.byteOffset, byteLength) };
    }
  }

  /**
   * `stored` converted to `dtype` in the backend's memory, byte-identical to castFloat /
   * quantizeTensor (Backend.convertWeight): a cast widens straight into the weight; q8_0 widens rows
   * into a staging scratch block and quantizes them on every thread (convert-weight.ts).
   * @param name the tensor's name, for error messages
   * @throws as quantizeTensor (UnsupportedError, NumericalError) and ShapeError for data that does
   *   not match the shape; UnsupportedError for a tensor larger than one WebAssembly memory
   * @example
   * const w = backend.convertWeight({ dtype: "bf16", shape: [64, 32], data: bits }, "q8_0", "blk.0.attn_q");
   */
  convertWeight(stored: FloatTensor, dtype: WeightDType, name = "tensor"): WeightTensor {
    return convertWeightInto(this, stored, dtype, name);
  }

  /**
   * A zero-filled float32 array in the backend's memory (activations, the KV cache): kernels read
   * and write it without copies. Give it back with freeFloat32 when done; one the program drops is
   * given back when the garbage collector finds it (so keep the array itself, not only views made
   * with subarray(), for as long as they are used).
   * @throws ArgumentError for a length that is not a non-negative integer
   */
  allocateFloat32(length: number): Float32Array {
    if (!Number.isInteger(length) || length < 0) throw new ArgumentError(`allocateFloat32: length must be a non-negative integer, got ${length}`);
    const block = this.arena.allocate(length * 4);
    const view = this.floatView(block).fill(0);
    this.allocations.set(view, block);
    this.unreachable.register(view, block, view);
    return view;
  }

  /**
   * Return an array from allocateFloat32 to the backend's memory; the array must not be used after.
   * @throws ArgumentError for an array allocateFloat32 did not return (or that was freed)
   */
  freeFloat32(array: Float32Array): void {
    const block = this.allocations.get(array);
    if (block === undefined) throw new ArgumentError("freeFloat32: the array was not returned by this backend's allocateFloat32 (or is freed already)");
    this.allocations.delete(array);
    this.unreachable.unregister(array);
    this.arena.free(block);
  }

  /**
   * Calls and wall-clock seconds of each op (matmul per weight dtype) since creation or the last
   * resetOpStats(): where the time of a forward pass goes.
   * @example
   * backend.resetOpStats(); await model.forward(ids, cache); console.table(backend.opStats());
   */
  opStats(): Record<string, OpStats> {
    return Object.fromEntries([...this.stats].map(([name, s]) => [name, { ...s }]));
  }

  /** Start counting opStats() afresh. */
  resetOpStats(): void {
    this.stats = new Map();
  }

  /** @internal time `body` under opStats()[name]. */
  timed(name: string, body: () => void): void {
    const start = performance.now();
    try {
      body();
    } finally {
      let entry = this.stats.get(name);
      if (entry === undefined) this.stats.set(name, entry = { calls: 0, seconds: 0 });
      entry.calls++;
      entry.seconds += (performance.now() - start) / 1000;
    }
  }

  /** @internal a Float32Array over a block. */
  floatView(block: Block): Float32Array {
    return new Float32Array(this.arena.buffer(block.memoryIndex), block.byteOffset, block.byteLength / 4);
  }

  matmul(out: Float32Array, x: Float32Array, w: WeightTensor, nTokens: number): void {
    const [outF, inF] = w.shape as [number, number];
    checkLength("matmul x", x, nTokens * inF);
    checkLength("matmul out", out, nTokens * outF);
    const dtypeIndex = w.dtype === "f16" && this.f16Finite(w) ? F16_FINITE_MATMUL_INDEX : matmulIndex(w.dtype);
    const activationIndex = isQuantTensor(w) ? quantizeIndex(QUANT_DOTS[w.dtype].activation) : 0;
    if (dtypeIndex < 0 || activationIndex < 0) {
      // A block format with no wasm kernel (or activation quantizer) yet: the reference kernel, on this thread.
      this.timed(`matmul ${w.dtype} (reference)`, () => referenceMatmul(out, x, w, nTokens));
      return;
    }
    const weight = this.placeWeight(w);
    this.timed(`matmul ${w.dtype}`, () => {
      splitWhenNoRoom(nTokens, (t0, n) => new Staging(this.arena, weight.memoryIndex).run((s) => {
        let xPtr = s.place(x.subarray(t0 * inF, (t0 + n) * inF), "in");
        const outPtr = s.place(out.subarray(t0 * outF, (t0 + n) * outF), "out");
        if (isQuantTensor(w)) {
          const xq = s.scratch(n * quantRowBytes(QUANT_DOTS[w.dtype].activation, inF));
          const perChunk = this.tokensPerChunk(n, inF);
          this.pool.run(OP.quantize, weight.memoryIndex, [activationIndex, xq, xPtr, n, inF, perChunk], Math.ceil(n / perChunk));
          xPtr = xq;
        }
        // Rows only: blocks of rows x tokens (tiles kept in cache) measured no faster, the kernels
        // being bound by arithmetic, not by cache misses.
        const rowsPerChunk = this.rowsPerChunk(outF);
        // Scratch per thread for the kernels that take it (the prefills that rearrange their operands first; Q4_0/Q5_0 decode).
        const stride = Math.ceil(matmulScratchBytes(this.pool.kernelsOn(weight.memoryIndex), w.dtype, n, inF) / BLOCK_ALIGN) * BLOCK_ALIGN;
        const scratch = stride === 0 ? 0 : s.scratch(stride * this.nThreads);
        this.pool.run(OP.matmul, weight.memoryIndex, [dtypeIndex, outPtr, xPtr, weight.byteOffset, n, inF, outF, rowsPerChunk, scratch, stride], Math.ceil(outF / rowsPerChunk));
      }));
    });
  }

  embed(out: Float32Array, table: WeightTensor, ids: readonly number[]): void {
    const [vocabSize, dim] = table.shape as [number, number];
    checkLength("embed out", out, ids.length * dim);
    ids.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new ArgumentError(`embed: id ${t} is ${id}, outside [0, ${vocabSize})`);
    });
    // A row copy per token: memory-bound and tiny next to one layer; the reference loop is as fast.
    this.timed("embed", () => referenceEmbed(out, table, ids));
  }

  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, eps: number): void {
    const dim = weight.length;
    checkLength("rmsNorm x", x, nTokens * dim);
    checkLength("rmsNorm out", out, nTokens * dim);
    const home = this.homeOf(x);
    this.timed("rmsNorm", () => {
      splitWhenNoRoom(nTokens, (t0, n) => new Staging(this.arena, home).run((s) => {
        const xPtr = s.place(x.subarray(t0 * dim, (t0 + n) * dim), "in");
        const outPtr = s.place(out.subarray(t0 * dim, (t0 + n) * dim), "out");
        const wPtr = this.placeConstant(weight, home);
        const perChunk = this.tokensPerChunk(n, dim);
        this.pool.run(OP.rmsNorm, home, [outPtr, xPtr, wPtr, n, dim, eps, perChunk], Math.ceil(n / perChunk));
      }));
    });
  }

  rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
    this.rotate(OP.rope, x, nTokens, nHeads, headDim, cos, sin);
  }

  /** RoPE in place (OP.rope), or its backward (OP.ropeBackward: the rotation by the negated angle). */
  private rotate(op: typeof OP.rope | typeof OP.ropeBackward, x: Float32Array, nTokens: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
    const name = op === OP.rope ? "rope" : "ropeBackward";
    const width = nHeads * headDim;
    const half = headDim / 2;
    checkLength(`${name} x`, x, nTokens * width);
    checkLength(`${name} cos`, cos, nTokens * half);
    checkLength(`${name} sin`, sin, nTokens * half);
    const home = this.homeOf(x);
    this.timed(name, () => {
      splitWhenNoRoom(nTokens, (t0, n) => new Staging(this.arena, home).run((s) => {
        const xPtr = s.place(x.subarray(t0 * width, (t0 + n) * width), "inout");
        const cosPtr = s.place(cos.subarray(t0 * half, (t0 + n) * half), "in");
        const sinPtr = s.place(sin.subarray(t0 * half, (t0 + n) * half), "in");
        const perChunk = this.tokensPerChunk(n, width);
        this.pool.run(op, home, [xPtr, n, nHeads, headDim, cosPtr, sinPtr, perChunk], Math.ceil(n / perChunk));
      }));
    });
  }

  attention(out: Float32Array, q: Float32Array, keys: KvRows, values: KvRows, shape: AttentionShape): void {
    const { nTokens, startPos, nHeads, nKvHeads, headDim } = shape;
    if (nKvHeads < 1 || nHeads % nKvHeads !== 0) throw new ArgumentError(`attention: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    if (keys.dtype !== values.dtype) throw new UnsupportedError(`wasm attention: keys in ${keys.dtype} with values in ${values.dtype}`);
    const width = nHeads * headDim;
    const kvWidth = nKvHeads * headDim;
    checkLength("attention q", q, nTokens * width);
    checkLength("attention out", out, nTokens * width);
    checkLength("attention keys", keys.data, (startPos + nTokens) * kvWidth);
    checkLength("attention values", values.data, (startPos + nTokens) * kvWidth);
    const home = this.homeOf(keys.data);
    // Query tokens [t0, t0 + n) see positions up to startPos + t0 + n: a later split needs no more.
    this.timed("attention", () => {
      splitWhenNoRoom(nTokens, (t0, n) => new Staging(this.arena, home).run((s) => {
        const visible = (startPos + t0 + n) * kvWidth;
        const outPtr = s.place(out.subarray(t0 * width, (t0 + n) * width), "out");
        const qPtr = s.place(q.subarray(t0 * width, (t0 + n) * width), "in");
        const kPtr = s.place(keys.data.subarray(0, visible), "in");
        const vPtr = s.place(values.data.subarray(0, visible), "in");
        // Chunks of whole GQA groups (query heads sharing a kv head): the kernel reads each key and
        // value tile once per group.
        const group = nHeads / nKvHeads;
        const scratch = this.attentionScratchOn(home, headDim, group);
        const kvPerChunk = Math.max(1, Math.floor(nKvHeads / (this.nThreads * 2)));
        const headsPerChunk = this.nThreads === 1 ? nHeads : kvPerChunk * group;
        const args = [outPtr, qPtr, kPtr, vPtr, n, startPos + t0, nHeads, nKvHeads, headDim, headsPerChunk, scratch.byteOffset, scratch.stride];
        this.pool.run(ATTENTION_OP[keys.dtype], home, args, Math.ceil(nHeads / headsPerChunk));
      }));
    });
  }

  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array): void {
    checkLength("swiglu gate", gate, out.length);
    checkLength("swiglu up", up, out.length);
    const home = this.homeOf(gate);
    this.timed("swiglu", () => {
      splitWhenNoRoom(out.length, (i0, n) => new Staging(this.arena, home).run((s) => {
        const gPtr = s.place(gate.subarray(i0, i0 + n), "in");
        const uPtr = s.place(up.subarray(i0, i0 + n), "in");
        const outPtr = s.place(out.subarray(i0, i0 + n), "out");
        const perChunk = this.elementsPerChunk(n);
        this.pool.run(OP.swiglu, home, [outPtr, gPtr, uPtr, n, perChunk], Math.ceil(n / perChunk));
      }));
    });
  }

  addInPlace(out: Float32Array, x: Float32Array): void {
    checkLength("addInPlace x", x, out.length);
    const home = this.homeOf(out);
    this.timed("add", () => {
      splitWhenNoRoom(out.length, (i0, n) => new Staging(this.arena, home).run((s) => {
        const outPtr = s.place(out.subarray(i0, i0 + n), "inout");
        const xPtr = s.place(x.subarray(i0, i0 + n), "in");
        const perChunk = this.elementsPerChunk(n);
        this.pool.run(OP.add, home, [outPtr, xPtr, n, perChunk], Math.ceil(n / perChunk));
      }));
    });
  }

  // TrainingBackend (backend/training-backend.ts): the training ops on their SIMD twins (wasm-training.ts).

  matmulBackwardInput(dx: Float32Array, dy: Float32Array, w: WeightTensor, nTokens: number, alpha = 1): void {
    training.matmulBackwardInput(this, dx, dy, w, nTokens, alpha);
  }

  matmulStaged(dx: Float32Array, dy: Float32Array, w: Float32Array, outFeatures: number, nTokens: number, alpha = 1): void {
    training.matmulStaged(this, dx, dy, w, outFeatures, nTokens, alpha);
  }

  matmulBackwardWeight(dw: Float32Array, dy: Float32Array, x: Float32Array, nTokens: number, outFeatures: number, alpha = 1): void {
    training.matmulBackwardWeight(this, dw, dy, x, nTokens, outFeatures, alpha);
  }

  crossEntropy(losses: Float64Array, dLogits: Float32Array | undefined, logits: Float32Array, targets: Int32Array, vocabSize: number, norm: number): void {
    training.crossEntropy(this, losses, dLogits, logits, targets, vocabSize, norm);
  }

  attentionForward(out: Float32Array, lse: Float64Array, q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array, shape: TrainAttentionShape): void {
    training.attentionForward(this, out, lse, q, k, v, mask, shape);
  }

  attentionBackward(
    dq: Float32Array, dk: Float32Array, dv: Float32Array, dOut: Float32Array,
    q: Float32Array, k: Float32Array, v: Float32Array, lse: Float64Array, mask: Uint8Array, shape: TrainAttentionShape,
  ): void {
    training.attentionBackward(this, dq, dk, dv, dOut, q, k, v, lse, mask, shape);
  }

  rmsNormBackward(dx: Float32Array, dWeight: Float32Array | undefined, dy: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, eps: number): void {
    training.rmsNormBackward(this, dx, dWeight, dy, x, weight, nTokens, eps);
  }

  swigluBackward(dGate: Float32Array, dUp: Float32Array, dh: Float32Array, gate: Float32Array, up: Float32Array): void {
    training.swigluBackward(this, dGate, dUp, dh, gate, up);
  }

  ropeBackward(d: Float32Array, nTokens: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
    this.rotate(OP.ropeBackward, d, nTokens, nHeads, headDim, cos, sin);
  }

  /** Stop the worker threads. The backend must not be used after. Safe to call twice. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /**
   * The memory an op on `view` runs in: its own when it is in the arena, else the newest (weights
   * fill the older ones first, so it has the most room). @internal
   */
  homeOf(view: OpArray): number {
    const where = this.arena.locate(view);
    if (where !== undefined) return where.memoryIndex;
    if (this.arena.memories.length === 0) this.arena.free(this.arena.allocate(BLOCK_ALIGN)); // create memory 0
    return this.arena.memories.length - 1;
  }

  /**
   * Whether an f16 weight holds no infinity or NaN, checked on its first product (a scan of its bits,
   * about 1 ns per weight) and remembered: weights are not written once used, as copiedWeights
   * assumes too (a merged adapter makes new tensors).
   */
  private f16Finite(w: FloatTensor): boolean {
    let finite = this.finiteF16.get(w.data);
    if (finite === undefined) {
      finite = f16ArrayFinite(w.data as Uint16Array);
      this.finiteF16.set(w.data, finite);
    }
    return finite;
  }

  /**
   * Where a weight's data is: in place when it is in the arena, else a copy made on first use.
   * @throws ShapeError when the data is not the size the shape needs (kernels would read past it)
   * @internal
   */
  placeWeight(w: WeightTensor): Place {
    const expected = weightByteLength(w.dtype, w.shape);
    if (w.shape.length !== 2 || w.data.byteLength !== expected) throw new ShapeError("matmul weight (bytes)", [expected], [w.data.byteLength], "wasm backend");
    const where = this.arena.locate(w.data);
    if (where !== undefined) return where;
    const cached = this.copiedWeights.get(w.data);
    if (cached !== undefined) return cached;
    const block = this.arena.allocate(w.data.byteLength);
    new Uint8Array(this.arena.buffer(block.memoryIndex), block.byteOffset, block.byteLength)
      .set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    this.copiedWeights.set(w.data, block);
    return block;
  }

  /** A read-only array (a norm weight) in memory `memoryIndex`: in place, or a copy cached per memory. */
  private placeConstant(view: Float32Array, memoryIndex: number): number {
    const where = this.arena.locate(view);
    if (where !== undefined && where.memoryIndex === memoryIndex) return where.byteOffset;
    let copies = this.copiedConstants.get(view);
    const cached = copies?.get(memoryIndex);
    if (cached !== undefined) return cached;
    const block = this.arena.allocateIn(memoryIndex, view.byteLength, "staging");
    if (block === undefined) throw new NoRoomError(`wasm backend: no room for a ${view.byteLength}-byte constant in memory ${memoryIndex}`);
    this.floatView(block).set(view);
    if (copies === undefined) this.copiedConstants.set(view, copies = new Map());
    copies.set(memoryIndex, block.byteOffset);
    return block.byteOffset;
  }

  private attentionScratchOn(memoryIndex: number, headDim: number, group: number): { byteOffset: number; stride: number } {
    const kernels = this.pool.kernelsOn(memoryIndex);
    const stride = Math.ceil(kernels.attention_scratch_bytes(headDim, group) / BLOCK_ALIGN) * BLOCK_ALIGN;
    const known = this.attentionScratch.get(memoryIndex);
    if (known !== undefined && known.stride >= stride) return known;
    if (known !== undefined) this.arena.free({ memoryIndex, byteOffset: known.byteOffset, byteLength: known.stride * this.nThreads });
    const block = this.arena.allocateIn(memoryIndex, stride * this.nThreads, "staging");
    if (block === undefined) {
      this.attentionScratch.delete(memoryIndex);
      throw new NoRoomError(`wasm backend: no room for attention scratch in memory ${memoryIndex}`);
    }
    const scratch = { byteOffset: block.byteOffset, stride };
    this.attentionScratch.set(memoryIndex, scratch);
    return scratch;
  }

  /** @internal output rows per matmul chunk: whole cache lines, a few chunks per thread. */
  rowsPerChunk(outF: number): number {
    const target = Math.ceil(outF / (this.nThreads * CHUNKS_PER_THREAD));
    return Math.max(ROW_ALIGN, Math.ceil(target / ROW_ALIGN) * ROW_ALIGN);
  }

  /** Tokens per chunk for a per-token op on rows of `width` floats: one chunk when the op is small. @internal */
  tokensPerChunk(nTokens: number, width: number): number {
    if (nTokens * width < MIN_PARALLEL_ELEMENTS || this.nThreads === 1) return nTokens;
    return Math.max(1, Math.ceil(nTokens / (this.nThreads * CHUNKS_PER_THREAD)));
  }

  /** @internal */
  elementsPerChunk(n: number): number {
    if (n < MIN_PARALLEL_ELEMENTS || this.nThreads === 1) return Math.max(n, 1);
    return Math.ceil(n / (this.nThreads * CHUNKS_PER_THREAD) / ROW_ALIGN) * ROW_ALIGN;
  }
}

/** Bytes of a weight's data. @throws UnsupportedError for a block-format shape that is not rows of whole blocks */
function weightByteLength(dtype: WeightDType, shape: readonly number[]): number {
  return isQuantType(dtype) ? quantByteLength(dtype, shape) : numel(shape) * DTYPE_BYTES[dtype];
}
