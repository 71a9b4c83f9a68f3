// A KernelProvider in plain JavaScript that follows the WebAssembly kernel ABI (kernel-abi.ts) over
// the same shared memories: the reference kernels' loops, reading and writing memory by byte
// offset. Not a fast path: it lets the backend's threading and memory plumbing be tested apart from
// the WebAssembly kernels (a fault then points at one or the other), and runs where WebAssembly SIMD
// is missing. Follows kernels/reference/ (the same float32 loops; q8_0 as ggml's vec_dot_q8_0_q8_0;
// the other block formats through kernels/reference/quant-dot.ts's table, bit-exact).

import { QUANT_DOTS } from "../../kernels/reference/quant-dot.js";
import type { ActivationType, QuantType } from "../../tensor/block-format.js";
import { bf16ArrayToF32, bf16ToF32, f16ArrayToF32, f16ToF32 } from "../../tensor/float16.js";
import { Q8_0_BLOCK_BYTES, Q8_0_BLOCK_SIZE, quantizeBlocksQ8_0 } from "../../tensor/q8_0.js";
import { BLOCK_FORMATS, quantRowBytes } from "../../tensor/quant-formats.js";
import type { KernelExports, KernelProvider } from "./kernel-abi.js";
import { jsTrainingKernels } from "./js-training-kernels.js";
import type { WasmMemory } from "./wasm-api.js";

/** Typed views of a memory, re-made when the memory has grown. */
class Views {
  private buffer: ArrayBufferLike | undefined;
  f32: Float32Array = new Float32Array(0);
  u16: Uint16Array = new Uint16Array(0);
  u8: Uint8Array = new Uint8Array(0);
  i8: Int8Array = new Int8Array(0);
  constructor(private readonly memory: WasmMemory) {}
  get(): this {
    const buffer = this.memory.buffer;
    if (buffer !== this.buffer || buffer.byteLength !== this.u8.length) {
      this.buffer = buffer;
      this.f32 = new Float32Array(buffer);
      this.u16 = new Uint16Array(buffer);
      this.u8 = new Uint8Array(buffer);
      this.i8 = new Int8Array(buffer);
    }
    return this;
  }
}

