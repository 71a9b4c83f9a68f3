// The forward of training's masked causal GQA attention in WebAssembly SIMD: the twin of
// src/kernels/reference/attention-train.ts attentionForwardMasked. A unit of work is one sequence row
// and one kv head (as attention-backward.ts's): per query of the group's heads, the scores of the
// visible keys (float32 dots times the scale in float64, as the reference's), their max, the weights
// e^(s - max) by vec.ts's float32 exp (zero for a masked key), their sum in float64 and the weighted
// sum of values in float32 SIMD, divided by the sum. Two passes over one query's seqLen scores in
// scratch, not the inference kernel's online softmax: a training row is short and the backward
// needs each query's log-sum-exp, which is max + log(sum). The logarithm is left to the caller: the
// kernel writes max and sum (float64) apart, because the standard library's float64 log reads a
// table from static data, which must stay below module.ts KERNEL_RESERVED_BYTES. A query that sees
// no key gets zeros, max -Infinity and sum 0.

import { dot } from "./attention";
import { attention_backward_scratch_bytes, axpy, unitHead } from "./attention-backward";
import { exp1 } from "./vec";

/**
 * Units [unitStart, unitEnd) (unit = row * nKvHeads + kvHead) of the masked attention forward:
 * out (rows * seqLen, nHeads, headDim), maxes and sums (rows * seqLen, nHeads) float64, from q
 * (as out), k, v (rows * seqLen, nKvHeads, headDim) and mask (rows * seqLen) bytes, 1 = a real key.
 * scratch: attention_backward_scratch_bytes(seqLen, headDim).
 */
export function attention_forward_masked(
  out: usize, maxes: usize, sums: usize, q: usize, k: usize, v: usize, mask: usize,
  seqLen: u32, nHeads: u32, nKvHeads: u32, headDim: u32, unitStart: u32, unitEnd: u32, scratch: usize,
): void {
  const group = nHeads / nKvHeads;
  const scale64: f64 = 1.0 / Math.sqrt(<f64>headDim);
  const rowBytes = <usize>headDim << 2;
  const kvBytes = <usize>nKvHeads * rowBytes;
  const qBytes = <usize>nHeads * rowBytes;
  const weights = scratch; // (seqLen) one query's float32 dots, then its weights
  const acc = scratch + (<usize>attention_backward_scratch_bytes(seqLen, headDim) - (<usize>((headDim + 3) & ~3) << 2)); // (headDim)
  for (let u = unitStart; u < unitEnd; u++) {
    const g = u % nKvHeads;
    const r0 = <usize>(u / nKvHeads) * seqLen;
    const kHead = unitHead(k, u, seqLen, nKvHeads, rowBytes), vHead = unitHead(v, u, seqLen, nKvHeads, rowBytes);
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let t: u32 = 0; t < seqLen; t++) {
        const qOff = (r0 + t) * qBytes + <usize>h * rowBytes;
        const stat = ((r0 + t) * nHeads + h) << 3;
        let max: f64 = -Infinity;
        for (let p: u32 = 0; p <= t; p++) {
          if (load<u8>(mask + r0 + p) == 0) continue;
          const d = dot(q + qOff, kHead + <usize>p * kvBytes, headDim);
          store<f32>(weights + (<usize>p << 2), d);
          const s = <f64>d * scale64;
          if (s > max) max = s;
        }
        store<f64>(maxes + stat, max);
        memory.fill(acc, 0, rowBytes);
        let sum: f64 = 0;
        if (max != -Infinity) {
          for (let p: u32 = 0; p <= t; p++) {
            if (load<u8>(mask + r0 + p) == 0) continue;
            const e = exp1(<f32>(<f64>load<f32>(weights + (<usize>p << 2)) * scale64 - max));
            sum += <f64>e;
            axpy(acc, e, vHead + <usize>p * kvBytes, headDim);
          }
        }
        store<f64>(sums + stat, sum);
        const inv = sum > 0 ? <f32>(1.0 / sum) : <f32>0;
        scaleInto(out + qOff, inv, acc, headDim);
      }
    }
  }
}

/** y[0..headDim) = alpha * x. */
// @ts-ignore: decorator
@inline function scaleInto(y: usize, alpha: f32, x: usize, headDim: u32): void {
  const av = f32x4.splat(alpha);
  let i: u32 = 0;
  for (; i + 4 <= headDim; i += 4) v128.store(y + (<usize>i << 2), f32x4.mul(av, v128.load(x + (<usize>i << 2))));
  for (; i < headDim; i++) store<f32>(y + (<usize>i << 2), alpha * load<f32>(x + (<usize>i << 2)));
}
