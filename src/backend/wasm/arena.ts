// The memory of the WebAssembly backend: one or more shared WebAssembly memories, each under 4 GiB
// (wasm32 addresses), holding the weights, the activations the model lets the backend allocate and
// the staging copies of those it does not. Each memory has a first-fit free list over the bytes above
// what the kernels reserve, so weights (never freed) pack from the bottom like a bump allocator and
// activation blocks can be freed and reused. A memory grows page by page as it fills, up to a cap;
// when a block does not fit under the cap, another memory is created; the top of each memory is kept
// for staging, so an op on the weights of a full memory still has room for its activations. Shared
// memories never move when they grow (views made before a grow stay valid, they just do not see the
// new pages).

import { ArgumentError, UnsupportedError } from "../../errors.js";
import { type WasmMemory, newSharedMemory } from "./wasm-api.js";

/** Bytes per WebAssembly page (the spec's page size). */
export const WASM_PAGE_BYTES = 65536;
/** Most pages a wasm32 memory may have (4 GiB, the spec's and V8's limit). */
export const WASM32_MAX_PAGES = 65536;
/** Alignment of every block: a cache line, and a whole number of SIMD vectors and float32s. */
export const BLOCK_ALIGN = 64;

/** A block of bytes in one of the arena's memories. */
export interface Block {
  readonly memoryIndex: number;
  readonly byteOffset: number;
  readonly byteLength: number;
}

interface Hole {
  byteOffset: number;
  byteLength: number;
}

const alignUp = (n: number, align: number): number => Math.ceil(n / align) * align;

/** One memory and its free list. */
class Region {
  /** End of the highest allocated block. */
  private top: number;
  /** Free ranges below `top`, sorted by offset, never adjacent. */
  private holes: Hole[] = [];

  constructor(readonly memory: WasmMemory, readonly index: number, private readonly base: number, private readonly capBytes: number) {
    this.top = base;
  }

  /** A block below `limitBytes`, or undefined when there is no room. */
  allocate(byteLength: number, limitBytes: number): number | undefined {
    const size = alignUp(Math.max(byteLength, 1), BLOCK_ALIGN);
    const hole = this.holes.findIndex((h) => h.byteLength >= size && h.byteOffset + size <= limitBytes);
    if (hole >= 0) {
      const h = this.holes[hole]!;
      const offset = h.byteOffset;
      if (h.byteLength === size) this.holes.splice(hole, 1);
      else {
        h.byteOffset += size;
        h.byteLength -= size;
      }
      return offset;
    }
    if (this.top + size > Math.min(this.capBytes, limitBytes)) return undefined;
    const needed = this.top + size - this.memory.buffer.byteLength;
    if (needed > 0) {
      try {
        this.memory.grow(Math.ceil(needed / WASM_PAGE_BYTES));
      } catch {
        return undefined; // the system refused the pages: let the caller try another memory
      }
    }
    const offset = this.top;
    this.top += size;
    return offset;
  }

  free(byteOffset: number, byteLength: number): void {
    const size = alignUp(Math.max(byteLength, 1), BLOCK_ALIGN);
    if (byteOffset < this.base || byteOffset + size > this.top) throw new ArgumentError(`arena: block at ${byteOffset} (+${size}) is not allocated in memory ${this.index}`);
    let i = 0;
    while (i < this.holes.length && this.holes[i]!.byteOffset < byteOffset) i++;
    this.holes.splice(i, 0, { byteOffset, byteLength: size });
    // Merge with the next, then the previous hole; a hole that ends at top lowers top.
    const merge = (j: number): void => {
      const a = this.holes[j];
      const b = this.holes[j + 1];
      if (a !== undefined && b !== undefined && a.byteOffset + a.byteLength === b.byteOffset) {
        a.byteLength += b.byteLength;
        this.holes.splice(j + 1, 1);
      }
    };
    merge(i);
    if (i > 0) merge(i - 1);
    const last = this.holes.at(-1);
    if (last !== undefined && last.byteOffset + last.byteLength === this.top) {
      this.top = last.byteOffset;
      this.holes.pop();
    }
  }

  /** Bytes in blocks now allocated. */
  usedBytes(): number {
    return this.top - this.base - this.holes.reduce((sum, h) => sum + h.byteLength, 0);
  }
}

export interface ArenaOptions {
  /** Largest memory in bytes (rounded down to whole pages, at most 4 GiB). */
  readonly maxMemoryBytes: number;
  /** Bytes at the start of every memory that belong to the kernels. */
  readonly reservedBytes: number;
  /** Called with each new memory, before any block in it is handed out (the threads attach it). */
  readonly onNewMemory: (memory: WasmMemory, index: number) => void;
}

/**
 * What a block is for. "staging" blocks (an op's copies of activations, scratch) may use a
 * memory's last STAGING_RESERVE bytes; "resident" ones (weights, the KV cache) may not, so every
 * memory keeps room for the activations of an op on its weights.
 */
export type BlockPurpose = "resident" | "staging";

/** Bytes at the top of every memory kept for staging: 64 MiB, or an eighth of a small memory. */
export function stagingReserveBytes(capBytes: number): number {
  return Math.min(64 * 1024 * 1024, alignUp(Math.floor(capBytes / 8), BLOCK_ALIGN));
}

