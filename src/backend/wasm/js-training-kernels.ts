// The training kernels (the backward's, the masked attention forward, the cross-entropy) in plain JavaScript over a kernel memory, for js-kernels.ts (the
// ABI twin the backend's plumbing is tested with): the loops of kernels/reference/linear-backward.ts,
// elementwise-backward.ts and attention-train.ts on byte offsets, each call computing only its slice
// as the WebAssembly kernels do. Not a fast path.

import { rmsNormBackward, ropeBackward, swigluBackward } from "../../kernels/reference/elementwise-backward.js";
import { bf16ToF32, f16ToF32 } from "../../tensor/float16.js";
import type { KernelExports, TrainingKernelName } from "./kernel-abi.js";

/** Float32, 16-bit and byte views of a memory as it is now. */
export interface MemoryViews {
  readonly f32: Float32Array;
  readonly u16: Uint16Array;
  readonly u8: Uint8Array;
}

/** Each query (row start r0, kv head g, query head h, position t) of attention units [u0, u1) (unit = row * nKvHeads + kv head). */
function forEachQuery(u0: number, u1: number, seqLen: number, nHeads: number, nKvHeads: number, body: (r0: number, g: number, h: number, t: number) => void): void {
  const group = nHeads / nKvHeads;
  for (let u = u0; u < u1; u++) {
    const [r0, g] = [Math.floor(u / nKvHeads) * seqLen, u % nKvHeads];
    for (let h = g * group; h < (g + 1) * group; h++) for (let t = 0; t < seqLen; t++) body(r0, g, h, t);
  }
}

