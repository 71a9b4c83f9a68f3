// The few WebAssembly JavaScript API types the backend uses (Memory and the module handle), typed
// here because the project compiles against ES2023 + @types/node 20, neither of which declares the
// `WebAssembly` global. Local types instead of a global declaration, so they cannot clash with
// another file's ambient one. Follows the WebAssembly JS API spec (Memory descriptor, shared: true).

/** A WebAssembly.Memory (shared: its buffer is a SharedArrayBuffer that never moves on grow). */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  /** Grow by `deltaPages` pages of 64 KiB; returns the old size in pages; throws when refused. */
  grow(deltaPages: number): number;
}

interface WebAssemblyGlobal {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

/** new WebAssembly.Memory({ initial, maximum, shared: true }) */
export function newSharedMemory(initialPages: number, maximumPages: number): WasmMemory {
  const { WebAssembly } = globalThis as unknown as { WebAssembly: WebAssemblyGlobal };
  return new WebAssembly.Memory({ initial: initialPages, maximum: maximumPages, shared: true });
}