/** Shared memories and their allocators. */
export class Arena {
  private readonly regions: Region[] = [];
  /** Every buffer object a memory has had (a grow makes a new one) -> that memory's index. */
  private readonly bufferIndex = new WeakMap<ArrayBufferLike, number>();
  private readonly capPages: number;
  private readonly base: number;
  /** Bytes at the top of each memory only staging blocks may use. */
  private readonly reserve: number;

  /**
   * @throws ArgumentError when the cap cannot hold the kernels' reserved bytes and one page
   */
  constructor(private readonly options: ArenaOptions) {
    this.capPages = Math.min(WASM32_MAX_PAGES, Math.floor(options.maxMemoryBytes / WASM_PAGE_BYTES));
    this.base = alignUp(Math.max(options.reservedBytes, BLOCK_ALIGN), BLOCK_ALIGN);
    this.reserve = stagingReserveBytes(this.capPages * WASM_PAGE_BYTES);
    if (this.capPages * WASM_PAGE_BYTES < this.base + WASM_PAGE_BYTES) {
      throw new ArgumentError(`maxMemoryBytes ${options.maxMemoryBytes} leaves no room above the kernels' ${options.reservedBytes} reserved bytes`);
    }
  }

  /** Largest block one memory can hold. */
  get maxBlockBytes(): number {
    return this.capPages * WASM_PAGE_BYTES - this.base;
  }

  get memories(): readonly WasmMemory[] {
    return this.regions.map((r) => r.memory);
  }

  /** The current buffer of memory `index` (registered, so views of it are recognised). */
  buffer(index: number): SharedArrayBuffer {
    const buffer = this.regions[index]!.memory.buffer as unknown as SharedArrayBuffer;
    this.bufferIndex.set(buffer, index);
    return buffer;
  }

  /**
   * A block of `byteLength` bytes, aligned to BLOCK_ALIGN. In memory `preferred` when given and it
   * fits there; else in the newest memory that has room (so weights pack in load order); else in a
   * new memory.
   * @throws UnsupportedError for a block larger than one memory may be
   */
  allocate(byteLength: number, preferred?: number, purpose: BlockPurpose = "resident"): Block {
    if (byteLength > this.maxBlockBytes) {
      throw new UnsupportedError(`a tensor of ${byteLength} bytes does not fit one WebAssembly memory (at most ${this.maxBlockBytes} bytes here)`);
    }
    const capBytes = this.capPages * WASM_PAGE_BYTES;
    const limit = purpose === "staging" || byteLength > this.maxBlockBytes - this.reserve ? capBytes : capBytes - this.reserve;
    const order = preferred === undefined ? [...this.regions].reverse() : [this.regions[preferred]!, ...[...this.regions].reverse().filter((r) => r.index !== preferred)];
    for (const region of order) {
      const byteOffset = region.allocate(byteLength, limit);
      if (byteOffset !== undefined) return { memoryIndex: region.index, byteOffset, byteLength };
    }
    const region = this.addMemory();
    const byteOffset = region.allocate(byteLength, limit);
    if (byteOffset === undefined) throw new UnsupportedError(`cannot grow a new WebAssembly memory to ${byteLength} bytes`);
    return { memoryIndex: region.index, byteOffset, byteLength };
  }

  /** A block in memory `memoryIndex` only (growing it if need be), or undefined when it has no room. */
  allocateIn(memoryIndex: number, byteLength: number, purpose: BlockPurpose): Block | undefined {
    const capBytes = this.capPages * WASM_PAGE_BYTES;
    const byteOffset = this.regions[memoryIndex]!.allocate(byteLength, purpose === "staging" ? capBytes : capBytes - this.reserve);
    return byteOffset === undefined ? undefined : { memoryIndex, byteOffset, byteLength };
  }

  /** Return a block to its memory's free list. */
  free(block: Block): void {
    this.regions[block.memoryIndex]!.free(block.byteOffset, block.byteLength);
  }

  /** Where a typed array's bytes are, when they are in one of the memories. */
  locate(view: ArrayBufferView): { memoryIndex: number; byteOffset: number } | undefined {
    const memoryIndex = this.bufferIndex.get(view.buffer);
    return memoryIndex === undefined ? undefined : { memoryIndex, byteOffset: view.byteOffset };
  }

  /** Bytes allocated now, over all memories. */
  usedBytes(): number {
    return this.regions.reduce((sum, r) => sum + r.usedBytes(), 0);
  }

  private addMemory(): Region {
    const initial = Math.ceil(this.base / WASM_PAGE_BYTES);
    let memory: WasmMemory;
    try {
      memory = newSharedMemory(initial, this.capPages);
    } catch (cause) {
      throw new UnsupportedError(`cannot create WebAssembly memory ${this.regions.length} (maximum ${this.capPages} pages)`, { cause });
    }
    const region = new Region(memory, this.regions.length, this.base, this.capPages * WASM_PAGE_BYTES);
    this.regions.push(region);
    this.options.onNewMemory(memory, region.index);
    return region;
  }
}
