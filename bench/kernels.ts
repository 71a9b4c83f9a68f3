// `npm run bench -- kernels [--seconds S] [--dtypes f32,bf16,f16,q8_0,q4_0,q3_k,q4_k,q5_k,q6_k] [--builds simd,relaxed-simd]`:
// single-thread speed of the WebAssembly matrix kernels (src/kernels/wasm/), every build this runtime
// validates (or those named), at Llama 3.2 1B shapes, against the reference
// kernels (src/kernels/reference/). Decode (one token, matrix-vector) reads every weight once, so it
// is reported as weight GB/s: how close one thread gets to memory bandwidth. Prefill (128 tokens)
// is compute bound and reported as GFLOP/s (2 per multiply-add). Weights are random but valid values
// of each dtype (block formats: a few rows quantized by the reference quantizer, repeated), two matrices of 16.8 M weights each (gate 8192x2048, down 2048x8192) used in turn,
// more than the L3 cache, so decode reads memory as a real model would. One thread, no workers.

import { F16_FINITE_MATMUL_INDEX, matmulIndex, matmulKernel, matmulScratchBytes, quantizeIndex, quantizeKernel } from "../src/backend/wasm/quant-kernels.js";
import { QUANT_DOTS } from "../src/kernels/reference/quant-dot.js";
import { matmul as referenceMatmul } from "../src/kernels/reference/linear.js";
import {
  KERNEL_RESERVED_BYTES, type KernelBuild, type KernelMemory, type WasmKernels, compileKernels, createKernelMemory, instantiateKernels,
  kernelBuildSupported,
} from "../src/kernels/wasm/module.js";
import { type QuantType, isQuantType, quantRowBytes, quantizeTensor } from "../src/tensor/quant-formats.js";
import { Rng } from "../src/tensor/rng.js";
import type { WeightTensor } from "../src/tensor/tensor.js";
import type { Bench } from "./bench.js";

type Dtype = "f32" | "bf16" | "f16" | QuantType;
const DTYPES: readonly Dtype[] = ["f32", "bf16", "f16", "q8_0", "q4_0", "q3_k", "q4_k", "q5_k", "q6_k"];
/** Rows quantized by the reference quantizer, then repeated over a block-format matrix. */
const PATTERN_ROWS = 16;
const DIM = 2048;
const FFN = 8192;
const PREFILL_TOKENS = 128;
const PAGE = 65536;

/** Bytes of a (rows, cols) weight matrix of dtype. */
function weightBytes(dtype: Dtype, rows: number, cols: number): number {
  if (isQuantType(dtype)) return rows * quantRowBytes(dtype, cols);
  return rows * cols * (dtype === "f32" ? 4 : 2);
}

/** Random valid weights of moderate magnitude (|w| in about [2^-8, 2^-1]), written fast as bits. */
function fillWeights(dtype: Dtype, bytes: Uint8Array, rng: Rng, cols: number): void {
  if (isQuantType(dtype)) {
    const values = Float32Array.from({ length: PATTERN_ROWS * cols }, () => rng.normal() * 0.05);
    const pattern = quantizeTensor({ dtype: "f32", shape: [PATTERN_ROWS, cols], data: values }, dtype).data;
    for (let at = 0; at < bytes.byteLength; at += pattern.length) bytes.set(pattern.subarray(0, Math.min(pattern.length, bytes.byteLength - at)), at);
    return;
  }
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  for (let i = 0; i < words.length; i++) {
    const r = rng.nextU32();
    if (dtype === "f32") words[i] = (r & 0x807fffff) | ((119 + (r >>> 23) % 7) << 23);
    else if (dtype === "bf16") words[i] = (r & 0x807f807f) | ((119 + (r >>> 8) % 7) << 7) | ((119 + (r >>> 24) % 7) << 23);
    else if (dtype === "f16") words[i] = (r & 0x83ff83ff) | ((7 + (r >>> 10) % 7) << 10) | ((7 + (r >>> 26) % 7) << 26);
    else words[i] = r;
  }
}

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? undefined : argv[i + 1];
}

