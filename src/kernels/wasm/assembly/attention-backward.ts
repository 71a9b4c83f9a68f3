// The backward of training's masked causal GQA attention in WebAssembly SIMD: the twin of
// src/kernels/reference/attention-train.ts attentionBackwardMasked. The probabilities are recomputed
// from the forward's log-sum-exp (FlashAttention-2's backward, Dao 2023, Algorithm 2): per query,
// P = exp(s - lse) and dP = dOut . v for every visible key, D = sum P dP, then dS = P (dP - D) and
// dq += dS k / sqrt(headDim), dk += dS q / sqrt(headDim), dv += P dOut. A unit of work is one
// sequence row and one kv head: it owns that head's dk and dv rows and the dq rows of its group's
// query heads, so threads split units with no shared writes. Dots and gradients are float32 SIMD
// over headDim, and dk, dv gather into the output in float32 (the reference sums in float64); the
// score, as the reference's, is the float32 dot times the scale less the log-sum-exp in float64; its
// exponential is vec.ts's float32 exp (the standard library's float64 exp reads a table from static
// data, which must stay below module.ts KERNEL_RESERVED_BYTES).

import { dot } from "./attention";
import { exp1, madd } from "./vec";

/** headDim rounded up to whole vectors, in bytes. */
// @ts-ignore: decorator
@inline function paddedBytes(headDim: u32): usize {
  return <usize>((headDim + 3) & ~3) << 2;
}

/**
 * Scratch bytes per call (per thread): P and dP of one query (seqLen each) and its dq accumulator.
 * attention-train.ts's forward uses the same block (its weights and output accumulator).
 */
export function attention_backward_scratch_bytes(seqLen: u32, headDim: u32): u32 {
  return (((seqLen + 3) & ~3) << 3) + <u32>paddedBytes(headDim);
}

/**
 * The first row of unit u's kv head (unit = sequence row * nKvHeads + kv head) in a (rows * seqLen,
 * nKvHeads, headDim) tensor at base: the row starts at token row * seqLen; later tokens are
 * nKvHeads * rowBytes apart.
 */
// @ts-ignore: decorator
@inline export function unitHead(base: usize, u: u32, seqLen: u32, nKvHeads: u32, rowBytes: usize): usize {
  return base + (<usize>(u / nKvHeads) * seqLen * nKvHeads + <usize>(u % nKvHeads)) * rowBytes;
}

/** y[0..headDim) += alpha * x. */
// @ts-ignore: decorator
@inline export function axpy(y: usize, alpha: f32, x: usize, headDim: u32): void {
  const av = f32x4.splat(alpha);
  let i: u32 = 0;
  for (; i + 4 <= headDim; i += 4) {
    const p = <usize>i << 2;
    v128.store(y + p, madd(av, v128.load(x + p), v128.load(y + p)));
  }
  for (; i < headDim; i++) {
    const p = <usize>i << 2;
    store<f32>(y + p, load<f32>(y + p) + alpha * load<f32>(x + p));
  }
}

/**
 * Units [unitStart, unitEnd) (unit = row * nKvHeads + kvHead) of the attention backward: accumulate
 * into dq (rows * seqLen, nHeads, headDim), dk and dv (rows * seqLen, nKvHeads, headDim) from dOut
 * (as dq), q, k, v as the forward had them, lse (rows * seqLen, nHeads) float64 (-Infinity: a query
 * that sees no key, skipped) and mask (rows * seqLen) bytes, 1 = a real key.
 */
export function attention_backward(
  dq: usize, dk: usize, dv: usize, dOut: usize, q: usize, k: usize, v: usize, lse: usize, mask: usize,
  seqLen: u32, nHeads: u32, nKvHeads: u32, headDim: u32, unitStart: u32, unitEnd: u32, scratch: usize,
): void {
  const group = nHeads / nKvHeads;
  const scale64: f64 = 1.0 / Math.sqrt(<f64>headDim);
  const scale = <f32>scale64;
  const rowBytes = <usize>headDim << 2;
  const kvBytes = <usize>nKvHeads * rowBytes;
  const qBytes = <usize>nHeads * rowBytes;
  const probs = scratch;
  const dps = probs + ((<usize>(seqLen + 3) & ~3) << 2);
  const dqAcc = dps + ((<usize>(seqLen + 3) & ~3) << 2);
  for (let u = unitStart; u < unitEnd; u++) {
    const g = u % nKvHeads;
    const r0 = <usize>(u / nKvHeads) * seqLen;
    const kHead = unitHead(k, u, seqLen, nKvHeads, rowBytes), vHead = unitHead(v, u, seqLen, nKvHeads, rowBytes);
    const dkHead = unitHead(dk, u, seqLen, nKvHeads, rowBytes), dvHead = unitHead(dv, u, seqLen, nKvHeads, rowBytes);
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let t: u32 = 0; t < seqLen; t++) {
        const m = load<f64>(lse + (((r0 + t) * nHeads + h) << 3));
        if (m == -Infinity) continue;
        const qOff = (r0 + t) * qBytes + <usize>h * rowBytes;
        const qt = q + qOff, dot_ = dOut + qOff;
        let d: f64 = 0;
        for (let p: u32 = 0; p <= t; p++) {
          if (load<u8>(mask + r0 + p) == 0) continue;
          const kp = <usize>p * kvBytes;
          const pr = exp1(<f32>(<f64>dot(qt, kHead + kp, headDim) * scale64 - m));
          const dp = dot(dot_, vHead + kp, headDim);
          store<f32>(probs + (<usize>p << 2), pr);
          store<f32>(dps + (<usize>p << 2), dp);
          d += <f64>pr * <f64>dp;
        }
        memory.fill(dqAcc, 0, rowBytes);
        const df = <f32>d;
        for (let p: u32 = 0; p <= t; p++) {
          if (load<u8>(mask + r0 + p) == 0) continue;
          const kp = <usize>p * kvBytes;
          const pr = load<f32>(probs + (<usize>p << 2));
          const ds = pr * (load<f32>(dps + (<usize>p << 2)) - df) * scale;
          axpy(dqAcc, ds, kHead + kp, headDim);
          axpy(dkHead + kp, ds, qt, headDim);
          axpy(dvHead + kp, pr, dot_, headDim);
        }
        axpy(dq + qOff, 1, dqAcc, headDim);
      }
    }
  }
}
