// config.json and generation_config.json writing: a round trip through the parsers (parseHfConfig,
// parseGenerationConfig) gives the configuration back, for each shape of config the converter writes,
// and the text is laid out as transformers writes it (sorted keys, 2-space indent, final newline).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fixturePath } from "../../test/support/paths.js";
import { ArgumentError } from "../errors.js";
import type { LlamaConfig } from "./config.js";
import { parseGenerationConfig } from "./generation-config.js";
import { generationConfigJson, hfConfigJson, serializeConfigJson, serializeHfConfig } from "./hf-config-writer.js";
import { parseHfConfig } from "./hf-config.js";

const LLAMA31_8B: LlamaConfig = {
  dim: 4096, hiddenDim: 14336, nLayers: 32, nHeads: 32, nKvHeads: 8, headDim: 128, vocabSize: 128256,
  normEps: 1e-5, ropeTheta: 500000,
  ropeScaling: { kind: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  maxPositionEmbeddings: 131072, tieWordEmbeddings: false, bosTokenId: 128000, eosTokenIds: [128001, 128008, 128009],
  padTokenId: undefined, storedDType: "bf16",
};

const VARIANTS: readonly (readonly [string, LlamaConfig])[] = [
  ["Llama 3.1 8B Instruct", LLAMA31_8B],
  ["Llama 3 8B base (no scaling, one eos id)", { ...LLAMA31_8B, ropeScaling: { kind: "none" }, maxPositionEmbeddings: 8192, eosTokenIds: [128001] }],
  ["Llama 3.2 1B (tied, factor 32, f16)", { ...LLAMA31_8B, dim: 2048, hiddenDim: 8192, nLayers: 16, headDim: 64, tieWordEmbeddings: true, storedDType: "f16", ropeScaling: { ...LLAMA31_8B.ropeScaling, factor: 32 } as LlamaConfig["ropeScaling"] }],
  ["a tiny model without special ids, with a pad id, f32", { ...LLAMA31_8B, vocabSize: 512, bosTokenId: undefined, eosTokenIds: [], padTokenId: 0, storedDType: "f32" }],
];

for (const [name, config] of VARIANTS) {
  test(`config.json round trip: ${name}`, () => {
    const text = serializeHfConfig(config);
    const parsed = parseHfConfig(JSON.parse(text), "config.json");
    assert.deepEqual(parsed.unknownKeys, []);
    assert.deepEqual(parsed.warnings, []);
    assert.deepEqual(parsed.config, config);
    const generation = parseGenerationConfig(JSON.parse(serializeConfigJson(generationConfigJson(config))), "generation_config.json");
    assert.deepEqual(generation.eosTokenIds, config.eosTokenIds);
  });
}

test("the text is laid out as transformers writes config.json", () => {
  const text = serializeHfConfig(LLAMA31_8B);
  assert.ok(text.endsWith("}\n"));
  const keys = Object.keys(JSON.parse(text) as object);
  assert.deepEqual(keys, [...keys].sort());
  assert.match(text, /^\{\n {2}"architectures": \[\n {4}"LlamaForCausalLM"\n {2}\],\n/);
  assert.match(text, /"rope_scaling": \{\n {4}"factor": 8,\n {4}"high_freq_factor": 4,\n {4}"low_freq_factor": 1,\n {4}"original_max_position_embeddings": 8192,\n {4}"rope_type": "llama3"\n {2}\}/);
  assert.equal(hfConfigJson({ ...LLAMA31_8B, ropeScaling: { kind: "none" } })["rope_scaling"], null);
  assert.equal(hfConfigJson({ ...LLAMA31_8B, eosTokenIds: [128001] })["eos_token_id"], 128001);
});

test("the written keys are those of a published HF config (the fixture's), plus the ones transformers adds", () => {
  const fixture = JSON.parse(readFileSync(fixturePath("hf", "tiny-v512-bf16-untied-llama3rope", "config.json"), "utf8")) as Record<string, unknown>;
  const parsed = parseHfConfig(fixture, "config.json").config;
  const written = hfConfigJson(parsed);
  for (const key of Object.keys(fixture)) {
    if (key === "transformers_version") continue;
    assert.ok(key in written, `config.json key "${key}" is written`);
  }
  assert.deepEqual(parseHfConfig(written).config, parsed);
});

test("a config without a stored dtype cannot be written", () => {
  assert.throws(() => serializeHfConfig({ ...LLAMA31_8B, storedDType: undefined }), ArgumentError);
});
