// Training on the WebAssembly backend: its backward products (its forward matmul on transposed
// operands, backend/training-backend.ts) against the reference kernels, and the PyTorch fixtures'
// six steps reproduced with the weight products on it, full fine-tuning (the model loaded on the
// backend, trained in its memory) and LoRA (a frozen base).

import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { referenceTrainingBackend, trainingBackend } from "../src/backend/training-backend.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Rng } from "../src/tensor/rng.js";
import { castFloat } from "../src/tensor/cast.js";
import { quantizeTensor } from "../src/tensor/quant-formats.js";
import { train, type TrainStepEvent } from "../src/train/trainer.js";
import { fixturePath } from "./support/paths.js";
import { TRAIN_MODEL, type TrainFixture, fixtureAdapter, maxAbsDiff, readTrainFixture } from "./support/train-fixture.js";

function options(fixture: TrainFixture): { maxSteps: number; learningRate: number; warmupSteps: number; weightDecay: number; maxGradNorm: number } {
  const s = fixture.settings;
  return { maxSteps: s.steps, learningRate: s.lr, warmupSteps: s.warmup_steps, weightDecay: s.weight_decay, maxGradNorm: s.max_grad_norm };
}

function checkSteps(events: readonly TrainStepEvent[], fixture: TrainFixture): void {
  // The wasm matmul sums in float32 lanes as PyTorch's float32 run does (the reference kernels sum in
  // float64), so its differences are of the size of PyTorch's own float32 ones: relative to their
  // scale, 4x grad_max_abs_f32_minus_f64 / grad_max_abs (1e-5 full, 5e-6 LoRA), or the relative
  // final-loss drift of train-steps.test.ts where that is larger.
  const drift = Math.max(2 * (fixture.checks.final_loss_f32_minus_f64 / fixture.finalLoss), 4 * fixture.checks.grad_max_abs_f32_minus_f64 / fixture.checks.grad_max_abs);
  assert.equal(events.length, fixture.steps.length);
  events.forEach((e, i) => {
    const g = fixture.steps[i]!;
    const relative = drift;
    assert.ok(Math.abs(e.loss - g.loss) <= relative * g.loss, `step ${i}: loss ${e.loss}, golden ${g.loss}`);
    assert.ok(Math.abs(e.gradNorm - g.grad_norm) <= relative * g.grad_norm, `step ${i}: grad norm ${e.gradNorm}, golden ${g.grad_norm}`);
  });
}

test("wasm backward products equal the reference kernels (f32, bf16 and q8_0 weights)", async () => {
  const backend = await createWasmBackend({ threads: 2 });
  try {
    const tb = trainingBackend(backend);
    const rng = new Rng(21);
    const [n, inF, outF] = [7, 64, 40];
    const x = new Float32Array(n * inF).map(() => rng.normal());
    const dy = new Float32Array(n * outF).map(() => rng.normal());
    const wf = { dtype: "f32" as const, shape: [outF, inF], data: new Float32Array(outF * inF).map(() => rng.normal() * 0.1) };
    for (const w of [wf, castFloat(wf, "bf16"), quantizeTensor(wf, "q8_0")]) {
      const [a, b] = [new Float32Array(n * inF).fill(1), new Float32Array(n * inF).fill(1)];
      tb.matmulBackwardInput(a, dy, w, n, 0.5);
      referenceTrainingBackend.matmulBackwardInput(b, dy, w, n, 0.5);
      // float32 sums of 40 products of size ~0.1 (wasm) vs float64 (reference): below 1e-5.
      assert.ok(maxAbsDiff(a, b) < 1e-5, `dx (${w.dtype}) differs by ${maxAbsDiff(a, b)}`);
    }
    const [a, b] = [new Float32Array(outF * inF), new Float32Array(outF * inF)];
    tb.matmulBackwardWeight(a, dy, x, n, outF, 2);
    referenceTrainingBackend.matmulBackwardWeight(b, dy, x, n, outF, 2);
    assert.ok(maxAbsDiff(a, b) < 1e-5, `dw differs by ${maxAbsDiff(a, b)}`);
  } finally {
    await backend.close();
  }
});

test("full fine-tuning and LoRA on the wasm backend reproduce the PyTorch fixtures' steps", async () => {
  const backend = await createWasmBackend({ threads: 2 });
  try {
    const full = readTrainFixture("full");
    const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", TRAIN_MODEL), { dtype: "float32", backend });
    const events: TrainStepEvent[] = [];
    for await (const e of train(model, Array(6).fill(full.batch), options(full))) events.push(e);
    checkSteps(events, full);
    // The model trained in the backend's memory: its weights are the fixture's final ones.
    const q = model.weights.layers[1]!.attnQ as { data: Float32Array };
    const diff = maxAbsDiff(q.data, full.final.get("model.layers.1.self_attn.q_proj.weight")!.data);
    assert.ok(diff <= 4 * full.checks.final_param_max_abs_f32_minus_f64, `final q_proj differs by ${diff}`);

    const lora = readTrainFixture("lora-qv");
    const base = await LlamaForCausalLM.fromPretrained(fixturePath("hf", TRAIN_MODEL), { dtype: "float32" });
    const loraEvents: TrainStepEvent[] = [];
    for await (const e of train(base, Array(6).fill(lora.batch), { ...options(lora), backend, lora: { adapter: fixtureAdapter(lora, 2), dropout: 0 } })) loraEvents.push(e);
    checkSteps(loraEvents, lora);
    // Full fine-tuning on another backend than the model's is refused (its weights would be copies).
    await assert.rejects(async () => { for await (const _ of train(base, [full.batch], { maxSteps: 1, backend })) void _; }, /backend the model was loaded with/);
  } finally {
    await backend.close();
  }
});