/** The training kernels over `views()` (called at each use: a memory may have grown). */
export function jsTrainingKernels(views: () => MemoryViews): Pick<KernelExports, TrainingKernelName> {
  const backwardInput = (widen: (v: MemoryViews, i: number) => number, bytes: number) =>
    (dx: number, dy: number, w: number, _nTokens: number, inF: number, outF: number, alpha: number, t0: number, t1: number): void => {
      const v = views();
      for (let t = t0; t < t1; t++) {
        for (let i = 0; i < inF; i++) {
          let sum = 0;
          for (let o = 0; o < outF; o++) sum += v.f32[dy / 4 + t * outF + o]! * widen(v, w / bytes + o * inF + i);
          v.f32[dx / 4 + t * inF + i] = v.f32[dx / 4 + t * inF + i]! + alpha * sum;
        }
      }
    };
  return {
    matmul_backward_input_f32: backwardInput((v, i) => v.f32[i]!, 4),
    matmul_backward_input_bf16: backwardInput((v, i) => bf16ToF32(v.u16[i]!), 2),
    matmul_backward_input_f16: backwardInput((v, i) => f16ToF32(v.u16[i]!), 2),
    matmul_backward_weight(dw, dy, x, nTokens, inF, outF, alpha, r0, r1) {
      const { f32 } = views();
      for (let o = r0; o < r1; o++) {
        for (let i = 0; i < inF; i++) {
          let sum = 0;
          for (let t = 0; t < nTokens; t++) sum += f32[dy / 4 + t * outF + o]! * f32[x / 4 + t * inF + i]!;
          f32[dw / 4 + o * inF + i] = f32[dw / 4 + o * inF + i]! + alpha * sum;
        }
      }
    },
    attention_backward(dq, dk, dv, dOut, q, k, v, lse, mask, seqLen, nHeads, nKvHeads, headDim, u0, u1) {
      const { f32, u8 } = views();
      const lse64 = new Float64Array(f32.buffer);
      const scale = 1 / Math.sqrt(headDim);
      const [qW, kvW] = [nHeads * headDim, nKvHeads * headDim];
      forEachQuery(u0, u1, seqLen, nHeads, nKvHeads, (r0, g, h, t) => {
        const m = lse64[lse / 8 + (r0 + t) * nHeads + h]!;
        if (m === -Infinity) return;
        const qo = (r0 + t) * qW + h * headDim;
        const seen: [number, number, number][] = []; // (kv row offset, P, dP)
        let d = 0;
        for (let p = 0; p <= t; p++) {
          if (u8[mask + r0 + p] === 0) continue;
          const ko = (r0 + p) * kvW + g * headDim;
          let [dot, dP] = [0, 0];
          for (let i = 0; i < headDim; i++) {
            dot += f32[q / 4 + qo + i]! * f32[k / 4 + ko + i]!;
            dP += f32[dOut / 4 + qo + i]! * f32[v / 4 + ko + i]!;
          }
          const pr = Math.exp(Math.fround(dot) * scale - m);
          seen.push([ko, pr, dP]);
          d += pr * dP;
        }
        for (const [ko, pr, dP] of seen) {
          const ds = pr * (dP - d) * scale;
          for (let i = 0; i < headDim; i++) {
            f32[dq / 4 + qo + i] = f32[dq / 4 + qo + i]! + ds * f32[k / 4 + ko + i]!;
            f32[dk / 4 + ko + i] = f32[dk / 4 + ko + i]! + ds * f32[q / 4 + qo + i]!;
            f32[dv / 4 + ko + i] = f32[dv / 4 + ko + i]! + pr * f32[dOut / 4 + qo + i]!;
          }
        }
      });
    },
    attention_backward_scratch_bytes: () => 16,
    cross_entropy(maxes, sums, dLogits, logits, targets, vocab, invNorm, r0, r1) {
      const { f32 } = views();
      const [f64, i32] = [new Float64Array(f32.buffer), new Int32Array(f32.buffer)];
      for (let r = r0; r < r1; r++) {
        const [x, d, target] = [logits / 4 + r * vocab, dLogits / 4 + r * vocab, i32[targets / 4 + r]!];
        if (target < 0) {
          if (dLogits !== 0) f32.fill(0, d, d + vocab);
          continue;
        }
        let [max, sum] = [-Infinity, 0];
        for (let j = 0; j < vocab; j++) max = Math.max(max, f32[x + j]!);
        for (let j = 0; j < vocab; j++) sum += Math.exp(f32[x + j]! - max);
        [f64[maxes / 8 + r], f64[sums / 8 + r]] = [max, sum];
        if (dLogits === 0) continue;
        const pTarget = Math.exp(f32[x + target]! - max) / sum;
        for (let j = 0; j < vocab; j++) f32[d + j] = (Math.exp(f32[x + j]! - max) / sum) * invNorm;
        f32[d + target] = (pTarget - 1) * invNorm;
      }
    },
    attention_forward_masked(out, maxes, sums, q, k, v, mask, seqLen, nHeads, nKvHeads, headDim, u0, u1) {
      const { f32, u8 } = views();
      const f64 = new Float64Array(f32.buffer);
      const scale = 1 / Math.sqrt(headDim);
      const [qW, kvW] = [nHeads * headDim, nKvHeads * headDim];
      forEachQuery(u0, u1, seqLen, nHeads, nKvHeads, (r0, g, h, t) => {
        const qo = (r0 + t) * qW + h * headDim;
        const seen: [number, number][] = []; // (kv row offset, score)
        let max = -Infinity;
        for (let p = 0; p <= t; p++) {
          if (u8[mask + r0 + p] === 0) continue;
          const ko = (r0 + p) * kvW + g * headDim;
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += f32[q / 4 + qo + i]! * f32[k / 4 + ko + i]!;
          seen.push([ko, Math.fround(dot) * scale]);
          max = Math.max(max, Math.fround(dot) * scale);
        }
        let sum = 0;
        const acc = new Float64Array(headDim);
        for (const [ko, s] of seen) {
          const e = Math.exp(s - max);
          sum += e;
          for (let i = 0; i < headDim; i++) acc[i] = acc[i]! + e * f32[v / 4 + ko + i]!;
        }
        for (let i = 0; i < headDim; i++) f32[out / 4 + qo + i] = sum > 0 ? acc[i]! / sum : 0;
        f64[maxes / 8 + (r0 + t) * nHeads + h] = max;
        f64[sums / 8 + (r0 + t) * nHeads + h] = sum;
      });
    },
    rmsnorm_backward(dx, dWeight, dy, x, weight, nTokens, dim, eps) {
      const { f32 } = views();
      const at = (p: number): Float32Array => f32.subarray(p / 4, p / 4 + nTokens * dim);
      rmsNormBackward(at(dx), dWeight === 0 ? undefined : f32.subarray(dWeight / 4, dWeight / 4 + dim), at(dy), at(x), f32.subarray(weight / 4, weight / 4 + dim), nTokens, eps);
    },
    swiglu_backward(dGate, dUp, dh, gate, up, n) {
      const { f32 } = views();
      const at = (p: number): Float32Array => f32.subarray(p / 4, p / 4 + n);
      swigluBackward(at(dGate), at(dUp), at(dh), at(gate), at(up));
    },
    rope_backward(d, nTokens, nHeads, headDim, cos, sin) {
      const { f32 } = views();
      const half = (p: number): Float32Array => f32.subarray(p / 4, p / 4 + (nTokens * headDim) / 2);
      ropeBackward(f32.subarray(d / 4, d / 4 + nTokens * nHeads * headDim), nTokens, nHeads, headDim, half(cos), half(sin));
    },
  };
}
