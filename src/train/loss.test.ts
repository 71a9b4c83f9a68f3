// ForCausalLMLoss: a hand-computed case, the shift and IGNORE_INDEX, the gradient against float64
// finite differences, and bad labels.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError } from "../errors.js";
import { Rng } from "../tensor/rng.js";
import { IGNORE_INDEX, type TrainBatch } from "./batch.js";
import { causalLmLoss, countLabelTokens } from "./loss.js";

function batchOf(labels: number[][]): TrainBatch {
  const rows = labels.length;
  const seqLen = labels[0]!.length;
  return { rows, seqLen, inputIds: new Int32Array(rows * seqLen), attentionMask: new Uint8Array(rows * seqLen).fill(1), labels: Int32Array.from(labels.flat()) };
}

test("labels shift left by one; the first label and IGNORE_INDEX are never scored", () => {
  // Vocabulary 2, logits [0, 0] everywhere: every scored label costs ln 2.
  const batch = batchOf([[1, 0, IGNORE_INDEX, 1]]);
  const logits = new Float32Array(4 * 2);
  const { loss, lossSum, nLabelTokens } = causalLmLoss(logits, batch, 2);
  assert.equal(nLabelTokens, 2); // labels[1] and labels[3]
  assert.equal(countLabelTokens(batch), 2);
  assert.ok(Math.abs(lossSum - 2 * Math.LN2) < 1e-15);
  assert.ok(Math.abs(loss - Math.LN2) < 1e-15);
  // Position 0 is scored against labels[1] = 0: logits favouring 0 there lower the loss.
  logits[0] = 5;
  assert.ok(causalLmLoss(logits, batch, 2).loss < loss);
});

test("d loss / d logits against float64 finite differences, with an outside normalizer", () => {
  const rng = new Rng(7);
  const vocab = 5;
  const batch = batchOf([[IGNORE_INDEX, 3, 1, IGNORE_INDEX], [2, 4, 0, 1]]);
  const logits = new Float32Array(8 * vocab).map(() => rng.normal() * 2);
  const d = new Float32Array(logits.length);
  const normalizer = 9;
  causalLmLoss(logits, batch, vocab, normalizer, d);
  const x = Float64Array.from(logits);
  const lossOf = (v: Float64Array): number => causalLmLoss(Float32Array.from(v), batch, vocab, normalizer).loss;
  // Float32 logits perturbed by h = 1e-2 (exact in float32 for these magnitudes to ~1e-9): truncation
  // h^2 |f'''| / 6 is below 1e-5 for softmax terms of a loss divided by 9.
  const h = 1e-2;
  for (let i = 0; i < x.length; i++) {
    const s = x[i]!;
    x[i] = s + h; const up = lossOf(x);
    x[i] = s - h; const down = lossOf(x);
    x[i] = s;
    assert.ok(Math.abs((up - down) / (2 * h) - d[i]!) < 2e-5, `d[${i}] = ${d[i]}, numeric ${(up - down) / (2 * h)}`);
  }
  // Unscored positions (the last of each row, and row 0's position 2 whose next label is ignored) get 0.
  for (const position of [2, 3, 7]) assert.deepEqual(Array.from(d.subarray(position * vocab, (position + 1) * vocab)), [0, 0, 0, 0, 0]);
});

test("a label outside the vocabulary or a batch with no label is an ArgumentError", () => {
  assert.throws(() => causalLmLoss(new Float32Array(4), batchOf([[0, 7]]), 2), ArgumentError);
  assert.throws(() => causalLmLoss(new Float32Array(4), batchOf([[0, IGNORE_INDEX]]), 2), /normalizer/);
});
