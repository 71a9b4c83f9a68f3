// The default kernel provider of the WebAssembly backend: the AssemblyScript SIMD kernels of
// src/kernels/wasm/ (relaxed SIMD where the engine validates it, plain SIMD otherwise), compiled once
// on the main thread and posted to every worker as a compiled module.

import { type WasmKernels, compileKernels, instantiateKernels } from "../../kernels/wasm/module.js";
import type { KernelExports, KernelProvider } from "./kernel-abi.js";
import { type WasmMemory, newSharedMemory } from "./wasm-api.js";

type CompiledKernels = Parameters<typeof instantiateKernels>[0];
type KernelMemory = Parameters<typeof instantiateKernels>[1];

/** The WebAssembly kernels as a KernelProvider. */
export const kernelProvider: KernelProvider = {
  prepare: () => compileKernels(),
  instantiate(compiled: unknown, memory: WasmMemory): KernelExports {
    const kernels: WasmKernels = instantiateKernels(compiled as CompiledKernels, memory as unknown as KernelMemory);
    return kernels;
  },
  reservedBytes(compiled: unknown): number {
    // The module's static-data end, read from a throwaway instance on a one-page memory.
    const probe = newSharedMemory(1, 1) as unknown as KernelMemory;
    return instantiateKernels(compiled as CompiledKernels, probe).kernel_reserved_bytes();
  },
};
