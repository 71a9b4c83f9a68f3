// The loader of the WebAssembly kernels (sources in ./assembly/, AssemblyScript): compiles the module
// once per process, picking the relaxed-SIMD build where the runtime validates it and the plain SIMD
// build otherwise, and instantiates it on a caller's shared memory with typed exports. The binaries
// are embedded as base64 (wasm-bytes.generated.ts, written by scripts/build-wasm.mjs), so this file
// uses no Node API and works in a browser bundle too. Memories, allocation, threads and dispatch are
// the backend's (src/backend/wasm/); the kernels' calling convention is in src/backend/wasm/kernel-abi.ts
// and below. Reference: WebAssembly JS API (WebAssembly.validate, Module, Instance).

import { ArgumentError, UnsupportedError } from "../../errors.js";
import { RELAXED_SIMD_WASM_BASE64, SIMD_WASM_BASE64 } from "./wasm-bytes.generated.js";

/** A compiled kernel module (a WebAssembly.Module: opaque here; it can be posted to workers). */
export type KernelModule = object;

/** A WebAssembly.Memory as the kernels need it: shared, so its buffer is a SharedArrayBuffer. */
export interface KernelMemory {
  readonly buffer: ArrayBufferLike;
  grow(deltaPages: number): number;
}

// The project compiles against ES2023 + @types/node, neither of which declares the WebAssembly
// global: the few members used here, typed locally.
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<KernelModule>;
  Instance: new (module: KernelModule, imports: object) => { readonly exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => KernelMemory;
}
const wasm = (): WebAssemblyApi => (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The two builds of the kernel module: same exports, `relaxed-simd` adds fused multiply-add. */
export type KernelBuild = "simd" | "relaxed-simd";

/**
 * Largest memory the module accepts, in 64 KiB pages: all of wasm32's 4 GiB (the module declares
 * maximum 65536). A memory passed to instantiateKernels must be shared with a maximum at most this.
 */
export const KERNEL_MEMORY_MAX_PAGES = 65536;

/**
 * Bytes at the start of every memory that belong to the module: its static data (read-only vector
 * constants, from byte 256; every instantiation writes the same bytes there) ends below this, and
 * the host allocates at or above it.
 */
export const KERNEL_RESERVED_BYTES = 1024;

/**
 * The exports of one kernel instance. Pointers are byte offsets into the instance's memory, sizes
 * element counts, tensors row-major float32 unless said otherwise; each call computes only its slice
 * (rows [rowStart, rowEnd), heads [headStart, headEnd)), so threads split a job by ranges. Kernels
 * do not check their arguments (the backend does): out-of-range pointers read or write other data
 * or trap.
 */
export interface WasmKernels {
  /** out (nTokens, outF) rows [rowStart, rowEnd) = x (nTokens, inF) @ w^T, w float32 (outF, inF). */
  matmul_f32(out: number, x: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /** As matmul_f32, w bfloat16 bits. */
  matmul_bf16(out: number, x: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /** As matmul_f32, w IEEE half bits. */
  matmul_f16(out: number, x: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /**
   * matmul_f16 for weights with no infinity or NaN (no half with exponent 31), which the caller
   * guarantees: bit for bit matmul_f16's result, decode without the full widening (about bf16's speed).
   */
  matmul_f16_finite(out: number, x: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /** n bfloat16s at src -> float32 at dst: bit for bit tensor/float16.ts bf16ArrayToF32. */
  cast_bf16_f32(dst: number, src: number, n: number): void;
  /** n IEEE halves at src -> float32 at dst: bit for bit tensor/float16.ts f16ArrayToF32 (every NaN the canonical 0x7fc00000). */
  cast_f16_f32(dst: number, src: number, n: number): void;
  /** x (nTokens, inF) -> xq: nTokens * inF / 32 Q8_0 blocks of 34 bytes; inF a multiple of 32. */
  quantize_q8_0(xq: number, x: number, nTokens: number, inF: number): void;
  /** As matmul_f32 with xq from quantize_q8_0 and w Q8_0 blocks (outF, inF / 32); bit-exact with the reference. */
  matmul_q8_0(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /**
   * As matmul_q8_0 with w Q4_0 blocks (outF, inF / 32, 18 bytes each); bit-exact with the reference.
   * scratch (optional): matmul_q4_0_scratch_bytes(nTokens, inF) bytes of this thread's own, where
   * a prefill unpacks each row once per token chunk and decode keeps the token's per-block scale and
   * offset term (faster; the same bits).
   */
  matmul_q4_0(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number, scratch?: number): void;
  /** Bytes of scratch matmul_q4_0 takes for nTokens tokens of inF (per thread; decode too). */
  matmul_q4_0_scratch_bytes(nTokens: number, inF: number): number;
  /** As matmul_q8_0 with w Q5_0 blocks (outF, inF / 32, 22 bytes each); bit-exact with the reference; scratch from matmul_q5_0_scratch_bytes. */
  matmul_q5_0(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number, scratch?: number): void;
  /** Bytes of scratch matmul_q5_0 takes (per thread; decode too). */
  matmul_q5_0_scratch_bytes(nTokens: number, inF: number): number;
  /** x (nTokens, inF) -> xq: nTokens * inF / 32 Q8_1 blocks of 36 bytes; inF a multiple of 32. */
  quantize_q8_1(xq: number, x: number, nTokens: number, inF: number): void;
  /** As matmul_f32 with xq from quantize_q8_1 and w Q4_1 blocks (outF, inF / 32, 20 bytes each); bit-exact with the reference. */
  matmul_q4_1(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /** As matmul_q4_1 with w Q5_1 blocks (24 bytes each); bit-exact with the reference. */
  matmul_q5_1(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /** x (nTokens, inF) -> xq: nTokens * inF / 256 Q8_K blocks of 292 bytes; inF a multiple of 256. */
  quantize_q8_k(xq: number, x: number, nTokens: number, inF: number): void;
  /**
   * As matmul_f32 with xq from quantize_q8_k and w Q4_K blocks (outF, inF / 256); bit-exact with the
   * reference. scratch (optional): for nTokens > 1, matmul_q4_k_scratch_bytes(nTokens, inF) bytes of
   * this thread's own, where the prefill rearranges both operands once (faster; the same bits).
   */
  matmul_q4_k(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number, scratch?: number): void;
  /** Bytes of scratch matmul_q4_k's prefill of nTokens tokens of inF takes (per thread). */
  matmul_q4_k_scratch_bytes(nTokens: number, inF: number): number;
  /** As matmul_q4_k with w Q5_K blocks (176 bytes each); bit-exact with the reference; scratch from matmul_q5_k_scratch_bytes. */
  matmul_q5_k(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number, scratch?: number): void;
  /** Bytes of scratch matmul_q5_k's prefill takes (per thread). */
  matmul_q5_k_scratch_bytes(nTokens: number, inF: number): number;
  /** As matmul_q4_k with w Q2_K blocks (84 bytes each); bit-exact with the reference. */
  matmul_q2_k(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /** As matmul_q4_k with w Q3_K blocks (110 bytes each); bit-exact with the reference. */
  matmul_q3_k(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void;
  /**
   * As matmul_q4_k with w Q6_K blocks; bit-exact with the reference. scratch (optional): for nTokens
   * > 1, matmul_q6_k_scratch_bytes(nTokens, inF) bytes of this thread's own, where the prefill
   * rearranges both operands once (faster; the same bits).
   */
  matmul_q6_k(out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number, scratch?: number): void;
  /** Bytes of scratch matmul_q6_k's prefill of nTokens tokens of inF takes (per thread). */
  matmul_q6_k_scratch_bytes(nTokens: number, inF: number): number;
  /** out (nTokens, dim) = RMSNorm(x) * weight (dim). */
  rmsnorm(out: number, x: number, weight: number, nTokens: number, dim: number, eps: number): void;
  /** Rotate x (nTokens, nHeads, headDim) in place, halves layout; cos/sin (nTokens, headDim / 2). */
  rope(x: number, nTokens: number, nHeads: number, headDim: number, cos: number, sin: number): void;
  /** out (n) = silu(gate) * up. */
  swiglu(out: number, gate: number, up: number, n: number): void;
  /** out (n) += x. */
  add(out: number, x: number, n: number): void;
  /** x (n) = softmax(x) in place; n >= 1. */
  softmax(x: number, n: number): void;
  /**
   * Causal GQA attention for query heads [headStart, headEnd): out, q (nTokens, nHeads, headDim),
   * keys/values (>= startPos + nTokens, nKvHeads, headDim) float32; scratch:
   * attention_scratch_bytes(headDim, nHeads / nKvHeads) bytes, 16-byte aligned, one per thread. The
   * query heads of a GQA group share each tile of keys/values: ranges of whole groups read it once.
   */
  attention(
    out: number, q: number, keys: number, values: number, nTokens: number, startPos: number, nHeads: number, nKvHeads: number,
    headDim: number, headStart: number, headEnd: number, scratch: number,
  ): void;
  /** `attention` with keys/values stored as IEEE half bits (a f16 KV cache), widened exactly. */
  attention_f16(
    out: number, q: number, keys: number, values: number, nTokens: number, startPos: number, nHeads: number, nKvHeads: number,
    headDim: number, headStart: number, headEnd: number, scratch: number,
  ): void;
  /** `attention` with keys/values stored as bfloat16 bits (a bf16 KV cache). */
  attention_bf16(
    out: number, q: number, keys: number, values: number, nTokens: number, startPos: number, nHeads: number, nKvHeads: number,
    headDim: number, headStart: number, headEnd: number, scratch: number,
  ): void;
  /**
   * Scratch bytes one attention call needs for `headDim` and GQA groups of `group` query heads
   * (O(tile x headDim x group), not O(context)).
   */
  attention_scratch_bytes(headDim: number, group: number): number;
  /**
   * Tokens [tokenStart, tokenEnd) of dx (nTokens, inF) += alpha * dy (nTokens, outF) @ w (outF, inF),
   * w float32 (the input gradient of out = x @ w^T; reference linear-backward.ts matmulBackwardInput).
   */
  matmul_backward_input_f32(dx: number, dy: number, w: number, nTokens: number, inF: number, outF: number, alpha: number, tokenStart: number, tokenEnd: number): void;
  /** As matmul_backward_input_f32, w bfloat16 bits. */
  matmul_backward_input_bf16(dx: number, dy: number, w: number, nTokens: number, inF: number, outF: number, alpha: number, tokenStart: number, tokenEnd: number): void;
  /** As matmul_backward_input_f32, w IEEE half bits. */
  matmul_backward_input_f16(dx: number, dy: number, w: number, nTokens: number, inF: number, outF: number, alpha: number, tokenStart: number, tokenEnd: number): void;
  /**
   * Rows [rowStart, rowEnd) of dw (outF, inF) += alpha * dy^T @ x, dy (nTokens, outF), x (nTokens,
   * inF) (the weight gradient; reference matmulBackwardWeight).
   */
  matmul_backward_weight(dw: number, dy: number, x: number, nTokens: number, inF: number, outF: number, alpha: number, rowStart: number, rowEnd: number): void;
  /**
   * Units [unitStart, unitEnd) (unit = row * nKvHeads + kvHead) of training attention's backward
   * (reference attention-train.ts attentionBackwardMasked): dq, dk, dv += from dOut, q, k, v, lse
   * (float64, rows * seqLen x nHeads) and mask (bytes); scratch: attention_backward_scratch_bytes.
   */
  attention_backward(
    dq: number, dk: number, dv: number, dOut: number, q: number, k: number, v: number, lse: number, mask: number,
    seqLen: number, nHeads: number, nKvHeads: number, headDim: number, unitStart: number, unitEnd: number, scratch: number,
  ): void;
  /**
   * Units [unitStart, unitEnd) of training attention's forward (reference attention-train.ts
   * attentionForwardMasked): out from q, k, v and mask, and each query's max score and sum of
   * e^(s - max) (float64, rows * seqLen x nHeads), whose lse is max + log(sum); scratch:
   * attention_backward_scratch_bytes.
   */
  attention_forward_masked(
    out: number, maxes: number, sums: number, q: number, k: number, v: number, mask: number,
    seqLen: number, nHeads: number, nKvHeads: number, headDim: number, unitStart: number, unitEnd: number, scratch: number,
  ): void;
  /**
   * Rows [rowStart, rowEnd) of the cross-entropy (reference cross-entropy.ts crossEntropy) of logits
   * (nRows, vocab) against targets (nRows, int32; negative: not scored): maxes and sums (nRows,
   * float64) of each scored row, whose log-sum-exp is max + log(sum); dLogits (may be logits; 0:
   * none) = (softmax - onehot) * invNorm, zero rows where not scored.
   */
  cross_entropy(maxes: number, sums: number, dLogits: number, logits: number, targets: number, vocab: number, invNorm: number, rowStart: number, rowEnd: number): void;
  /** Scratch bytes of one attention_backward or attention_forward_masked call (one per thread). */
  attention_backward_scratch_bytes(seqLen: number, headDim: number): number;
  /** RMSNorm's backward (reference rmsNormBackward): dx += ..., dWeight (dim) += ... unless dWeight is 0. */
  rmsnorm_backward(dx: number, dWeight: number, dy: number, x: number, weight: number, nTokens: number, dim: number, eps: number): void;
  /** SwiGLU's backward over n elements (reference swigluBackward): dGate, dUp written. */
  swiglu_backward(dGate: number, dUp: number, dh: number, gate: number, up: number, n: number): void;
  /** RoPE's backward in place (reference ropeBackward), halves layout. */
  rope_backward(d: number, nTokens: number, nHeads: number, headDim: number, cos: number, sin: number): void;
  /** Start of the memory the host may use (the module's static-data end); at most KERNEL_RESERVED_BYTES. */
  kernel_reserved_bytes(): number;
  /** Test hook: n halves at src -> float32 at dst by the vector widening (n a multiple of 8). */
  widen_f16(dst: number, src: number, n: number): void;
  /** Test hook: the same by the scalar widening of the kernels' tails. */
  widen_f16_scalar(dst: number, src: number, n: number): void;
  /** Test hook: n halves without infinity/NaN -> their values times 2^-112 by matmul_f16_finite's widening. */
  widen_f16_scaled(dst: number, src: number, n: number): void;
  /** Benchmark hook: read byteLength bytes at p once (a multiple of 64), returning their XOR: the memory-bandwidth ceiling. */
  read_stream(p: number, byteLength: number): number;
}

const EXPORT_NAMES: readonly (keyof WasmKernels)[] = [
  "matmul_f32", "matmul_bf16", "matmul_f16", "matmul_f16_finite", "cast_bf16_f32", "cast_f16_f32", "quantize_q8_0", "matmul_q8_0", "matmul_q4_0", "matmul_q5_0", "matmul_q4_0_scratch_bytes", "matmul_q5_0_scratch_bytes", "quantize_q8_1", "matmul_q4_1", "matmul_q5_1", "quantize_q8_k", "matmul_q4_k", "matmul_q5_k", "matmul_q6_k", "matmul_q4_k_scratch_bytes", "matmul_q5_k_scratch_bytes", "matmul_q6_k_scratch_bytes", "matmul_q2_k", "matmul_q3_k", "rmsnorm", "rope", "swiglu", "add", "softmax",
  "attention", "attention_f16", "attention_bf16", "attention_scratch_bytes",
  "matmul_backward_input_f32", "matmul_backward_input_bf16", "matmul_backward_input_f16", "matmul_backward_weight",
  "attention_backward", "attention_backward_scratch_bytes", "attention_forward_masked", "cross_entropy", "rmsnorm_backward", "swiglu_backward", "rope_backward", "kernel_reserved_bytes", "widen_f16", "widen_f16_scalar", "widen_f16_scaled", "read_stream",
];

const BASE64: Readonly<Record<KernelBuild, string>> = { simd: SIMD_WASM_BASE64, "relaxed-simd": RELAXED_SIMD_WASM_BASE64 };

/** The binary of a build (decoded with atob: no Node API). */
export function kernelBytes(build: KernelBuild): Uint8Array {
  const text = atob(BASE64[build]);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

const supported = new Map<KernelBuild, boolean>();

/**
 * Whether this runtime can run a build: WebAssembly.validate of the build itself (Node 20 accepts
 * relaxed SIMD only with --experimental-wasm-relaxed-simd; Node 22+, current browsers by default).
 */
export function kernelBuildSupported(build: KernelBuild): boolean {
  let ok = supported.get(build);
  if (ok === undefined) {
    ok = wasm().validate(kernelBytes(build));
    supported.set(build, ok);
  }
  return ok;
}

/** The build compileKernels picks by default: relaxed SIMD where supported, else SIMD. */
export function preferredKernelBuild(): KernelBuild {
  return kernelBuildSupported("relaxed-simd") ? "relaxed-simd" : "simd";
}

const compiled = new Map<KernelBuild, Promise<KernelModule>>();
const buildOfModule = new WeakMap<KernelModule, KernelBuild>();

/**
 * The compiled kernel module (cached per build; a compiled Module can be posted to workers).
 * @param build which build; default preferredKernelBuild()
 * @returns the module; its imports are `env.memory` (shared, at most KERNEL_MEMORY_MAX_PAGES pages)
 * @throws UnsupportedError when the runtime cannot run the build (no WebAssembly SIMD at all, or
 *   relaxed SIMD asked for where it is not available)
 * @example
 * const module = await compileKernels();
 * const memory = createKernelMemory(256, 4096);
 * const kernels = instantiateKernels(module, memory);
 */
export function compileKernels(build: KernelBuild = preferredKernelBuild()): Promise<KernelModule> {
  let module = compiled.get(build);
  if (module === undefined) {
    if (!kernelBuildSupported(build)) {
      return Promise.reject(new UnsupportedError(`this WebAssembly runtime cannot run the ${build} build of the kernels (it needs ${build === "simd" ? "128-bit SIMD and threads (shared memory)" : "relaxed SIMD"})`));
    }
    module = wasm().compile(kernelBytes(build)).then((m) => {
      buildOfModule.set(m, build);
      return m;
    });
    compiled.set(build, module);
  }
  return module;
}

/** Which build a module from compileKernels is (undefined for another module). */
export function kernelBuildOf(module: KernelModule): KernelBuild | undefined {
  return buildOfModule.get(module);
}

/**
 * Instantiate the kernels on `memory` (synchronous, so a worker can do it on receipt of the module).
 * @param module from compileKernels (in this thread or posted from another)
 * @param memory a shared WebAssembly.Memory whose maximum is at most KERNEL_MEMORY_MAX_PAGES pages
 * @returns the exports, typed
 * @throws ArgumentError when the memory is not shared or the module does not link against it
 * @example
 * const kernels = instantiateKernels(await compileKernels(), memory);
 * kernels.matmul_f32(outPtr, xPtr, wPtr, 1, 2048, 8192, 0, 8192);
 */
export function instantiateKernels(module: KernelModule, memory: KernelMemory): WasmKernels {
  // By its tag, not instanceof: a page that is not cross-origin isolated has shared memories but no SharedArrayBuffer global.
  if (Object.prototype.toString.call(memory.buffer) !== "[object SharedArrayBuffer]") {
    throw new ArgumentError("kernel memory: the WebAssembly kernels import a shared memory; create it with { shared: true, maximum }");
  }
  let instance: { readonly exports: Record<string, unknown> };
  try {
    instance = new (wasm().Instance)(module, { env: { memory } });
  } catch (cause) {
    throw new ArgumentError(`kernel memory: cannot instantiate the kernels on this memory (maximum at most ${KERNEL_MEMORY_MAX_PAGES} pages): ${String(cause)}`, { cause });
  }
  const exports = instance.exports;
  for (const name of EXPORT_NAMES) {
    if (typeof exports[name] !== "function") throw new ArgumentError(`kernel module: export ${name} is missing (not a kernel module from compileKernels?)`);
  }
  return exports as unknown as WasmKernels;
}

/**
 * A shared memory the kernels can be instantiated on (the backend manages its own; this is for tests,
 * benchmarks and simple hosts).
 * @param initialPages pages of 64 KiB to start with
 * @param maximumPages pages it may grow to, at most KERNEL_MEMORY_MAX_PAGES
 * @throws ArgumentError for sizes out of range, or when the runtime refuses the memory
 * @example
 * const memory = createKernelMemory(16, 1024); // 1 MiB, growable to 64 MiB
 */
export function createKernelMemory(initialPages: number, maximumPages: number): KernelMemory {
  if (!Number.isInteger(initialPages) || !Number.isInteger(maximumPages) || initialPages < 0 || maximumPages < initialPages || maximumPages > KERNEL_MEMORY_MAX_PAGES) {
    throw new ArgumentError(`kernel memory: initial ${initialPages} and maximum ${maximumPages} pages must be integers with 0 <= initial <= maximum <= ${KERNEL_MEMORY_MAX_PAGES}`);
  }
  try {
    return new (wasm().Memory)({ initial: initialPages, maximum: maximumPages, shared: true });
  } catch (cause) {
    throw new ArgumentError(`kernel memory: the runtime refused a shared memory of ${initialPages} (maximum ${maximumPages}) pages: ${String(cause)}`, { cause });
  }
}
