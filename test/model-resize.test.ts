// resizeTokenEmbeddings: the model side of adding tokens (a pad token) to the tokenizer.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError } from "../src/errors.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Rng } from "../src/tensor/rng.js";
import { weightToF32 } from "../src/tensor/cast.js";
import { fixturePath } from "./support/paths.js";

const UNTIED = fixturePath("hf", "tiny-v512-bf16-untied-llama3rope");
const PROMPT = [0, 5, 17, 42];

test("adding a pad token: zero pad row, new rows around the mean, old rows and logits unchanged", async () => {
  const model = await LlamaForCausalLM.fromPretrained(UNTIED, { dtype: "auto" });
  const before = await model.forward(PROMPT, model.createKvCache());
  const oldEmbedding = weightToF32(model.weights.tokenEmbedding);
  model.resizeTokenEmbeddings(514, { rng: new Rng(1), padTokenId: 512 });
  const { dim, vocabSize, padTokenId } = model.config;
  assert.equal(vocabSize, 514);
  assert.equal(padTokenId, 512);
  assert.equal(model.weights.tokenEmbedding.dtype, "bf16", "the stored dtype is kept");
  const embedding = weightToF32(model.weights.tokenEmbedding);
  assert.deepEqual(embedding.subarray(0, 512 * dim), oldEmbedding);
  assert.ok(embedding.subarray(512 * dim, 513 * dim).every((v) => v === 0), "pad row is zero");
  // Row 513 is drawn around the column means with a spread of sqrt(1e-9) x the column std: it
  // equals the mean up to bf16 rounding (relative 2^-8) and 5 of those standard deviations.
  for (let j = 0; j < dim; j++) {
    let mean = 0;
    let sumSquares = 0;
    for (let r = 0; r < 512; r++) mean += oldEmbedding[r * dim + j]! / 512;
    for (let r = 0; r < 512; r++) sumSquares += (oldEmbedding[r * dim + j]! - mean) ** 2;
    const noise = 5 * Math.sqrt((1e-9 * sumSquares) / 512);
    const actual = embedding[513 * dim + j]!;
    assert.ok(Math.abs(actual - mean) <= (Math.abs(mean) + noise) * 2 ** -8 + noise, `column ${j}: ${actual} vs mean ${mean}`);
  }
  const after = await model.forward(PROMPT, model.createKvCache());
  assert.equal(after.length, 514);
  assert.deepEqual(after.subarray(0, 512), before, "logits of the old vocabulary are unchanged");
  assert.equal((await model.forward([512, 513], model.createKvCache())).length, 514);
});

test("tied models stay tied; padToMultipleOf rounds up; shrinking keeps the first rows", async () => {
  const tied = await LlamaForCausalLM.fromPretrained(fixturePath("hf", "tiny-v128256-f32-tied-norope"), { dtype: "auto" });
  tied.resizeTokenEmbeddings(128257, { rng: new Rng(2), padToMultipleOf: 64 });
  assert.equal(tied.config.vocabSize, 128320);
  assert.equal(tied.weights.output, tied.weights.tokenEmbedding);
  const untied = await LlamaForCausalLM.fromPretrained(UNTIED);
  const head = weightToF32(untied.weights.output).slice(0, 100 * untied.config.dim);
  untied.resizeTokenEmbeddings(100, { rng: new Rng(3) });
  assert.deepEqual(weightToF32(untied.weights.output), head);
  assert.throws(() => untied.resizeTokenEmbeddings(120, { rng: new Rng(4), padTokenId: 120 }), ArgumentError);
  // A pad id inside the old vocabulary (like Llama 3.1's <|finetune_right_pad_id|>) keeps its trained row.
  const embedding = weightToF32(untied.weights.tokenEmbedding).slice();
  untied.resizeTokenEmbeddings(101, { rng: new Rng(5), padTokenId: 4 });
  assert.equal(untied.config.padTokenId, 4);
  assert.deepEqual(weightToF32(untied.weights.tokenEmbedding).subarray(0, 100 * untied.config.dim), embedding);
  assert.throws(() => untied.resizeTokenEmbeddings(0, { rng: new Rng(4) }), ArgumentError);
});