/** Best seconds per call of fn over about `seconds` (at least 3 calls). */
function timeIt(fn: () => void, seconds: number): number {
  fn(); // warm-up (tier-up, page faults)
  let best = Infinity;
  const deadline = performance.now() + seconds * 1000;
  for (let n = 0; n < 3 || performance.now() < deadline; n++) {
    const start = performance.now();
    fn();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return best;
}

interface Setup {
  kernels: WasmKernels;
  memory: KernelMemory;
  x: number;
  xq: number;
  out: number;
  /** Scratch for the kernels that take it (as the backend gives each thread). */
  scratch: number;
  gate: number;
  down: number;
}

function setup(kernels: WasmKernels, memory: KernelMemory, dtype: Dtype, rng: Rng): Setup {
  let next = KERNEL_RESERVED_BYTES;
  const alloc = (byteLength: number): number => {
    const ptr = next;
    next += Math.ceil(byteLength / 64) * 64;
    return ptr;
  };
  const x = alloc(PREFILL_TOKENS * FFN * 4);
  const xq = alloc(PREFILL_TOKENS * quantRowBytes("q8_k", FFN) * 2); // room for any activation format
  const out = alloc(PREFILL_TOKENS * FFN * 4);
  const scratch = alloc(Math.max(matmulScratchBytes(kernels, dtype, PREFILL_TOKENS, FFN), matmulScratchBytes(kernels, dtype, PREFILL_TOKENS, DIM)));
  const gate = alloc(weightBytes(dtype, FFN, DIM));
  const down = alloc(weightBytes(dtype, DIM, FFN));
  if (next > memory.buffer.byteLength) memory.grow(Math.ceil((next - memory.buffer.byteLength) / PAGE));
  const xs = new Float32Array(memory.buffer, x, PREFILL_TOKENS * FFN);
  for (let i = 0; i < xs.length; i++) xs[i] = rng.normal();
  fillWeights(dtype, new Uint8Array(memory.buffer, gate, weightBytes(dtype, FFN, DIM)), rng, DIM);
  fillWeights(dtype, new Uint8Array(memory.buffer, down, weightBytes(dtype, DIM, FFN)), rng, FFN);
  return { kernels, memory, x, xq, out, scratch, gate, down };
}

/** One matmul through the wasm kernels (the backend's table): out (nTokens, outF) = x @ w^T (block formats: x quantized first). */
function runWasm(s: Setup, dtype: Dtype, w: number, nTokens: number, inF: number, outF: number): void {
  const k = s.kernels;
  // f16: the kernel the backend picks for weights without infinity/NaN (these are finite).
  const matmul = matmulKernel(k, dtype === "f16" ? F16_FINITE_MATMUL_INDEX : matmulIndex(dtype));
  if (isQuantType(dtype)) {
    quantizeKernel(k, quantizeIndex(QUANT_DOTS[dtype].activation))[1](s.xq, s.x, nTokens, inF);
    matmul(s.out, s.xq, w, nTokens, inF, outF, 0, outF, matmulScratchBytes(k, dtype, nTokens, inF) > 0 ? s.scratch : 0);
  } else {
    matmul(s.out, s.x, w, nTokens, inF, outF, 0, outF);
  }
}

/** The reference kernel on `rows` rows of the same weights (it is slow: a subset gives its rate). */
function runReference(s: Setup, dtype: Dtype, w: number, nTokens: number, inF: number, rows: number): void {
  const buffer = s.memory.buffer;
  const n = rows * inF;
  let tensor: WeightTensor;
  if (dtype === "f32") tensor = { dtype, shape: [rows, inF], data: new Float32Array(buffer, w, n) };
  else if (isQuantType(dtype)) tensor = { dtype, shape: [rows, inF], data: new Uint8Array(buffer, w, weightBytes(dtype, rows, inF)) };
  else tensor = { dtype, shape: [rows, inF], data: new Uint16Array(buffer, w, n) };
  referenceMatmul(new Float32Array(nTokens * rows), new Float32Array(buffer, s.x, nTokens * inF), tensor, nTokens);
}

const fmt = (v: number, digits = 1): string => v.toFixed(digits);

export const kernelsBench: Bench = {
  name: "kernels",
  summary: "single-thread GB/s (decode) and GFLOP/s (prefill, 128 tokens) of the wasm matmul kernels vs the reference",
  async run(argv) {
    const seconds = Number(flag(argv, "seconds") ?? "1");
    const dtypes = (flag(argv, "dtypes")?.split(",") ?? DTYPES) as Dtype[];
    const builds = ((flag(argv, "builds")?.split(",") ?? ["simd", "relaxed-simd"]) as KernelBuild[]).filter(kernelBuildSupported);
    console.log(`one thread; best of ~${seconds} s per row; decode shapes 8192x2048 and 2048x8192 alternating; builds: ${builds.join(", ")}\n`);
    console.log("| dtype | build | case | ms / call | weight GB/s | GFLOP/s | reference GFLOP/s | speedup |");
    console.log("|---|---|---|---:|---:|---:|---:|---:|");
    const memory = createKernelMemory(16, 65536);
    const all = await Promise.all(builds.map(async (build) => ({ build, kernels: instantiateKernels(await compileKernels(build), memory) })));
    for (const dtype of dtypes) {
      if (!DTYPES.includes(dtype)) throw new Error(`--dtypes: unknown dtype ${dtype}`);
      const s = setup(all[0]!.kernels, memory, dtype, new Rng(7));
      const bytes = weightBytes(dtype, FFN, DIM); // per matrix
      const flops = 2 * FFN * DIM;
      const pf = PREFILL_TOKENS * flops;
      // The reference's rate once per dtype (it is the same code whichever build runs beside it).
      const refRows = 512;
      const refDecode = timeIt(() => runReference(s, dtype, s.gate, 1, DIM, refRows), Math.min(seconds, 0.5)) * (FFN / refRows);
      const refPrefillRows = 32;
      const refPrefill = timeIt(() => runReference(s, dtype, s.gate, PREFILL_TOKENS, DIM, refPrefillRows), 0) * (FFN / refPrefillRows);
      for (const { build, kernels } of all) {
        const sk = { ...s, kernels };
        // Decode: gate (8192 x 2048) then down (2048 x 8192), one token each.
        const decode = timeIt(() => {
          runWasm(sk, dtype, s.gate, 1, DIM, FFN);
          runWasm(sk, dtype, s.down, 1, FFN, DIM);
        }, seconds) / 2;
        console.log(`| ${dtype} | ${build} | decode, 1 token | ${fmt(decode * 1000, 2)} | ${fmt(bytes / decode / 1e9)} | ${fmt(flops / decode / 1e9)} | ${fmt(flops / refDecode / 1e9, 2)} | ${fmt(refDecode / decode)}x |`);
        // Prefill: 128 tokens through gate (x (128, 2048) -> (128, 8192)).
        const prefill = timeIt(() => runWasm(sk, dtype, s.gate, PREFILL_TOKENS, DIM, FFN), seconds);
        console.log(`| ${dtype} | ${build} | prefill, ${PREFILL_TOKENS} tokens | ${fmt(prefill * 1000, 1)} | ${fmt(bytes / prefill / 1e9, 2)} | ${fmt(pf / prefill / 1e9)} | ${fmt(pf / refPrefill / 1e9, 2)} | ${fmt(refPrefill / prefill)}x |`);
      }
    }
    console.log("\nBlock-format times include quantizing the activations (as the backend runs it).");
  },
};
