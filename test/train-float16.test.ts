// float16 training with dynamic loss scaling (train/grad-scaler.ts, torch's GradScaler): a float16
// backward without scaling underflows a small-gradient batch's activation gradients to zero where
// the scaled one keeps them (and bf16 needs no scaling: float32's exponent range); a batch whose
// scaled gradient overflows is skipped with the scale halved, and the run goes on with finite
// weights and a falling loss; the scaler's growth and backoff; float16 without a scaler refused.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError, NumericalError, UnsupportedError } from "../src/errors.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import type { TrainBatch } from "../src/train/batch.js";
import { GradScaler, roundToF16InPlace } from "../src/train/grad-scaler.js";
import { fullParams, zeroGrads } from "../src/train/params.js";
import { Trainer, lossAndGradients } from "../src/train/trainer.js";
import { fixturePath } from "./support/paths.js";
import { TRAIN_MODEL, readTrainFixture } from "./support/train-fixture.js";

const load = (dtype: "float32" | "bfloat16" | "float16"): Promise<LlamaForCausalLM> => LlamaForCausalLM.fromPretrained(fixturePath("hf", TRAIN_MODEL), { dtype });

/** Layer 0's q_proj gradient of `batch`, unscaled (the deepest: every activation gradient led to it). */
async function layer0Grad(dtype: "float32" | "bfloat16" | "float16", batch: TrainBatch, normalizer: number, lossScale: number): Promise<Float32Array> {
  const model = await load(dtype);
  const trainer = new Trainer(model, { maxSteps: 1 });
  const params = fullParams(model.weights);
  zeroGrads(params);
  lossAndGradients(trainer.view, batch, params.grads, { normalizer, lossScale, float16Grads: dtype === "float16" });
  return params.grads.layers[0]!.attnQ!.map((v) => v / lossScale);
}

