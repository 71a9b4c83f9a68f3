// The key/value cache of one sequence, owned by the caller and passed to forward(). Per layer, the
// rotated keys and the values of every position processed so far, as float32 rows of kvDim. Storage
// grows by doubling up to maxSeqLen, so a short chat does not pay for a 128k-token context up front.

import { ArgumentError } from "../errors.js";
import { type LlamaConfig, kvDim } from "./config.js";

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
  private filled = 0;
  private capacity = 0;
  /** per layer (capacity, kvDim) */
  private keyRows: Float32Array[] = [];
  /** per layer (capacity, kvDim) */
  private valueRows: Float32Array[] = [];
  private readonly allocator: Float32Allocator | undefined;

  /**
   * @param config the model's config (its layers and kv width size the cache)
   * @param options.maxSeqLen most positions this cache may hold (default config.maxPositionEmbeddings)
   * @throws ArgumentError for a maxSeqLen that is not a positive integer
   * @example
   * const cache = new KvCache(model.config, { maxSeqLen: 4096 });
   */
  constructor(config: LlamaConfig, options: KvCacheOptions = {}) {
    const maxSeqLen = options.maxSeqLen ?? config.maxPositionEmbeddings;
    if (!Number.isInteger(maxSeqLen) || maxSeqLen < 1) throw new ArgumentError(`maxSeqLen must be a positive integer, got ${maxSeqLen}`);
    this.nLayers = config.nLayers;
    this.kvDim = kvDim(config);
    this.maxSeqLen = maxSeqLen;
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
    const grow = (old: Float32Array | undefined): Float32Array => {
      const rows = this.allocator?.allocateFloat32(capacity * this.kvDim) ?? new Float32Array(capacity * this.kvDim);
      if (old !== undefined) {
        rows.set(old.subarray(0, this.filled * this.kvDim));
        this.allocator?.freeFloat32?.(old);
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
    for (const rows of [...this.keyRows, ...this.valueRows]) this.allocator?.freeFloat32?.(rows);
    this.keyRows = [];
    this.valueRows = [];
    this.capacity = 0;
    this.filled = 0;
  }

  /** All key rows of a layer: (capacity, kvDim). For the forward pass; rows past `length` are scratch. */
  keys(layer: number): Float32Array {
    return this.keyRows[layer]!;
  }

  /** All value rows of a layer: (capacity, kvDim). For the forward pass; rows past `length` are scratch. */
  values(layer: number): Float32Array {
    return this.valueRows[layer]!;
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
