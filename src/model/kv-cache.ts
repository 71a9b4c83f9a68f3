// The key/value cache of one sequence, owned by the caller and passed to forward(). Per layer, the
// rotated keys and the values of every position processed so far, as rows of kvDim in float32 or,
// to halve the cache's memory, in f16 or bf16 (new rows rounded to nearest even as they are written;
// attention widens them as it reads, like llama.cpp's `--cache-type-k f16`). Storage grows by
// doubling up to maxSeqLen, so a short chat does not pay for a 128k-token context up front.

import { ArgumentError } from "../errors.js";
import type { KvDType, KvRows } from "../tensor/attention-rows.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../tensor/float16.js";
import { type LlamaConfig, kvDim } from "./config.js";

export type { KvDType, KvRows };

/** The dtypes a cache may store rows in (for option validation). */
export const KV_DTYPES: readonly KvDType[] = ["f32", "f16", "bf16"];

/** Initial capacity in positions (grown by doubling). */
const INITIAL_CAPACITY = 256;

export interface KvCacheOptions {
  /** Most positions this cache may hold; defaults to the model's maxPositionEmbeddings. */
  readonly maxSeqLen?: number;
  /**
   * Where the rows are allocated, e.g. a backend with allocateFloat32 (its kernels then read the
   * cache in place). Default: ordinary Float32Arrays.
   */
  readonly allocator?: Float32Allocator;
  /**
   * How rows are stored: "f32" (default, exact), or "f16" / "bf16" (half the memory; each key and
   * value is rounded to 16 bits when written). bf16 keeps float32's range with 8 mantissa bits; f16
   * has 11 mantissa bits but overflows past 65504.
   */
  readonly dtype?: KvDType;
}

/** Something that hands out zero-filled float32 arrays (a Backend with allocateFloat32). */
export interface Float32Allocator {
  allocateFloat32(length: number): Float32Array;
  freeFloat32?(array: Float32Array): void;
}

/** Cached keys and values of one sequence. */
export class KvCache {
  readonly nLayers: number;
  readonly kvDim: number;
  readonly maxSeqLen: number;
  readonly dtype: KvDType;
  private filled = 0;
  private capacity = 0;
  /** per layer (capacity, kvDim), in `dtype` */
  private keyRows: KvRows[] = [];
  /** per layer (capacity, kvDim), in `dtype` */
  private valueRows: KvRows[] = [];
  /**
   * The arrays the allocator handed out, per KvRows (a 16-bit row set is a view of one): kept so
   * they can be freed, and alive as long as the view is used.
   */
  private readonly storage = new WeakMap<KvRows, Float32Array>();
  private readonly allocator: Float32Allocator | undefined;

  /**
   * @param config the model's config (its layers and kv width size the cache)
   * @param options.maxSeqLen most positions this cache may hold (default config.maxPositionEmbeddings)
   * @param options.dtype how rows are stored: "f32" (default), "f16" or "bf16"
   * @throws ArgumentError for a maxSeqLen that is not a positive integer, or an unknown dtype
   * @example
   * const cache = new KvCache(model.config, { maxSeqLen: 4096, dtype: "bf16" });
   */
  constructor(config: LlamaConfig, options: KvCacheOptions = {}) {
    const maxSeqLen = options.maxSeqLen ?? config.maxPositionEmbeddings;
    if (!Number.isInteger(maxSeqLen) || maxSeqLen < 1) throw new ArgumentError(`maxSeqLen must be a positive integer, got ${maxSeqLen}`);
    this.nLayers = config.nLayers;
    this.kvDim = kvDim(config);
    this.maxSeqLen = maxSeqLen;
    const dtype = options.dtype ?? "f32";
    if (!KV_DTYPES.includes(dtype)) throw new ArgumentError(`KV cache dtype must be one of ${KV_DTYPES.join(", ")}, got ${String(dtype)}`);
    this.dtype = dtype;
    this.allocator = options.allocator;
    this.reserve(Math.min(maxSeqLen, INITIAL_CAPACITY));
  }

  /** Number of positions cached; the next token's position. */
  get length(): number {
    return this.filled;
  }

