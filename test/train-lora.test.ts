// LoRA on q_proj/v_proj (r 4, alpha 8, B nonzero so A moves from the first step) against PyTorch
// autograd (../shared/fixtures/train/lora-qv-*): loss0, the gradient of every A and B under PEFT's
// names, six AdamW steps (all adapter tensors decayed, the base frozen), the final A and B, the final
// loss and probe logits with the adapter applied. Also PEFT's initialisation.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import type { LoraModule } from "../src/model/lora.js";
import { RopeTable, ropeInverseFrequencies } from "../src/model/rope.js";
import { Rng } from "../src/tensor/rng.js";
import { AdamW, clipGradNorm } from "../src/train/adamw.js";
import { trainBackward } from "../src/train/backward.js";
import { trainForward, type TrainModelView } from "../src/train/forward.js";
import { initLoraAdapter, loraParams } from "../src/train/lora.js";
import { causalLmLoss } from "../src/train/loss.js";
import { zeroGrads } from "../src/train/params.js";
import { learningRate } from "../src/train/schedule.js";
import { fixturePath } from "./support/paths.js";
import { TRAIN_MODEL, type TrainFixture, fixtureAdapter, maxAbsDiff, readTrainFixture } from "./support/train-fixture.js";

async function setup(): Promise<{ fixture: TrainFixture; model: LlamaForCausalLM; view: TrainModelView }> {
  const fixture = readTrainFixture("lora-qv");
  const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", TRAIN_MODEL), { dtype: "float32" });
  const { config } = model;
  const rope = new RopeTable(ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling));
  return { fixture, model, view: { config, weights: model.weights, adapter: fixtureAdapter(fixture, config.nLayers), backend: model.backend, rope } };
}

test("LoRA q/v: loss0 and every A/B gradient equal PyTorch's within float32 noise", async () => {
  const { fixture, view } = await setup();
  const params = loraParams(view.config, view.adapter!);
  assert.deepEqual(params.params.map((p) => p.name), [...fixture.grads0.keys()]);
  const acts = trainForward(view, fixture.batch);
  const { loss } = causalLmLoss(acts.logits, fixture.batch, view.config.vocabSize, undefined, acts.logits);
  trainBackward(view, acts, acts.logits, params.grads);
  // As for full fine-tuning: 4x PyTorch's own float32-vs-float64 differences.
  assert.ok(Math.abs(loss - fixture.loss0) <= 4 * fixture.checks.loss0_f32_minus_f64, `loss ${loss}, golden ${fixture.loss0}`);
  for (const p of params.params) {
    const diff = maxAbsDiff(p.grad, fixture.grads0.get(p.name)!.data);
    assert.ok(diff <= 4 * fixture.checks.grad_max_abs_f32_minus_f64, `${p.name}: grads differ by ${diff}`);
  }
});

test("LoRA q/v: six AdamW steps, the final adapter, final loss and probe logits", async () => {
  const { fixture, model, view } = await setup();
  const s = fixture.settings;
  const baseBefore = Float32Array.from((model.weights.layers[0]!.attnQ as { data: Float32Array }).data);
  const params = loraParams(view.config, view.adapter!);
  const optimizer = new AdamW(params.params, { betas: s.betas, eps: s.eps, weightDecay: s.weight_decay });
  const vocab = view.config.vocabSize;
  // Tolerances as in train-steps.test.ts: steps 0 and 1 before any move, then twice PyTorch's own
  // relative final-loss drift; final tensors, loss and logits at 4x its own drift.
  const drift = 2 * (fixture.checks.final_loss_f32_minus_f64 / fixture.finalLoss);
  for (const [i, golden] of fixture.steps.entries()) {
    zeroGrads(params);
    const acts = trainForward(view, fixture.batch);
    const { loss } = causalLmLoss(acts.logits, fixture.batch, vocab, undefined, acts.logits);
    trainBackward(view, acts, acts.logits, params.grads);
    const gradNorm = clipGradNorm(params.params, s.max_grad_norm);
    const lr = learningRate(i, { scheduler: "linear", baseLr: s.lr, warmupSteps: s.warmup_steps, totalSteps: s.steps });
    const relative = i < 2 ? 1e-6 : drift;
    assert.ok(Math.abs(lr - golden.lr) <= 1e-15, `step ${i}: lr ${lr}`);
    assert.ok(Math.abs(loss - golden.loss) <= relative * golden.loss, `step ${i}: loss ${loss}, golden ${golden.loss}`);
    assert.ok(Math.abs(gradNorm - golden.grad_norm) <= relative * golden.grad_norm, `step ${i}: grad norm ${gradNorm}, golden ${golden.grad_norm}`);
    optimizer.update(lr);
  }
  for (const p of params.params) {
    const diff = maxAbsDiff(p.data, fixture.final.get(p.name)!.data);
    assert.ok(diff <= 4 * fixture.checks.final_param_max_abs_f32_minus_f64, `${p.name}: final values differ by ${diff}`);
  }
  const finalLoss = causalLmLoss(trainForward(view, fixture.batch).logits, fixture.batch, vocab).loss;
  assert.ok(Math.abs(finalLoss - fixture.finalLoss) <= 4 * fixture.checks.final_loss_f32_minus_f64, `final loss ${finalLoss}, golden ${fixture.finalLoss}`);
  const n = fixture.probeIds.length;
  const probe = { rows: 1, seqLen: n, inputIds: Int32Array.from(fixture.probeIds), attentionMask: new Uint8Array(n).fill(1), labels: Int32Array.from(fixture.probeIds) };
  const last = trainForward(view, probe).logits.subarray((n - 1) * vocab, n * vocab);
  const probeDiff = maxAbsDiff(last, fixture.probeLogitsLast);
  assert.ok(probeDiff <= 4 * fixture.checks.probe_logits_max_abs_f32_minus_f64, `probe logits differ by ${probeDiff}`);
  // The base is frozen: not one bit of it moved.
  assert.deepEqual((model.weights.layers[0]!.attnQ as { data: Float32Array }).data, baseBefore);
});