function relativeError(got: Float32Array, want: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

test("float16 without scaling underflows small gradients to zero; the scaler keeps them; bf16 needs none", async () => {
  const { batch } = readTrainFixture("full");
  // A loss normalised by 2^28 label tokens (a huge accumulated batch): d loss / d logits is at most
  // 2^-28 (about 4e-9), under half float16's smallest subnormal (2^-25), so it rounds to zero.
  const normalizer = 2 ** 28;
  const f32 = await layer0Grad("float32", batch, normalizer, 1);
  assert.ok(f32.every((v) => Number.isFinite(v)) && f32.some((v) => v !== 0));
  const unscaled = await layer0Grad("float16", batch, normalizer, 1);
  assert.ok(unscaled.every((v) => v === 0), "float16 without scaling: every layer-0 gradient underflowed to zero");
  // Scaled by GradScaler's initial 2^16 the gradients are in float16's normal range: what remains is
  // float16 rounding of the weights and of each activation gradient (2^-11 relative each, over ~20
  // roundings and the weights' own rounding; measured 7e-4): 1e-2 is a loose bound that a lost or
  // underflowed gradient (relative error 1) cannot meet.
  const scaled = await layer0Grad("float16", batch, normalizer, 2 ** 16);
  assert.ok(relativeError(scaled, f32) < 1e-2, `scaled float16 vs float32: ${relativeError(scaled, f32)}`);
  // bf16 (weights rounded to bf16, gradients in float32's range) unscaled: the fixture's weights are
  // bf16 already, so the gradients are the float32 ones to float32 noise.
  const bf16 = await layer0Grad("bfloat16", batch, normalizer, 1);
  assert.ok(relativeError(bf16, f32) < 1e-5, `bf16 vs float32: ${relativeError(bf16, f32)}`);
});

test("an overflowing float16 step is skipped with the scale halved; training goes on with finite weights", async () => {
  const { batch } = readTrainFixture("full");
  // One label: d loss / d logits at the label is p - 1, about -1, times 2^16 is past float16's 65504.
  const one: TrainBatch = { ...batch, labels: batch.labels.map((l, i) => (i === 5 ? l : -100)) };
  const model = await load("float16");
  assert.equal(model.weights.layers[0]!.attnQ.dtype, "f16");
  const trainer = new Trainer(model, { maxSteps: 12, learningRate: 1e-3 });
  const before = Uint16Array.from(model.weights.layers[0]!.attnQ.data as Uint16Array);
  const first = trainer.step([one]);
  assert.deepEqual([first.step, first.skipped, first.lossScale, first.gradNorm], [1, true, 2 ** 16, Infinity]);
  assert.deepEqual(model.weights.layers[0]!.attnQ.data, before, "a skipped step leaves the weights");
  assert.equal(trainer.optimizer.step, 0);
  const events = [first];
  for (let s = 1; s < 12; s++) events.push(trainer.step([one]));
  const skipped = events.filter((e) => e.skipped);
  // Each skip halves the scale; the first clean step runs at the scale that fits, and stays there.
  skipped.forEach((e, i) => assert.equal(e.lossScale, 2 ** (16 - i)));
  const clean = events.filter((e) => !e.skipped);
  assert.ok(clean.length >= 4, `${clean.length} clean steps`);
  assert.equal(trainer.optimizer.step, clean.length);
  assert.ok(clean.every((e) => e.lossScale === 2 ** (16 - skipped.length) && Number.isFinite(e.gradNorm)));
  assert.deepEqual(events.map((e) => e.step), Array.from({ length: 12 }, (_, i) => i + 1));
  // The schedule advances with the updates only (linear decay over 12 steps from 1e-3).
  clean.forEach((e, i) => assert.ok(Math.abs(e.lr - 1e-3 * (1 - i / 12)) < 1e-15, `lr ${e.lr}`));
  assert.ok(clean.at(-1)!.loss < clean[0]!.loss / 10, `loss ${clean[0]!.loss} -> ${clean.at(-1)!.loss}`);
  for (const p of trainer.params.params) assert.ok(p.data.every((v) => Number.isFinite(v)), `${p.name} finite`);
  assert.ok((model.weights.layers[0]!.attnQ.data as Uint16Array).some((b, i) => b !== before[i]), "the float16 weights were updated");
  // State round trip: a resumed trainer continues with the same scale and step.
  const state = trainer.state();
  assert.deepEqual(state.gradScaler, { scale: 2 ** (16 - skipped.length), growthTracker: clean.length });
  assert.equal(state.step, 12);
});

test("GradScaler: halves on overflow, doubles after growthInterval clean steps, unscale finds inf and NaN", () => {
  const scaler = new GradScaler({ growthInterval: 3 });
  assert.equal(scaler.scale, 65536);
  scaler.update(true);
  assert.equal(scaler.scale, 32768);
  scaler.update(false);
  scaler.update(false);
  assert.equal(scaler.scale, 32768);
  scaler.update(true); // an overflow resets the count of clean steps
  scaler.update(false);
  scaler.update(false);
  assert.equal(scaler.scale, 16384);
  scaler.update(false);
  assert.deepEqual(scaler.state(), { scale: 32768, growthTracker: 0 });
  const param = (values: number[]) => ({ name: "w", shape: [values.length], data: new Float32Array(values.length), grad: Float32Array.from(values), decay: true });
  const finite = param([32768, -16384]);
  assert.equal(scaler.unscale([finite]), false);
  assert.deepEqual([...finite.grad], [1, -0.5]);
  assert.equal(scaler.unscale([param([1, Infinity])]), true);
  assert.equal(scaler.unscale([param([Number.NaN, 1])]), true);
  assert.throws(() => new GradScaler({ backoffFactor: 1 }), ArgumentError);
  assert.throws(() => scaler.loadState({ scale: 0, growthTracker: 0 }), ArgumentError);
  const values = Float32Array.from([65504, 65520, 2 ** -25, 2 ** -24, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
  roundToF16InPlace(values);
  assert.deepEqual([...values], [65504, Infinity, 0, 2 ** -24, 1, 1 + 2 ** -9]);
});

test("float16 without a scaler is refused; a NaN loss in float16 is a NumericalError naming the step", async () => {
  const fixture = readTrainFixture("full");
  const model = await load("float16");
  assert.throws(() => new Trainer(model, { maxSteps: 2, gradScaler: false }), (e: unknown) => e instanceof UnsupportedError && /loss scaling/.test(e.message));
  const trainer = new Trainer(model, { maxSteps: 2 });
  trainer.step([fixture.batch]);
  model.weights.layers[1]!.ffnNorm[0] = Number.NaN;
  assert.throws(() => trainer.step([fixture.batch]), (e: unknown) => e instanceof NumericalError && /step 2: the loss is NaN/.test(e.message));
  assert.equal(trainer.stepCount, 1);
});
