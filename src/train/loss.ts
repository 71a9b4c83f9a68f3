// The causal language-modelling loss and its gradient with respect to the logits, as transformers'
// ForCausalLMLoss (loss/loss_utils.py): labels shifted left by one within each row (position t is
// scored against labels[t + 1]; the last position against nothing), cross-entropy summed over the
// labels that are not IGNORE_INDEX, divided by a normaliser: the number of scored labels of the batch
// (reduction "mean"), or, with gradient accumulation, of the whole accumulated batch
// (num_items_in_batch), so k micro-batches add up to the full batch's loss and gradient.
// Log-sum-exp and sums in float64 (transformers upcasts logits to float32; wider is closer to its
// float64 goldens), gradients stored as float32.

import { ArgumentError } from "../errors.js";
import { IGNORE_INDEX, type TrainBatch } from "./batch.js";

/** The number of labels a batch scores: positions t < seqLen - 1 whose labels[t + 1] is not IGNORE_INDEX. */
export function countLabelTokens(batch: TrainBatch): number {
  let count = 0;
  for (let r = 0; r < batch.rows; r++) {
    for (let t = 1; t < batch.seqLen; t++) if (batch.labels[r * batch.seqLen + t] !== IGNORE_INDEX) count++;
  }
  return count;
}

/** @throws ArgumentError for a label that is neither IGNORE_INDEX nor an id in [0, vocabSize) */
export function checkLabels(batch: TrainBatch, vocabSize: number): void {
  batch.labels.forEach((label, i) => {
    if (label !== IGNORE_INDEX && (label < 0 || label >= vocabSize)) {
      throw new ArgumentError(`batch row ${Math.floor(i / batch.seqLen)}, position ${i % batch.seqLen}: label ${label} is neither ${IGNORE_INDEX} nor an id in [0, ${vocabSize})`);
    }
  });
}

export interface CausalLmLoss {
  /** sum of the cross-entropies / normalizer */
  readonly loss: number;
  /** sum of the cross-entropies of this batch's scored labels */
  readonly lossSum: number;
  /** labels this batch scored */
  readonly nLabelTokens: number;
}

/**
 * ForCausalLMLoss of `logits` against the batch's labels, and optionally d loss / d logits.
 * @param logits (rows * seqLen, vocabSize)
 * @param normalizer what the summed loss is divided by: countLabelTokens of this batch (default), or
 *   of the whole accumulated batch
 * @param dLogits (rows * seqLen, vocabSize) receives (softmax - onehot) / normalizer at scored
 *   positions and 0 elsewhere; may be `logits` itself (overwritten row by row)
 * @throws ArgumentError for bad labels or a normalizer that is not positive
 */
export function causalLmLoss(logits: Float32Array, batch: TrainBatch, vocabSize: number, normalizer?: number, dLogits?: Float32Array): CausalLmLoss {
  checkLabels(batch, vocabSize);
  const nLabelTokens = countLabelTokens(batch);
  const norm = normalizer ?? nLabelTokens;
  if (!(norm > 0)) throw new ArgumentError(`the loss normalizer (label tokens) must be positive; got ${norm}`);
  const { rows, seqLen } = batch;
  let lossSum = 0;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < seqLen; t++) {
      const row = (r * seqLen + t) * vocabSize;
      const label = t + 1 < seqLen ? batch.labels[r * seqLen + t + 1]! : IGNORE_INDEX;
      if (label === IGNORE_INDEX) {
        dLogits?.fill(0, row, row + vocabSize);
        continue;
      }
      let max = -Infinity;
      for (let j = 0; j < vocabSize; j++) if (logits[row + j]! > max) max = logits[row + j]!;
      let sum = 0;
      for (let j = 0; j < vocabSize; j++) sum += Math.exp(logits[row + j]! - max);
      const lse = max + Math.log(sum);
      lossSum += lse - logits[row + label]!;
      if (dLogits === undefined) continue;
      for (let j = 0; j < vocabSize; j++) {
        const p = Math.exp(logits[row + j]! - lse);
        dLogits[row + j] = (j === label ? p - 1 : p) / norm;
      }
    }
  }
  return { loss: lossSum / norm, lossSum, nLabelTokens };
}