test("PEFT's init: A uniform in +-1/sqrt(in), B zero, so the adapted model is the base model bit for bit", async () => {
  const { fixture, view } = await setup();
  const adapter = initLoraAdapter(view.config, { rank: 4, alpha: 8, targetModules: "all-linear", rng: new Rng(3) });
  assert.equal(adapter.scale, 2);
  const down = adapter.layers[1]!.down_proj!;
  assert.deepEqual([down.outFeatures, down.inFeatures, down.a.length, down.b.length], [64, 256, 4 * 256, 64 * 4]);
  const bound = 1 / Math.sqrt(256);
  assert.ok(down.a.every((x) => Math.abs(x) <= bound) && down.a.some((x) => Math.abs(x) > 0.9 * bound));
  assert.ok(down.b.every((x) => x === 0));
  const base = trainForward({ ...view, adapter: undefined }, fixture.batch).logits;
  assert.deepEqual(trainForward({ ...view, adapter }, fixture.batch).logits, base);
  assert.throws(() => initLoraAdapter(view.config, { targetModules: ["q_proj", "w_proj" as LoraModule], rng: new Rng(1) }), /unknown LoRA target module/);
  assert.throws(() => loraParams(view.config, { ...adapter, layers: adapter.layers.slice(1) }), /layers/);
});

test("LoRA dropout: the gradients of A and B are those of the loss under the same dropout mask", async () => {
  const { fixture, view: base } = await setup();
  const view = { ...base, loraDropout: 0.5 };
  const params = loraParams(view.config, view.adapter!);
  const vocab = view.config.vocabSize;
  const lossOf = (): number => causalLmLoss(trainForward(view, fixture.batch, { rng: new Rng(9) }).logits, fixture.batch, vocab).loss;
  const acts = trainForward(view, fixture.batch, { rng: new Rng(9) });
  const { loss } = causalLmLoss(acts.logits, fixture.batch, vocab, undefined, acts.logits);
  assert.notEqual(loss, fixture.loss0); // the mask changes the loss
  trainBackward(view, acts, acts.logits, params.grads);
  // Central differences of the float32 forward (loss 10, rounding noise about 1e-6) with h = 1e-2:
  // noise 1e-4 and truncation h^2 |f'''| below 1e-3 on gradients of order 0.1 to 1; a missing
  // 1 / (1 - p) would be off by 2x.
  const h = 1e-2;
  let checked = 0;
  for (const p of [params.params[0]!, params.params[3]!]) {
    let scale = 0;
    p.grad.forEach((g) => (scale = Math.max(scale, Math.abs(g))));
    for (let i = 0; i < p.data.length; i += Math.floor(p.data.length / 5)) {
      const saved = p.data[i]!;
      p.data[i] = saved + h;
      const up = lossOf();
      p.data[i] = saved - h;
      const down = lossOf();
      p.data[i] = saved;
      const numeric = (up - down) / (2 * h);
      assert.ok(Math.abs(numeric - p.grad[i]!) <= 0.01 * scale, `${p.name}[${i}]: analytic ${p.grad[i]}, numeric ${numeric}`);
      checked++;
    }
  }
  assert.ok(checked >= 10);
  assert.throws(() => trainForward(view, fixture.batch), /rng/);
});
