// Gradient checkpointing: a forward that keeps only each layer's input (and dropout masks) and a
// backward that recomputes the layer from it give the same loss and gradients, bit for bit (the
// same operations on the same values), for full fine-tuning and for LoRA with dropout, on the
// reference kernels and on the WebAssembly backend (where every layer's recompute, and the
// checkpointed forward, reuse one set of buffers that the backend is handed again and again).

import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { RopeTable, ropeInverseFrequencies } from "../src/model/rope.js";
import { Rng } from "../src/tensor/rng.js";
import { trainForward, type TrainModelView } from "../src/train/forward.js";
import { loraParams } from "../src/train/lora.js";
import { fullParams } from "../src/train/params.js";
import { Trainer, lossAndGradients } from "../src/train/trainer.js";
import { fixturePath } from "./support/paths.js";
import { TRAIN_MODEL, fixtureAdapter, readTrainFixture } from "./support/train-fixture.js";

/** The model's training view (full fine-tuning). */
function viewOf(model: LlamaForCausalLM): TrainModelView {
  const { config } = model;
  return { config, weights: model.weights, backend: model.backend, rope: new RopeTable(ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling)) };
}

/** Loss and gradients with and without checkpointing on `model`'s backend: equal bit for bit. */
function assertCheckpointingExact(model: LlamaForCausalLM): void {
  const { config } = model;
  const fixture = readTrainFixture("lora-qv");
  const full = viewOf(model);
  const lora: TrainModelView = { ...full, adapter: fixtureAdapter(fixture, config.nLayers), loraDropout: 0.2 };
  for (const [name, view, params] of [["full", full, () => fullParams(model.weights)], ["lora", lora, () => loraParams(config, lora.adapter!)]] as const) {
    const plain = params();
    const checkpointed = params();
    const a = lossAndGradients(view, fixture.batch, plain.grads, { rng: new Rng(4) });
    const b = lossAndGradients(view, fixture.batch, checkpointed.grads, { rng: new Rng(4), gradientCheckpointing: true });
    assert.equal(b.loss, a.loss, name);
    plain.params.forEach((p, i) => assert.deepEqual(checkpointed.params[i]!.grad, p.grad, `${name} on ${model.backend.name}: ${p.name}`));
  }
}

test("checkpointed layers: the same loss and gradients, with only the layer inputs kept", async () => {
  const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", TRAIN_MODEL), { dtype: "float32" });
  const fixture = readTrainFixture("lora-qv");
  assertCheckpointingExact(model);
  const acts = trainForward(viewOf(model), fixture.batch, { checkpointLayers: true });
  assert.ok(acts.layers.every((l) => l.kind === "checkpoint" && Object.keys(l).length === 3));
  // Through the Trainer option too.
  const events = [true, false].map((gradientCheckpointing) => new Trainer(model, { maxSteps: 1, gradientCheckpointing, lora: { rank: 2, dropout: 0.1 } }).step([fixture.batch]));
  assert.equal(events[0]!.loss, events[1]!.loss);
  assert.equal(events[0]!.gradNorm, events[1]!.gradNorm);
});

test("checkpointed layers on the WebAssembly backend (bf16 weights): the same loss and gradients", async () => {
  const backend = await createWasmBackend({ threads: 2 });
  try {
    assertCheckpointingExact(await LlamaForCausalLM.fromPretrained(fixturePath("hf", TRAIN_MODEL), { dtype: "bfloat16", backend }));
  } finally {
    await backend.close();
  }
});
