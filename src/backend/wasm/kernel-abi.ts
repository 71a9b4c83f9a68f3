// The calling convention of the WebAssembly kernels (src/kernels/wasm/), as the backend uses it:
// one instance per shared memory and thread, pointers are byte offsets into that memory, sizes are
// element counts, tensors are row-major, and every call computes only its slice (rows, heads) so
// threads split a job by ranges. The kernels themselves and their conformance tests belong to
// src/kernels/wasm/; this file is only the shape the backend relies on.

import type { WasmKernels } from "../../kernels/wasm/module.js";
import type { WasmMemory } from "./wasm-api.js";

/**
 * The exports of one kernel instance on one memory: the part of the WebAssembly kernels' interface
 * (kernels/wasm/module.ts, where each is documented) that the backend calls. js-kernels.ts
 * implements the same set in plain JavaScript for tests.
 */
export type KernelExports = Pick<
  WasmKernels,
  | "matmul_f32" | "matmul_bf16" | "matmul_f16" | "matmul_f16_finite" | "cast_bf16_f32" | "cast_f16_f32" | "quantize_q8_0" | "matmul_q8_0"
  | "matmul_q4_0" | "matmul_q5_0" | "matmul_q4_0_scratch_bytes" | "matmul_q5_0_scratch_bytes" | "quantize_q8_1" | "matmul_q4_1" | "matmul_q5_1" | "quantize_q8_k" | "matmul_q2_k" | "matmul_q3_k" | "matmul_q4_k" | "matmul_q5_k" | "matmul_q6_k" | "matmul_q4_k_scratch_bytes" | "matmul_q5_k_scratch_bytes" | "matmul_q6_k_scratch_bytes"
  | "rmsnorm" | "rope" | "swiglu" | "add" | "attention" | "attention_f16" | "attention_bf16" | "attention_scratch_bytes"
  | TrainingKernelName
>;

/** The kernels of training's ops (backend/wasm/wasm-training.ts calls them). */
export type TrainingKernelName =
  | "matmul_backward_input_f32" | "matmul_backward_input_bf16" | "matmul_backward_input_f16" | "matmul_backward_weight"
  | "attention_backward" | "attention_backward_scratch_bytes" | "attention_forward_masked" | "cross_entropy" | "rmsnorm_backward" | "swiglu_backward" | "rope_backward";

/**
 * How a thread gets kernel instances: a module exporting `instantiate`. The default is the
 * WebAssembly module (wasm-kernels.ts); tests may name another that follows the same ABI.
 */
export interface KernelProvider {
  /**
   * Kernels bound to `memory`. `compiled` is whatever `prepare()` returned on the main thread (a
   * compiled WebAssembly.Module), shared with every worker.
   */
  instantiate(compiled: unknown, memory: WasmMemory): KernelExports;
  /** Main thread, once: compile what instantiate needs. */
  prepare(): Promise<unknown>;
  /**
   * Bytes at the start of every memory the kernels own (their static data, stack); the backend
   * allocates above them.
   */
  reservedBytes(compiled: unknown): number;
}