function jsKernels(memory: WasmMemory): KernelExports {
  const views = new Views(memory);
  // Keys/values read through `widen` (element index in units of bytesPerElement), as matmul's weights.
  const attentionWith = (widen: (v: Views, elementIndex: number) => number, bytesPerElement: number) =>
    (out: number, q: number, keys: number, values: number, nTokens: number, startPos: number, nHeads: number, nKvHeads: number,
      headDim: number, headStart: number, headEnd: number, scratch: number): void => {
      const v = views.get();
      const { f32 } = v;
      const kvDim = nKvHeads * headDim;
      const group = nHeads / nKvHeads;
      const kBase = keys / bytesPerElement;
      const vBase = values / bytesPerElement;
      const scores = scratch / 4; // (context) float32, in the caller's scratch
      for (let t = 0; t < nTokens; t++) {
        const nVisible = startPos + t + 1;
        for (let h = headStart; h < headEnd; h++) {
          const qBase = q / 4 + (t * nHeads + h) * headDim;
          const kvOffset = Math.floor(h / group) * headDim;
          let max = -Infinity;
          for (let p = 0; p < nVisible; p++) {
            let dot = 0;
            for (let i = 0; i < headDim; i++) dot += f32[qBase + i]! * widen(v, kBase + p * kvDim + kvOffset + i);
            f32[scores + p] = dot / Math.sqrt(headDim);
            max = Math.max(max, f32[scores + p]!);
          }
          let sum = 0;
          for (let p = 0; p < nVisible; p++) sum += f32[scores + p] = Math.exp(f32[scores + p]! - max);
          for (let i = 0; i < headDim; i++) {
            let acc = 0;
            for (let p = 0; p < nVisible; p++) acc += f32[scores + p]! * widen(v, vBase + p * kvDim + kvOffset + i);
            f32[out / 4 + (t * nHeads + h) * headDim + i] = acc / sum;
          }
        }
      }
    };
  const matmulWith = (widen: (v: Views, elementIndex: number) => number, bytesPerElement: number) =>
    (out: number, x: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void => {
      const v = views.get();
      const { f32 } = v;
      const wBase = w / bytesPerElement;
      for (let r = rowStart; r < rowEnd; r++) {
        for (let t = 0; t < nTokens; t++) {
          let sum = 0;
          const xBase = x / 4 + t * inF;
          for (let i = 0; i < inF; i++) sum += f32[xBase + i]! * widen(v, wBase + r * inF + i);
          f32[out / 4 + t * outF + r] = sum;
        }
      }
    };
  const scale = (v: Views, byte: number): number => f16ToF32(v.u8[byte]! | (v.u8[byte + 1]! << 8));
  // The other block formats straight from the tables: the reference quantizer and dot of each.
  const quantizeAs = (type: ActivationType) => (xq: number, x: number, nTokens: number, inF: number): void => {
    const { f32, u8 } = views.get();
    const format = BLOCK_FORMATS[type];
    format.quantizeBlocks!(f32, x / 4, (nTokens * inF) / format.blockSize, u8, xq);
  };
  const matmulAs = (type: QuantType) =>
    (out: number, xq: number, w: number, nTokens: number, inF: number, outF: number, rowStart: number, rowEnd: number): void => {
      const { f32, u8 } = views.get();
      const { activation, dot } = QUANT_DOTS[type];
      const wRowBytes = quantRowBytes(type, inF);
      const xRowBytes = quantRowBytes(activation, inF);
      for (let r = rowStart; r < rowEnd; r++) {
        for (let t = 0; t < nTokens; t++) f32[out / 4 + t * outF + r] = dot(inF, u8, w + r * wRowBytes, u8, xq + t * xRowBytes);
      }
    };
  return {
    matmul_f32: matmulWith((v, i) => v.f32[i]!, 4),
    matmul_bf16: matmulWith((v, i) => bf16ToF32(v.u16[i]!), 2),
    matmul_f16: matmulWith((v, i) => f16ToF32(v.u16[i]!), 2),
    matmul_f16_finite: matmulWith((v, i) => f16ToF32(v.u16[i]!), 2),
    cast_bf16_f32(dst, src, n) {
      const { f32, u16 } = views.get();
      bf16ArrayToF32(u16.subarray(src / 2, src / 2 + n), f32.subarray(dst / 4, dst / 4 + n));
    },
    cast_f16_f32(dst, src, n) {
      const { f32, u16 } = views.get();
      f16ArrayToF32(u16.subarray(src / 2, src / 2 + n), f32.subarray(dst / 4, dst / 4 + n));
    },
    quantize_q8_0(xq, x, nTokens, inF) {
      const { f32, u8 } = views.get();
      quantizeBlocksQ8_0(f32, x / 4, (nTokens * inF) / Q8_0_BLOCK_SIZE, u8, xq);
    },
    matmul_q8_0(out, xq, w, nTokens, inF, outF, rowStart, rowEnd) {
      const v = views.get();
      const blocks = inF / Q8_0_BLOCK_SIZE;
      for (let r = rowStart; r < rowEnd; r++) {
        for (let t = 0; t < nTokens; t++) {
          let sum = 0;
          for (let b = 0; b < blocks; b++) {
            const wb = w + (r * blocks + b) * Q8_0_BLOCK_BYTES;
            const xb = xq + (t * blocks + b) * Q8_0_BLOCK_BYTES;
            let dot = 0;
            for (let j = 2; j < Q8_0_BLOCK_BYTES; j++) dot += v.i8[wb + j]! * v.i8[xb + j]!;
            sum += dot * scale(v, wb) * scale(v, xb);
          }
          v.f32[out / 4 + t * outF + r] = sum;
        }
      }
    },
    matmul_q4_0: matmulAs("q4_0"),
    matmul_q5_0: matmulAs("q5_0"),
    quantize_q8_1: quantizeAs("q8_1"),
    matmul_q4_1: matmulAs("q4_1"),
    matmul_q5_1: matmulAs("q5_1"),
    quantize_q8_k: quantizeAs("q8_k"),
    matmul_q2_k: matmulAs("q2_k"),
    matmul_q3_k: matmulAs("q3_k"),
    matmul_q4_k: matmulAs("q4_k"),
    matmul_q5_k: matmulAs("q5_k"),
    matmul_q6_k: matmulAs("q6_k"),
    // No scratch: the block-format matmuls here rearrange nothing.
    matmul_q4_0_scratch_bytes: () => 0,
    matmul_q5_0_scratch_bytes: () => 0,
    matmul_q4_k_scratch_bytes: () => 0,
    matmul_q5_k_scratch_bytes: () => 0,
    matmul_q6_k_scratch_bytes: () => 0,
    rmsnorm(out, x, weight, nTokens, dim, eps) {
      const { f32 } = views.get();
      for (let t = 0; t < nTokens; t++) {
        let sumSquares = 0;
        for (let i = 0; i < dim; i++) sumSquares += f32[x / 4 + t * dim + i]! ** 2;
        const s = 1 / Math.sqrt(Math.fround(sumSquares / dim) + eps);
        for (let i = 0; i < dim; i++) f32[out / 4 + t * dim + i] = Math.fround(f32[x / 4 + t * dim + i]! * s) * f32[weight / 4 + i]!;
      }
    },
    rope(x, nTokens, nHeads, headDim, cos, sin) {
      const { f32 } = views.get();
      const half = headDim / 2;
      for (let t = 0; t < nTokens; t++) {
        for (let h = 0; h < nHeads; h++) {
          const base = x / 4 + (t * nHeads + h) * headDim;
          for (let i = 0; i < half; i++) {
            const c = f32[cos / 4 + t * half + i]!;
            const s = f32[sin / 4 + t * half + i]!;
            const x0 = f32[base + i]!;
            const x1 = f32[base + half + i]!;
            f32[base + i] = x0 * c - x1 * s;
            f32[base + half + i] = x1 * c + x0 * s;
          }
        }
      }
    },
    swiglu(out, gate, up, n) {
      const { f32 } = views.get();
      for (let i = 0; i < n; i++) {
        const g = f32[gate / 4 + i]!;
        f32[out / 4 + i] = Math.fround(g / (1 + Math.exp(-g))) * f32[up / 4 + i]!;
      }
    },
    add(out, x, n) {
      const { f32 } = views.get();
      for (let i = 0; i < n; i++) f32[out / 4 + i] = f32[out / 4 + i]! + f32[x / 4 + i]!;
    },
    attention: attentionWith((v, i) => v.f32[i]!, 4),
    attention_f16: attentionWith((v, i) => f16ToF32(v.u16[i]!), 2),
    attention_bf16: attentionWith((v, i) => bf16ToF32(v.u16[i]!), 2),
    // Not flash-style: one score per visible position. Callers size scratch by context for this one.
    attention_scratch_bytes: () => JS_ATTENTION_SCRATCH_BYTES,
    ...jsTrainingKernels(() => views.get()),
  };
}

/** Scratch per thread for the JS attention: one float32 score per position up to 64k positions. */
const JS_ATTENTION_SCRATCH_BYTES = 4 * 65536;

/** The plain-JavaScript kernels as a KernelProvider (see the file comment). */
export const kernelProvider: KernelProvider = {
  instantiate: (_compiled, memory) => jsKernels(memory),
  prepare: async () => undefined,
  reservedBytes: () => 0,
};
