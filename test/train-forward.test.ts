// The training forward and loss against PyTorch (../shared/fixtures/train: loss0 of the tiny bf16
// model on a right-padded batch with prompt labels), and against our own inference forward: the
// same logits on every real token of every row.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { RopeTable, ropeInverseFrequencies } from "../src/model/rope.js";
import { trainForward, type TrainModelView } from "../src/train/forward.js";
import { causalLmLoss, countLabelTokens } from "../src/train/loss.js";
import { fixturePath } from "./support/paths.js";
import { TRAIN_MODEL, readTrainFixture } from "./support/train-fixture.js";

async function loadView(): Promise<{ model: LlamaForCausalLM; view: TrainModelView }> {
  const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", TRAIN_MODEL), { dtype: "float32" });
  const { config } = model;
  const rope = new RopeTable(ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling));
  return { model, view: { config, weights: model.weights, backend: model.backend, rope } };
}

test("training forward + ForCausalLMLoss equal PyTorch's loss0 within float32 noise", async () => {
  const fixture = readTrainFixture("full");
  const { view } = await loadView();
  const acts = trainForward(view, fixture.batch);
  const { loss, nLabelTokens } = causalLmLoss(acts.logits, fixture.batch, view.config.vocabSize);
  // Labels shifted left: row 0 scores 11 positions, row 1 positions 2..6 (labels 3..7).
  assert.equal(nLabelTokens, 11 + 5);
  assert.equal(countLabelTokens(fixture.batch), nLabelTokens);
  // PyTorch's own float32 run is loss0_f32_minus_f64 (1.5e-6) from its float64 run; two float32
  // implementations rounding differently may each be that far: allow 4x.
  const tolerance = 4 * fixture.checks.loss0_f32_minus_f64;
  assert.ok(Math.abs(loss - fixture.loss0) <= tolerance, `loss ${loss}, PyTorch float64 ${fixture.loss0}, tolerance ${tolerance}`);
});

test("the training forward gives the inference forward's logits on every real token", async () => {
  const fixture = readTrainFixture("full");
  const { model, view } = await loadView();
  const { batch } = fixture;
  const acts = trainForward(view, batch);
  const vocab = view.config.vocabSize;
  for (let r = 0; r < batch.rows; r++) {
    const mask = batch.attentionMask.subarray(r * batch.seqLen, (r + 1) * batch.seqLen);
    const length = mask.indexOf(0) === -1 ? batch.seqLen : mask.indexOf(0);
    const ids = Array.from(batch.inputIds.subarray(r * batch.seqLen, r * batch.seqLen + length));
    const expected = await model.forward(ids, model.createKvCache(), { allLogits: true });
    const got = acts.logits.subarray(r * batch.seqLen * vocab, (r * batch.seqLen + length) * vocab);
    // The same kernels in the same order on the same float32 values: bit for bit.
    assert.deepEqual(got, expected, `row ${r}`);
  }
});

test("a padded key changes nothing for the real tokens, whatever id the padding holds", async () => {
  const fixture = readTrainFixture("full");
  const { view } = await loadView();
  const { batch } = fixture;
  const other = { ...batch, inputIds: batch.inputIds.map((id, i) => (batch.attentionMask[i] === 0 ? (id + 17) % view.config.vocabSize : id)) };
  assert.notDeepEqual(other.inputIds, batch.inputIds);
  const a = causalLmLoss(trainForward(view, batch).logits, batch, view.config.vocabSize);
  const b = causalLmLoss(trainForward(view, other).logits, other, view.config.vocabSize);
  assert.equal(a.loss, b.loss);
});