  /** Forget positions from `length` on (to rewind a sequence, e.g. to reuse a shared prompt). */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.filled) {
      throw new ArgumentError(`cannot truncate a cache of ${this.filled} positions to ${length}`);
    }
    this.filled = length;
  }

  /** Make room for positions [0, nPositions). */
  reserve(nPositions: number): void {
    if (nPositions > this.maxSeqLen) {
      throw new ArgumentError(`sequence of ${nPositions} positions exceeds the cache's maxSeqLen ${this.maxSeqLen}`);
    }
    if (nPositions <= this.capacity) return;
    const capacity = Math.min(this.maxSeqLen, Math.max(nPositions, this.capacity * 2, INITIAL_CAPACITY));
    const grow = (old: KvRows | undefined): KvRows => {
      const rows = this.allocate(capacity * this.kvDim);
      if (old !== undefined) {
        copyRows(rows, old, this.filled * this.kvDim);
        this.free(old);
      }
      return rows;
    };
    this.keyRows = Array.from({ length: this.nLayers }, (_, l) => grow(this.keyRows[l]));
    this.valueRows = Array.from({ length: this.nLayers }, (_, l) => grow(this.valueRows[l]));
    this.capacity = capacity;
  }

  /**
   * Empty the cache and give its storage back to the allocator (e.g. a backend's memory, which the
   * garbage collector does not reclaim); it grows again on the next use.
   */
  release(): void {
    for (const rows of [...this.keyRows, ...this.valueRows]) this.free(rows);
    this.keyRows = [];
    this.valueRows = [];
    this.capacity = 0;
    this.filled = 0;
  }

  /** All key rows of a layer: (capacity, kvDim). For the forward pass; rows past `length` are scratch. */
  keys(layer: number): KvRows {
    return this.keyRows[layer]!;
  }

  /** All value rows of a layer: (capacity, kvDim). For the forward pass; rows past `length` are scratch. */
  values(layer: number): KvRows {
    return this.valueRows[layer]!;
  }

  /**
   * Store the keys and values of positions [pos, pos + nTokens) of a layer, rounded to the cache's
   * dtype (nearest, ties to even). For the forward pass; the positions must be reserved.
   * @param k (nTokens, kvDim) float32 rotated keys
   * @param v (nTokens, kvDim) float32 values
   * @throws ArgumentError when k, v are not the same whole kvDim rows or pass the reserved capacity
   */
  write(layer: number, pos: number, k: Float32Array, v: Float32Array): void {
    const nTokens = k.length / this.kvDim;
    if (!Number.isInteger(nTokens) || v.length !== k.length || pos + nTokens > this.capacity) {
      throw new ArgumentError(`cannot write ${k.length} keys / ${v.length} values at position ${pos} of a cache of capacity ${this.capacity} x ${this.kvDim}`);
    }
    writeRows(this.keyRows[layer]!, pos * this.kvDim, k);
    writeRows(this.valueRows[layer]!, pos * this.kvDim, v);
  }

  /** Bytes the cache's rows take now (keys and values of every layer, at the current capacity). */
  get byteLength(): number {
    return [...this.keyRows, ...this.valueRows].reduce((sum, rows) => sum + rows.data.byteLength, 0);
  }

  /** Zero-filled rows of `length` elements in the cache's dtype (16-bit rows: a view of float32s). */
  private allocate(length: number): KvRows {
    if (this.dtype === "f32") {
      const data = this.allocator?.allocateFloat32(length) ?? new Float32Array(length);
      const rows: KvRows = { dtype: "f32", data };
      this.storage.set(rows, data);
      return rows;
    }
    // Through the float32 allocator so the rows live where the kernels read them (no copy).
    const backing = this.allocator?.allocateFloat32(Math.ceil(length / 2)) ?? new Float32Array(Math.ceil(length / 2));
    const rows: KvRows = { dtype: this.dtype, data: new Uint16Array(backing.buffer, backing.byteOffset, length) };
    this.storage.set(rows, backing);
    return rows;
  }

  private free(rows: KvRows): void {
    const backing = this.storage.get(rows);
    if (backing !== undefined) this.allocator?.freeFloat32?.(backing);
    this.storage.delete(rows);
  }

  /**
   * Mark `nTokens` more positions as filled. For the forward pass, after every layer wrote them.
   * @throws ArgumentError when that would pass the reserved capacity
   */
  advance(nTokens: number): void {
    if (!Number.isInteger(nTokens) || nTokens < 0 || this.filled + nTokens > this.capacity) {
      throw new ArgumentError(`cannot advance a cache of ${this.filled} positions (capacity ${this.capacity}) by ${nTokens}`);
    }
    this.filled += nTokens;
  }
}

/** dst[0, n) = src[0, n) (same dtype: rows of one cache). */
function copyRows(dst: KvRows, src: KvRows, n: number): void {
  if (dst.dtype === "f32" && src.dtype === "f32") dst.data.set(src.data.subarray(0, n));
  else if (dst.dtype !== "f32" && src.dtype !== "f32") dst.data.set(src.data.subarray(0, n));
}

/** rows[offset, offset + x.length) = x rounded to the rows' dtype. */
function writeRows(rows: KvRows, offset: number, x: Float32Array): void {
  const end = offset + x.length;
  switch (rows.dtype) {
    case "f32": rows.data.set(x, offset); return;
    case "f16": f32ArrayToF16(x, rows.data.subarray(offset, end)); return;
    case "bf16": f32ArrayToBf16(x, rows.data.subarray(offset, end)); return;
  }
}
