// Which WebAssembly kernels run each weight dtype: the backend's half of the block-format table
// (tensor/quant-formats.ts). The matmul job takes a dtype index into WEIGHT_DTYPES, and the
// activation-quantize job an index into ACTIVATION_TYPES, so the job code has one matmul case and
// one quantize case for every format. A block format without a row here runs on the reference
// kernel (kernels/reference/quant-dot.ts) on the main thread: correct, not fast.

import type { ActivationType, QuantType } from "../../tensor/block-format.js";
import type { FloatDType } from "../../tensor/dtype.js";
import type { KernelExports } from "./kernel-abi.js";

/** Kernels with matmul_f32's signature: (out, x, w, nTokens, inF, outF, rowStart, rowEnd). */
type MatmulKernel = "matmul_f32" | "matmul_bf16" | "matmul_f16" | "matmul_f16_finite" | "matmul_q8_0" | "matmul_q4_0" | "matmul_q5_0" | "matmul_q4_1" | "matmul_q5_1" | "matmul_q2_k" | "matmul_q3_k" | "matmul_q4_k" | "matmul_q5_k" | "matmul_q6_k";
/** Kernels with quantize_q8_0's signature: (xq, x, nTokens, inF). */
type QuantizeKernel = "quantize_q8_0" | "quantize_q8_1" | "quantize_q8_k";

/** The weight dtypes that have a wasm matmul, in job-argument order, with their kernel. */
export const WASM_MATMUL: ReadonlyArray<readonly [FloatDType | QuantType, MatmulKernel]> = [
  ["f32", "matmul_f32"], ["bf16", "matmul_bf16"], ["f16", "matmul_f16"], ["q8_0", "matmul_q8_0"],
  ["q4_0", "matmul_q4_0"], ["q5_0", "matmul_q5_0"], ["q4_1", "matmul_q4_1"], ["q5_1", "matmul_q5_1"], ["q2_k", "matmul_q2_k"], ["q3_k", "matmul_q3_k"], ["q4_k", "matmul_q4_k"], ["q5_k", "matmul_q5_k"], ["q6_k", "matmul_q6_k"],
  // f16 weights with no infinity or NaN (the backend checks once per weight): after the exact row
  // above, so matmulIndex("f16") finds that one.
  ["f16", "matmul_f16_finite"],
];

/** The job-argument index of matmul_f16_finite (f16 weights known to hold no infinity or NaN). */
export const F16_FINITE_MATMUL_INDEX = WASM_MATMUL.length - 1;

/** The activation formats that have a wasm quantizer, in job-argument order, with their kernel. */
export const WASM_QUANTIZE: ReadonlyArray<readonly [ActivationType, QuantizeKernel]> = [
  ["q8_0", "quantize_q8_0"], ["q8_1", "quantize_q8_1"], ["q8_k", "quantize_q8_k"],
];

/** The job-argument index of a weight dtype's matmul, or -1 when it has no wasm kernel. */
export function matmulIndex(dtype: string): number {
  return WASM_MATMUL.findIndex(([d]) => d === dtype);
}

/** The job-argument index of an activation format's quantizer, or -1 when it has no wasm kernel. */
export function quantizeIndex(type: string): number {
  return WASM_QUANTIZE.findIndex(([t]) => t === type);
}

/**
 * A matmul kernel: (out, x, w, nTokens, inF, outF, rowStart, rowEnd), and scratch for those that
 * take it (MATMUL_SCRATCH; the others ignore a ninth argument).
 */
export type MatmulFunction = (out: number, x: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number, scratch?: number) => void;

/** The matmul kernel of job-argument index `index`. */
export function matmulKernel(k: KernelExports, index: number): MatmulFunction {
  const entry = WASM_MATMUL[index];
  if (entry === undefined) throw new Error(`wasm backend: no matmul kernel ${index}`);
  return k[entry[1]];
}

/**
 * The weight dtypes whose matmul takes scratch, with the export that sizes it (0 where a call needs
 * none): their prefill rearranges its operands once into it (assembly/kquant-matmul.ts prefillK,
 * assembly/legacy-prefill.ts); Q4_0/Q5_0 decode keeps the token's per-block data there
 * (assembly/legacy-quants.ts decodeToken).
 */
const MATMUL_SCRATCH: ReadonlyArray<readonly [QuantType, ScratchBytesKernel]> = [
  ["q4_0", "matmul_q4_0_scratch_bytes"], ["q5_0", "matmul_q5_0_scratch_bytes"],
  ["q4_k", "matmul_q4_k_scratch_bytes"], ["q5_k", "matmul_q5_k_scratch_bytes"], ["q6_k", "matmul_q6_k_scratch_bytes"],
];

/** The exports that size a matmul's scratch (matmul_<dtype>_scratch_bytes). */
type ScratchBytesKernel = Extract<keyof KernelExports, `matmul_${string}_scratch_bytes`>;

/** Scratch bytes per thread the matmul of weight dtype `dtype` takes for nTokens tokens of inF (0: none). */
export function matmulScratchBytes(k: KernelExports, dtype: string, nTokens: number, inF: number): number {
  const entry = MATMUL_SCRATCH.find(([d]) => d === dtype);
  return entry !== undefined ? k[entry[1]](nTokens, inF) : 0;
}

/** The quantize kernel of job-argument index `index`, and its activation format. */
export function quantizeKernel(k: KernelExports, index: number): [ActivationType, KernelExports[QuantizeKernel]] {
  const entry = WASM_QUANTIZE[index];
  if (entry === undefined) throw new Error(`wasm backend: no quantize kernel ${index}`);
  return [entry[0], k[entry[1]]];
}
