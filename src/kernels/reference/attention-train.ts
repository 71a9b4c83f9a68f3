// Reference kernels for attention in training: causal grouped-query attention over a right-padded
// batch with a key mask (transformers' LlamaAttention with its 4D causal + padding mask, eager path),
// forward keeping each query's log-sum-exp, and its backward recomputing the probabilities from it
// (as FlashAttention-2's backward does, Dao 2023, Algorithm 2) instead of storing (T x T) scores.
// The forward's arithmetic is the inference kernel's (attention.ts) operation for operation, so on
// real tokens it gives the same numbers. A query with no visible key (a padded row of only padding)
// gets zeros and no gradient, where eager PyTorch would give NaN in a position no loss reads.

/** The shape of a training batch for attention. */
export interface TrainAttentionShape {
  /** sequences in the batch */
  readonly rows: number;
  /** tokens per sequence (positions 0 .. seqLen-1) */
  readonly seqLen: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
}

/** Visible keys of query t in row b: p <= t with mask[b, p] = 1. */
function visible(mask: Uint8Array, rowOffset: number, t: number, p: number): boolean {
  return p <= t && mask[rowOffset + p] !== 0;
}

/**
 * out = softmax(q k^T / sqrt(headDim) + mask) v per row and head; lse = the log-sum-exp of each
 * query's scaled scores (natural log), for the backward.
 * @param out (rows * seqLen, nHeads, headDim)
 * @param lse (rows * seqLen, nHeads); -Infinity for a query that sees no key
 * @param q (rows * seqLen, nHeads, headDim), rotated
 * @param k (rows * seqLen, nKvHeads, headDim), rotated
 * @param v (rows * seqLen, nKvHeads, headDim)
 * @param mask (rows * seqLen) 1 = a real key, 0 = padding
 */
export function attentionForwardMasked(
  out: Float32Array, lse: Float64Array, q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array, shape: TrainAttentionShape,
): void {
  const { rows, seqLen, nHeads, nKvHeads, headDim } = shape;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float64Array(seqLen); // (seqLen) one query's scores
  for (let b = 0; b < rows; b++) {
    const r0 = b * seqLen;
    for (let t = 0; t < seqLen; t++) {
      for (let h = 0; h < nHeads; h++) {
        const qOffset = ((r0 + t) * nHeads + h) * headDim;
        const kvOffset = Math.floor(h / group) * headDim;
        let max = -Infinity;
        for (let p = 0; p <= t; p++) {
          if (!visible(mask, r0, t, p)) continue;
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += q[qOffset + i]! * k[(r0 + p) * kvDim + kvOffset + i]!;
          scores[p] = Math.fround(dot) * scale;
          if (scores[p]! > max) max = scores[p]!;
        }
        if (max === -Infinity) {
          out.fill(0, qOffset, qOffset + headDim);
          lse[(r0 + t) * nHeads + h] = -Infinity;
          continue;
        }
        let sum = 0;
        for (let p = 0; p <= t; p++) {
          if (!visible(mask, r0, t, p)) continue;
          scores[p] = Math.exp(scores[p]! - max);
          sum += scores[p]!;
        }
        for (let i = 0; i < headDim; i++) {
          let acc = 0;
          for (let p = 0; p <= t; p++) if (visible(mask, r0, t, p)) acc += scores[p]! * v[(r0 + p) * kvDim + kvOffset + i]!;
          out[qOffset + i] = acc / sum;
        }
        lse[(r0 + t) * nHeads + h] = max + Math.log(sum);
      }
    }
  }
}

/**
 * The gradients of attentionForwardMasked: with P = exp(s - lse), dP = dOut v^T, dS = P (dP - D)
 * where D = sum_p P dP (= dOut . out), dq += dS k / sqrt(headDim), dk += dS^T q / sqrt(headDim),
 * dv += P^T dOut; a key head's gradients sum over the query heads of its group (repeat_kv).
 * Accumulates into dq, dk, dv (they are not cleared).
 * @param dq (rows * seqLen, nHeads, headDim)
 * @param dk (rows * seqLen, nKvHeads, headDim)
 * @param dv (rows * seqLen, nKvHeads, headDim)
 * @param dOut (rows * seqLen, nHeads, headDim)
 * @param q, k, v, mask, lse as given to and returned by the forward
 */
export function attentionBackwardMasked(
  dq: Float32Array, dk: Float32Array, dv: Float32Array, dOut: Float32Array,
  q: Float32Array, k: Float32Array, v: Float32Array, lse: Float64Array, mask: Uint8Array, shape: TrainAttentionShape,
): void {
  const { rows, seqLen, nHeads, nKvHeads, headDim } = shape;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const probs = new Float64Array(seqLen); // (seqLen) P of one query
  const dScores = new Float64Array(seqLen); // (seqLen) dS of one query
  const dqAcc = new Float64Array(headDim); // (headDim) one query's dq
  const dkAcc = new Float64Array(rows * seqLen * kvDim); // (rows * seqLen, kvDim) float64 sums
  const dvAcc = new Float64Array(rows * seqLen * kvDim); // (rows * seqLen, kvDim)
  for (let b = 0; b < rows; b++) {
    const r0 = b * seqLen;
    for (let t = 0; t < seqLen; t++) {
      for (let h = 0; h < nHeads; h++) {
        const m = lse[(r0 + t) * nHeads + h]!;
        if (m === -Infinity) continue;
        const qOffset = ((r0 + t) * nHeads + h) * headDim;
        const kvOffset = Math.floor(h / group) * headDim;
        let d = 0;
        for (let p = 0; p <= t; p++) {
          if (!visible(mask, r0, t, p)) continue;
          const kOffset = (r0 + p) * kvDim + kvOffset;
          let dot = 0;
          let dP = 0;
          for (let i = 0; i < headDim; i++) {
            dot += q[qOffset + i]! * k[kOffset + i]!;
            dP += dOut[qOffset + i]! * v[kOffset + i]!;
          }
          probs[p] = Math.exp(Math.fround(dot) * scale - m);
          dScores[p] = dP;
          d += probs[p]! * dP;
        }
        dqAcc.fill(0);
        for (let p = 0; p <= t; p++) {
          if (!visible(mask, r0, t, p)) continue;
          const kOffset = (r0 + p) * kvDim + kvOffset;
          const ds = probs[p]! * (dScores[p]! - d) * scale;
          const pr = probs[p]!;
          for (let i = 0; i < headDim; i++) {
            dqAcc[i] = dqAcc[i]! + ds * k[kOffset + i]!;
            dkAcc[kOffset + i] = dkAcc[kOffset + i]! + ds * q[qOffset + i]!;
            dvAcc[kOffset + i] = dvAcc[kOffset + i]! + pr * dOut[qOffset + i]!;
          }
        }
        for (let i = 0; i < headDim; i++) dq[qOffset + i] = dq[qOffset + i]! + dqAcc[i]!;
      }
    }
  }
  for (let i = 0; i < dkAcc.length; i++) {
    dk[i] = dk[i]! + dkAcc[i]!;
    dv[i] = dv[i]! + dvAcc[i]!;
  }
}
