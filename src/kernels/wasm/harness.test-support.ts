// Test support for the WebAssembly kernel conformance tests: one kernel instance per build this
// runtime supports (SIMD always, relaxed SIMD where WebAssembly.validate accepts it), each on its own
// shared memory with a bump allocator, and helpers to copy typed arrays in and out. Not a test itself
// (the name keeps it out of scripts/test.mjs and out of the published package).

import { Rng } from "../../tensor/rng.js";
import {
  type KernelBuild, type KernelMemory, KERNEL_RESERVED_BYTES, type WasmKernels, compileKernels, createKernelMemory, instantiateKernels,
  kernelBuildSupported,
} from "./module.js";

/** float32 unit roundoff, 2^-24: the relative error of one rounding to nearest. */
export const U = 2 ** -24;

/** Pages of each test memory (64 KiB each): 32 MiB, ample for the test shapes. */
const TEST_MEMORY_PAGES = 512;

/** A kernel instance on its own memory, with a bump allocator over that memory. */
export class Arena {
  private next = KERNEL_RESERVED_BYTES;
  constructor(readonly build: KernelBuild, readonly kernels: WasmKernels, readonly memory: KernelMemory) {}

  /** Free everything allocated so far. */
  reset(): void {
    this.next = KERNEL_RESERVED_BYTES;
  }

  /** `byteLength` bytes, 16-byte aligned, filled with 0xff (NaN as float32: stale data shows). */
  alloc(byteLength: number): number {
    const ptr = this.next;
    this.next = ptr + Math.ceil(byteLength / 16) * 16;
    if (this.next > this.memory.buffer.byteLength) throw new RangeError(`test arena: ${this.next} bytes exceed the test memory`);
    new Uint8Array(this.memory.buffer, ptr, byteLength).fill(0xff);
    return ptr;
  }

  /** Copy a typed array into fresh memory; returns its pointer. */
  put(data: Float32Array | Uint16Array | Uint8Array): number {
    const ptr = this.alloc(data.byteLength);
    new Uint8Array(this.memory.buffer, ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return ptr;
  }

  /** A copy of n float32 values at ptr. */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n).slice();
  }

  /** A copy of n float64 values at ptr (8-byte aligned). */
  f64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.memory.buffer, ptr, n).slice();
  }

  /** A copy of n bytes at ptr. */
  bytes(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, n).slice();
  }
}

/** One arena per build this runtime supports. */
export async function arenas(): Promise<Arena[]> {
  const builds: KernelBuild[] = ["simd", "relaxed-simd"];
  const result: Arena[] = [];
  for (const build of builds.filter(kernelBuildSupported)) {
    const memory = createKernelMemory(TEST_MEMORY_PAGES, TEST_MEMORY_PAGES);
    result.push(new Arena(build, instantiateKernels(await compileKernels(build), memory), memory));
  }
  return result;
}

/** Which builds ran, for the test output. */
export function describeBuilds(list: readonly Arena[]): string {
  const skipped = kernelBuildSupported("relaxed-simd") ? "" : " (relaxed-simd not validated by this runtime: skipped; run node with --experimental-wasm-relaxed-simd on Node 20)";
  return `builds tested: ${list.map((a) => a.build).join(", ")}${skipped}`;
}

/** n seeded standard-normal float32 values times `scale`. */
export function normals(rng: Rng, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}

/** Fail with the first index where |actual - expected| exceeds tol(i) (NaN must match NaN). */
export function assertClose(actual: Float32Array, expected: Float32Array, tol: (i: number) => number, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) throw new Error(`${what}: element ${i} is ${a}, expected ${e}`);
      continue;
    }
    const err = Math.abs(a - e);
    const t = tol(i);
    if (!(err <= t)) throw new Error(`${what}: element ${i} is ${a}, expected ${e} (error ${err.toExponential(3)} > tolerance ${t.toExponential(3)})`);
  }
}

/** Fail unless two float32 arrays are equal bit for bit. */
export function assertBitExact(actual: Float32Array, expected: Float32Array, what: string): void {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  if (a.length !== e.length) throw new Error(`${what}: length ${a.length}, expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) throw new Error(`${what}: element ${i} is ${actual[i]} (0x${a[i]!.toString(16)}), expected ${expected[i]} (0x${e[i]!.toString(16)})`);
  }
}
