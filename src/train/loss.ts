// The causal language-modelling loss and its gradient with respect to the logits, as transformers'
// ForCausalLMLoss (loss/loss_utils.py): labels shifted left by one within each row (position t is
// scored against labels[t + 1]; the last position against nothing), cross-entropy summed over the
// labels that are not IGNORE_INDEX, divided by a normaliser: the number of scored labels of the batch
// (reduction "mean"), or, with gradient accumulation, of the whole accumulated batch
// (num_items_in_batch), so k micro-batches add up to the full batch's loss and gradient.
// The rows' cross-entropy and its gradient are kernels/reference/cross-entropy.ts (log-sum-exp and
// sums in float64, gradients stored as float32), run on a TrainingBackend (the WebAssembly one has a
// SIMD twin); the batch's loss sums the rows' losses here in float64, in order.

import { type TrainingBackend, referenceTrainingBackend } from "../backend/training-backend.js";
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
 * @param backend runs the rows' cross-entropy (kernels/reference/cross-entropy.ts or a twin); the
 *   reference training backend by default
 * @throws ArgumentError for bad labels or a normalizer that is not positive
 */
export function causalLmLoss(logits: Float32Array, batch: TrainBatch, vocabSize: number, normalizer?: number, dLogits?: Float32Array, backend?: TrainingBackend): CausalLmLoss {
  checkLabels(batch, vocabSize);
  const nLabelTokens = countLabelTokens(batch);
  const norm = normalizer ?? nLabelTokens;
  if (!(norm > 0)) throw new ArgumentError(`the loss normalizer (label tokens) must be positive; got ${norm}`);
  const { rows, seqLen } = batch;
  const targets = new Int32Array(rows * seqLen); // (rows * seqLen) labels shifted left by one; -1: not scored
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < seqLen; t++) {
      const label = t + 1 < seqLen ? batch.labels[r * seqLen + t + 1]! : IGNORE_INDEX;
      targets[r * seqLen + t] = label === IGNORE_INDEX ? -1 : label;
    }
  }
  const losses = new Float64Array(rows * seqLen); // (rows * seqLen) each position's cross-entropy
  (backend ?? referenceTrainingBackend).crossEntropy(losses, dLogits, logits, targets, vocabSize, norm);
  let lossSum = 0;
  for (let i = 0; i < losses.length; i++) if (targets[i]! >= 0) lossSum += losses[i]!;
  return { loss: lossSum / norm, lossSum, nLabelTokens };
}
