// The WebAssembly backend's entry point: createWasmBackend starts the threads, compiles the kernels
// and returns a Backend whose weights and activations live in shared WebAssembly memories. See
// wasm-backend.ts for the design and docs/ARCHITECTURE.md for where it sits.

import { ArgumentError } from "../../errors.js";
import { Arena, WASM32_MAX_PAGES, WASM_PAGE_BYTES } from "./arena.js";
import type { KernelProvider } from "./kernel-abi.js";
import { defaultThreadCount } from "#platform";
import { ThreadPool } from "./pool.js";
import { WasmBackend } from "./wasm-backend.js";

export { type OpStats, WasmBackend, type WeightDType } from "./wasm-backend.js";

/** Default largest memory: the wasm32 limit less one page, so every byte offset fits a u32 below 2^32. */
export const DEFAULT_MAX_MEMORY_BYTES = (WASM32_MAX_PAGES - 1) * WASM_PAGE_BYTES;

export interface WasmBackendOptions {
  /** Threads computing each op, the calling thread included (default: every core). */
  readonly threads?: number;
  /**
   * Largest WebAssembly memory in bytes (default and most: just under 4 GiB). Weights beyond it go
   * to further memories; tests set it small to exercise that path.
   */
  readonly maxMemoryBytes?: number;
  /**
   * A module exporting `kernelProvider` (kernel-abi.ts) to use instead of the WebAssembly kernels,
   * e.g. the plain-JavaScript twin js-kernels.js. For tests.
   */
  readonly kernelProvider?: URL;
}

/**
 * Start a WebAssembly backend: SIMD kernels (relaxed SIMD where the engine has it) on every core.
 * Weights loaded with `LlamaForCausalLM.fromPretrained(dir, { backend })` are read straight into its
 * memory. Call close() when done (a program that forgets still exits: the threads do not keep it
 * alive).
 * @param options.threads threads per op, the caller's included (default: os.availableParallelism())
 * @returns the backend, with close() to stop its threads
 * @throws ArgumentError for a thread count that is not a positive integer or a memory cap under
 *   two pages; LlamaError when a thread fails to start
 * @example
 * const backend = await createWasmBackend({ threads: 2 });
 * const model = await LlamaForCausalLM.fromPretrained("models/Llama-3.2-1B", { dtype: "auto", backend });
 * // ... model.forward(...)
 * await backend.close();
 */
export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const threads = options.threads ?? defaultThreadCount();
  if (!Number.isInteger(threads) || threads < 1) throw new ArgumentError(`threads must be a positive integer, got ${threads}`);
  const maxMemoryBytes = options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
  if (!Number.isFinite(maxMemoryBytes) || maxMemoryBytes < 2 * WASM_PAGE_BYTES) {
    throw new ArgumentError(`maxMemoryBytes must be at least ${2 * WASM_PAGE_BYTES} (two WebAssembly pages), got ${maxMemoryBytes}`);
  }
  const providerUrl = options.kernelProvider ?? new URL("./wasm-kernels.js", import.meta.url);
  const { kernelProvider } = (await import(providerUrl.href)) as { kernelProvider: KernelProvider };
  const compiled = await kernelProvider.prepare();
  const pool = await ThreadPool.start(threads, kernelProvider, providerUrl, compiled);
  const arena = new Arena({ maxMemoryBytes, reservedBytes: kernelProvider.reservedBytes(compiled), onNewMemory: (memory) => pool.attach(memory) });
  return new WasmBackend(pool, arena);
}
