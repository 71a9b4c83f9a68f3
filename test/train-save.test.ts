// Saving a model as a Hugging Face folder (train/save.ts) and giving it a pad token
// (train/pad-token.ts): the saved folder loads with fromPretrained to the same weights and logits,
// its tokenizer knows the added <pad>; a failed save leaves nothing behind.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ArgumentError } from "../src/errors.js";
import { defaultModelDir } from "../src/loader/default-model.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Rng } from "../src/tensor/rng.js";
import { floatTensorToF32 } from "../src/tensor/cast.js";
import type { FloatTensor } from "../src/tensor/tensor.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { PAD_TOKEN, ensurePadToken, type PadTokenizer } from "../src/train/pad-token.js";
import { saveHfModel } from "../src/train/save.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";
import { fixturePath } from "./support/paths.js";

const tempDir = tempDirsRemovedAfter();

async function logits(model: LlamaForCausalLM, ids: number[]): Promise<Float32Array> {
  return model.forward(ids, model.createKvCache({ maxSeqLen: ids.length }), { allLogits: true });
}

test("a model without a pad token gets <pad>: a new special token, embeddings resized with a zero row, pad_token_id; saved and reloaded it is the same model", async () => {
  const source = defaultModelDir();
  const model = await LlamaForCausalLM.fromPretrained(source);
  const tokenizer = await Tokenizer.fromPretrained(source);
  assert.equal(tokenizer.padTokenId, undefined);
  const oldVocab = model.config.vocabSize;
  const result = ensurePadToken(model, tokenizer, { resize: true, rng: new Rng(1) });
  assert.equal(result.added, true);
  assert.equal(result.padTokenId, oldVocab);
  assert.match(result.message!, /added <pad>/);
  assert.equal(tokenizer.padToken, PAD_TOKEN);
  assert.equal(model.config.vocabSize, oldVocab + 1);
  assert.equal(model.config.padTokenId, oldVocab);
  const embedding = floatTensorToF32(model.weights.tokenEmbedding as FloatTensor);
  const dim = model.config.dim;
  assert.ok(embedding.subarray(oldVocab * dim).every((v) => v === 0), "the pad row is zero");
  assert.equal(ensurePadToken(model, tokenizer, { resize: true, rng: new Rng(1) }).message, undefined, "a second call finds the pad token");

  const out = join(tempDir("save"), "tuned");
  const saved = await saveHfModel(out, model, { sourceDir: source, tokenizer });
  assert.deepEqual(saved.warnings, []);
  assert.deepEqual([...saved.files].sort(), ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual([config["vocab_size"], config["pad_token_id"], config["torch_dtype"], config["tie_word_embeddings"]], [oldVocab + 1, oldVocab, "bfloat16", true]);
  const reloaded = await LlamaForCausalLM.fromPretrained(out);
  assert.deepEqual(reloaded.config, model.config);
  assert.deepEqual(reloaded.weights.layers[1]!.ffnDown.data, model.weights.layers[1]!.ffnDown.data, "bf16 weights are saved bit for bit");
  const ids = [128000, 791, 6864, oldVocab];
  assert.deepEqual(await logits(reloaded, ids), await logits(model, ids));
  const tokenizerBack = await Tokenizer.fromPretrained(out);
  assert.equal(tokenizerBack.padTokenId, oldVocab);
  assert.deepEqual(tokenizerBack.encode(`hi${PAD_TOKEN}`, { addSpecialTokens: false }).slice(-1), [oldVocab]);
  assert.deepEqual(reloaded.generationConfig, model.generationConfig, "generation_config.json is kept");
});

test("float32 round trip of an untied fixture without tokenizer files (saved in the dtype asked for)", async () => {
  const source = fixturePath("hf", "tiny-v512-bf16-untied-llama3rope");
  const model = await LlamaForCausalLM.fromPretrained(source, { dtype: "float32" });
  const out = join(tempDir("save32"), "tuned");
  const saved = await saveHfModel(out, model, { sourceDir: source, dtype: "f32" });
  assert.match(saved.warnings.join("\n"), /no tokenizer files/);
  const reloaded = await LlamaForCausalLM.fromPretrained(out);
  assert.equal(reloaded.config.storedDType, "f32");
  assert.equal(reloaded.weights.output.dtype, "f32");
  assert.deepEqual(reloaded.weights.output.data, model.weights.output.data);
  assert.deepEqual(await logits(reloaded, [1, 2, 3]), await logits(model, [1, 2, 3]));
});

test("a save that fails midway leaves no output folder and no temporary files; an existing folder is refused", async () => {
  const source = fixturePath("hf", "tiny-v512-bf16-untied-llama3rope");
  const model = await LlamaForCausalLM.fromPretrained(source);
  const parent = tempDir("save-fail");
  const out = join(parent, "tuned");
  // The output head's data is shorter than its shape: the writer fails after config.json is written.
  const broken = { config: model.config, weights: { ...model.weights, output: { dtype: "bf16" as const, shape: model.weights.output.shape, data: new Uint16Array(10) } } };
  await assert.rejects(saveHfModel(out, broken, { sourceDir: source }));
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(parent), []);
  await saveHfModel(out, model, { sourceDir: source });
  await assert.rejects(saveHfModel(out, model, { sourceDir: source }), ArgumentError);
  await assert.rejects(saveHfModel(source, model, { sourceDir: source, overwrite: true }), /input folder/, "never over the model it was loaded from");
});

test("a frozen base (LoRA) pads with an existing token: <|finetune_right_pad_id|> when present, else EOS; no resize", async () => {
  const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", "tiny-v512-bf16-untied-llama3rope"));
  const fake = (names: Record<string, number>): PadTokenizer & { pad: string | undefined } => ({
    pad: undefined,
    get padTokenId() { return this.pad === undefined ? undefined : names[this.pad]; },
    eosTokenId: 1,
    vocabSize: 512,
    tokenToId: (t) => names[t],
    idToToken: (id) => Object.keys(names).find((k) => names[k] === id),
    addSpecialTokens(tokens) { this.pad = tokens.padToken; return 0; },
  });
  const with31 = fake({ "<|finetune_right_pad_id|>": 7, "<eos>": 1 });
  const a = ensurePadToken(model, with31, { resize: false, rng: new Rng(0) });
  assert.deepEqual([a.padTokenId, a.added, with31.pad], [7, false, "<|finetune_right_pad_id|>"]);
  const plain = fake({ "<eos>": 1 });
  const b = ensurePadToken(model, plain, { resize: false, rng: new Rng(0) });
  assert.deepEqual([b.padTokenId, plain.pad], [1, "<eos>"]);
  assert.match(b.message!, /frozen/);
  assert.equal(model.config.vocabSize, 512);
  const c = ensurePadToken(model, undefined, { resize: true, rng: new Rng(0) });
  assert.deepEqual([c.padTokenId, model.config.vocabSize, model.config.padTokenId], [512, 513, 512], "without a tokenizer the new id is the old vocabulary size");
});
