// The backward pass against PyTorch autograd (../shared/fixtures/train/full-*: the gradient of every
// tensor of the tiny bf16 model, loaded as float32, on a right-padded batch with prompt labels), and
// gradient accumulation: k micro-batches normalised by the label tokens of the whole batch give the
// full batch's loss and gradients.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { RopeTable, ropeInverseFrequencies } from "../src/model/rope.js";
import { trainBackward } from "../src/train/backward.js";
import type { TrainBatch } from "../src/train/batch.js";
import { type TrainModelView, trainForward } from "../src/train/forward.js";
import { causalLmLoss, countLabelTokens } from "../src/train/loss.js";
import { type TrainableParams, fullParams, zeroGrads } from "../src/train/params.js";
import { fixturePath } from "./support/paths.js";
import { TRAIN_MODEL, maxAbsDiff, readTrainFixture } from "./support/train-fixture.js";

async function setup(): Promise<{ view: TrainModelView; params: TrainableParams }> {
  const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", TRAIN_MODEL), { dtype: "float32" });
  const { config } = model;
  const rope = new RopeTable(ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling));
  return { view: { config, weights: model.weights, backend: model.backend, rope }, params: fullParams(model.weights) };
}

function lossAndGrads(view: TrainModelView, params: TrainableParams, batch: TrainBatch, normalizer?: number): number {
  const acts = trainForward(view, batch);
  const { loss } = causalLmLoss(acts.logits, batch, view.config.vocabSize, normalizer, acts.logits);
  trainBackward(view, acts, acts.logits, params.grads);
  return loss;
}

test("every gradient equals PyTorch autograd's grads0 within float32 noise", async () => {
  const fixture = readTrainFixture("full");
  const { view, params } = await setup();
  lossAndGrads(view, params, fixture.batch);
  assert.equal(params.params.length, fixture.grads0.size);
  // PyTorch's float32 gradients are within grad_max_abs_f32_minus_f64 (5.2e-6, of gradients up to
  // 2.2) of its float64 ones; ours round differently (float64 sums, float32 storage): allow 4x.
  const tolerance = 4 * fixture.checks.grad_max_abs_f32_minus_f64;
  let worst = 0;
  for (const p of params.params) {
    const expected = fixture.grads0.get(p.name);
    assert.ok(expected !== undefined, `${p.name} has no golden gradient`);
    assert.deepEqual(p.shape, expected.shape, p.name);
    const diff = maxAbsDiff(p.grad, expected.data);
    worst = Math.max(worst, diff);
    assert.ok(diff <= tolerance, `${p.name}: max |grad - golden| ${diff} > ${tolerance}`);
  }
  assert.ok(worst > 0, "gradients bit-equal to float64 values would mean the test compares nothing");
});

test("gradient accumulation: two micro-batches (normalised by the whole batch's labels) equal the full batch", async () => {
  const fixture = readTrainFixture("full");
  const { batch } = fixture;
  const { view, params } = await setup();
  const full = lossAndGrads(view, params, batch);
  const fullGrads = params.params.map((p) => Float32Array.from(p.grad));
  zeroGrads(params);
  const row = (r: number): TrainBatch => ({
    rows: 1, seqLen: batch.seqLen,
    inputIds: batch.inputIds.slice(r * batch.seqLen, (r + 1) * batch.seqLen),
    attentionMask: batch.attentionMask.slice(r * batch.seqLen, (r + 1) * batch.seqLen),
    labels: batch.labels.slice(r * batch.seqLen, (r + 1) * batch.seqLen),
  });
  const micro = [row(0), row(1)];
  const total = micro.reduce((sum, b) => sum + countLabelTokens(b), 0);
  assert.equal(total, countLabelTokens(batch));
  // The rows score 11 and 5 labels: a per-micro-batch mean would weigh row 1's labels 11/5 times more.
  const accumulated = micro.reduce((sum, b) => sum + lossAndGrads(view, params, b, total), 0);
  // Only the order of float64 sums differs, and each gradient is stored as float32 once per
  // micro-batch instead of once: a few float32 ulps of the largest gradient (2.2).
  assert.ok(Math.abs(accumulated - full) < 1e-12, `accumulated loss ${accumulated}, full ${full}`);
  params.params.forEach((p, i) => {
    const diff = maxAbsDiff(p.grad, fullGrads[i]!);
    assert.ok(diff <= 1e-6, `${p.name}: accumulated vs full batch differ by ${diff}`);
  });
});
