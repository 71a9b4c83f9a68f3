// Tied embeddings (Llama 3.2 1B/3B: the output head is the token embedding): one trained tensor
// whose gradient is the sum of its two uses. Checked against the same model untied (the head a copy
// of the table): the tied gradient equals the untied embedding's plus the untied head's.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { RopeTable, ropeInverseFrequencies } from "../src/model/rope.js";
import type { LlamaWeights } from "../src/model/weights.js";
import type { TrainBatch } from "../src/train/batch.js";
import { fullParams } from "../src/train/params.js";
import { lossAndGradients } from "../src/train/trainer.js";
import { fixturePath } from "./support/paths.js";
import { maxAbsDiff } from "./support/train-fixture.js";

test("a tied embedding is one parameter whose gradient sums the embedding's and the head's", async () => {
  const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", "tiny-v128256-f32-tied-norope"), { dtype: "float32" });
  const { config, weights } = model;
  assert.equal(weights.output, weights.tokenEmbedding);
  const view = { config, backend: model.backend, rope: new RopeTable(ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling)) };
  const ids = [128000, 791, 6864, 315, 9822, 374, 12366, 13];
  const batch: TrainBatch = { rows: 1, seqLen: ids.length, inputIds: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), labels: Int32Array.from(ids) };

  const tied = fullParams(weights);
  assert.equal(tied.params.filter((p) => p.name === "lm_head.weight").length, 0);
  assert.equal(tied.grads.output, tied.grads.tokenEmbedding);
  const tiedLoss = lossAndGradients({ ...view, weights }, batch, tied.grads).loss;

  const table = weights.tokenEmbedding as { dtype: "f32"; shape: readonly number[]; data: Float32Array };
  const untiedWeights: LlamaWeights = { ...weights, output: { dtype: "f32", shape: table.shape, data: Float32Array.from(table.data) } };
  const untied = fullParams(untiedWeights);
  const untiedLoss = lossAndGradients({ ...view, weights: untiedWeights }, batch, untied.grads).loss;
  assert.equal(untiedLoss, tiedLoss);
  const embedding = untied.params.find((p) => p.name === "model.embed_tokens.weight")!.grad;
  const head = untied.params.find((p) => p.name === "lm_head.weight")!.grad;
  const sum = embedding.map((g, i) => g + head[i]!);
  // The same float32 values added in another order: a float32 rounding of the largest gradient.
  assert.ok(maxAbsDiff(tied.grads.tokenEmbedding!, sum) <= 1e-7, `differ by ${maxAbsDiff(tied.grads.tokenEmbedding!, sum)}`);
  assert.ok(embedding.some((g) => g !== 0) && head.some((g) => g !== 0));
});
