// Parsing config.json and params.json: camelCase fields, transformers' defaults, and one typed error
// per missing, malformed or unsupported key.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError, ConfigError, UnsupportedError } from "../errors.js";
import { parseHfConfig } from "./hf-config.js";
import { metaHiddenDim, parseMetaParams } from "./meta-params.js";

/** The config.json of meta-llama/Llama-3.2-1B (transformers 4.45 era, `rope_scaling` shape). */
const LLAMA_32_1B = {
  architectures: ["LlamaForCausalLM"], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000,
  eos_token_id: 128001, head_dim: 64, hidden_act: "silu", hidden_size: 2048, initializer_range: 0.02,
  intermediate_size: 8192, max_position_embeddings: 131072, mlp_bias: false, model_type: "llama",
  num_attention_heads: 32, num_hidden_layers: 16, num_key_value_heads: 8, pretraining_tp: 1, rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: "bfloat16", transformers_version: "4.45.0.dev0",
  use_cache: true, vocab_size: 128256,
};

test("parses a Llama 3.2 1B config into camelCase fields", () => {
  const { config, unknownKeys } = parseHfConfig(LLAMA_32_1B, "config.json");
  assert.deepEqual(unknownKeys, []);
  assert.equal(config.dim, 2048);
  assert.equal(config.hiddenDim, 8192);
  assert.equal(config.nLayers, 16);
  assert.equal(config.nHeads, 32);
  assert.equal(config.nKvHeads, 8);
  assert.equal(config.headDim, 64);
  assert.equal(config.vocabSize, 128256);
  assert.equal(config.normEps, 1e-5);
  assert.equal(config.ropeTheta, 500000);
  assert.deepEqual(config.ropeScaling, { kind: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.equal(config.tieWordEmbeddings, true);
  assert.deepEqual(config.eosTokenIds, [128001]);
  assert.equal(config.storedDType, "bf16");
});

test("accepts the newer rope_parameters shape, eos lists and the dtype key", () => {
  const { rope_scaling: _, rope_theta: __, torch_dtype: ___, ...rest } = LLAMA_32_1B;
  const { config } = parseHfConfig({
    ...rest,
    dtype: "float16",
    eos_token_id: [128001, 128008, 128009],
    rope_parameters: { rope_type: "llama3", rope_theta: 500000.0, factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192 },
  });
  assert.equal(config.ropeTheta, 500000);
  assert.equal(config.ropeScaling.kind === "llama3" && config.ropeScaling.factor, 8);
  assert.deepEqual(config.eosTokenIds, [128001, 128008, 128009]);
  assert.equal(config.storedDType, "f16");
  const defaults = parseHfConfig({ ...rest, rope_parameters: { rope_type: "default", rope_theta: 10000 } }).config;
  assert.deepEqual(defaults.ropeScaling, { kind: "none" });
  assert.equal(defaults.ropeTheta, 10000);
});

test("defaults follow transformers: kv heads = heads, head_dim = hidden / heads, untied", () => {
  const { num_key_value_heads: _, head_dim: __, tie_word_embeddings: ___, ...rest } = LLAMA_32_1B;
  const { config } = parseHfConfig(rest);
  assert.equal(config.nKvHeads, 32);
  assert.equal(config.headDim, 64);
  assert.equal(config.tieWordEmbeddings, false);
});

test("reports unknown keys without failing, nested rope keys included", () => {
  const { unknownKeys } = parseHfConfig({ ...LLAMA_32_1B, my_extra_key: 1, rope_scaling: { ...LLAMA_32_1B.rope_scaling, low_freq_factr: 1 } });
  assert.deepEqual(unknownKeys, ["my_extra_key", "rope_scaling.low_freq_factr"]);
});

const WITHOUT = (key: string): Record<string, unknown> => {
  const copy: Record<string, unknown> = { ...LLAMA_32_1B };
  delete copy[key];
  return copy;
};

const CONFIG_ERRORS: readonly [string, unknown, string, RegExp][] = [
  ["missing hidden_size", WITHOUT("hidden_size"), "hidden_size", /missing/],
  ["missing rms_norm_eps", WITHOUT("rms_norm_eps"), "rms_norm_eps", /missing/],
  ["missing rope_theta", WITHOUT("rope_theta"), "rope_theta", /missing/],
  ["missing model_type", WITHOUT("model_type"), "model_type", /missing/],
  ["string where a number goes", { ...LLAMA_32_1B, num_hidden_layers: "16" }, "num_hidden_layers", /integer/],
  ["fractional head count", { ...LLAMA_32_1B, num_attention_heads: 32.5 }, "num_attention_heads", /integer/],
  ["zero layers", { ...LLAMA_32_1B, num_hidden_layers: 0 }, "num_hidden_layers", /between 1/],
  ["kv heads not dividing heads", { ...LLAMA_32_1B, num_key_value_heads: 7 }, "num_key_value_heads", /divide/],
  ["odd head_dim", { ...LLAMA_32_1B, head_dim: 63 }, "head_dim", /even/],
  ["negative eps", { ...LLAMA_32_1B, rms_norm_eps: -1 }, "rms_norm_eps", /positive/],
  ["eos as a string", { ...LLAMA_32_1B, eos_token_id: "128001" }, "eos_token_id", /token id/],
  ["unknown dtype", { ...LLAMA_32_1B, torch_dtype: "int4" }, "torch_dtype", /unknown dtype/],
  ["a dtype named like an Object property", { ...LLAMA_32_1B, torch_dtype: "constructor" }, "torch_dtype", /unknown dtype/],
  ["llama3 rope without factor", { ...LLAMA_32_1B, rope_scaling: { rope_type: "llama3", low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, "rope_scaling.factor", /missing/],
  ["high freq factor not above low", { ...LLAMA_32_1B, rope_scaling: { ...LLAMA_32_1B.rope_scaling, high_freq_factor: 1 } }, "rope_scaling.high_freq_factor", /greater/],
  ["rope_scaling and rope_parameters disagree", { ...LLAMA_32_1B, rope_parameters: { rope_type: "default" } }, "rope_parameters", /disagrees/],
  ["rope_theta and rope_parameters.rope_theta disagree", { ...LLAMA_32_1B, rope_scaling: null, rope_parameters: { rope_type: "default", rope_theta: 10000 } }, "rope_parameters.rope_theta", /disagrees/],
  ["tie_word_embeddings not a boolean", { ...LLAMA_32_1B, tie_word_embeddings: "yes" }, "tie_word_embeddings", /true or false/],
];

for (const [what, json, key, message] of CONFIG_ERRORS) {
  test(`config error: ${what}`, () => {
    assert.throws(() => parseHfConfig(json, "/m/config.json"), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `got ${String(e)}`);
      assert.equal(e.key, key);
      assert.equal(e.path, "/m/config.json");
      assert.match(e.message, message);
      assert.match(e.message, /^\/m\/config\.json: /);
      return true;
    });
  });
}

const UNSUPPORTED: readonly [string, unknown, RegExp][] = [
  ["another model type", { ...LLAMA_32_1B, model_type: "mistral" }, /model_type "mistral"/],
  ["another architecture", { ...LLAMA_32_1B, architectures: ["LlamaForSequenceClassification"] }, /LlamaForSequenceClassification/],
  ["attention bias", { ...LLAMA_32_1B, attention_bias: true }, /attention_bias/],
  ["mlp bias", { ...LLAMA_32_1B, mlp_bias: true }, /mlp_bias/],
  ["another activation", { ...LLAMA_32_1B, hidden_act: "gelu" }, /hidden_act "gelu"/],
  ["linear rope scaling", { ...LLAMA_32_1B, rope_scaling: { type: "linear", factor: 2 } }, /rope_type "linear"/],
  ["yarn rope scaling", { ...LLAMA_32_1B, rope_scaling: { rope_type: "yarn", factor: 2 } }, /rope_type "yarn"/],
  ["partial rotary", { ...LLAMA_32_1B, rope_scaling: { ...LLAMA_32_1B.rope_scaling, partial_rotary_factor: 0.5 } }, /partial_rotary_factor 0.5/],
  ["quantized checkpoint", { ...LLAMA_32_1B, quantization_config: { quant_method: "bitsandbytes" } }, /quantization_config/],
];

for (const [what, json, message] of UNSUPPORTED) {
  test(`unsupported: ${what}`, () => {
    assert.throws(() => parseHfConfig(json, "c.json"), (e: unknown) => e instanceof UnsupportedError && message.test(e.message) && e.message.startsWith("c.json: "));
  });
}

test("Meta params.json: MLP width derived as meta-llama/llama3 FeedForward does", () => {
  // The fixtures' values (../shared/fixtures/README.md) and the released models' (Llama 3 8B: 14336,
  // 70B: 28672, 405B: 53248; 3.2 1B: 8192, 3B: 8192).
  assert.equal(metaHiddenDim(64, 32, 1.3), 224);
  assert.equal(metaHiddenDim(4096, 1024, 1.3), 14336);
  assert.equal(metaHiddenDim(8192, 4096, 1.3), 28672);
  assert.equal(metaHiddenDim(16384, 4096, 1.2), 53248);
  assert.equal(metaHiddenDim(2048, 256, 1.5), 8192);
  assert.equal(metaHiddenDim(3072, 256, 1.0), 8192);
  const { config } = parseMetaParams({ dim: 64, n_layers: 2, n_heads: 4, n_kv_heads: 2, vocab_size: 512, multiple_of: 32, ffn_dim_multiplier: 1.3, norm_eps: 1e-5, rope_theta: 500000.0, use_scaled_rope: true });
  assert.equal(config.headDim, 16);
  assert.deepEqual(config.ropeScaling, { kind: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.throws(() => parseMetaParams({ dim: 64 }, "p.json"), (e: unknown) => e instanceof ConfigError && e.key === "n_layers");
  assert.throws(() => parseMetaParams({ dim: 64, vision_chunk_size: 560 }, "p.json"), UnsupportedError);
});

test("Meta params.json: the rope factor params.json cannot state", () => {
  const base = { n_heads: 32, n_kv_heads: 8, vocab_size: 128256, multiple_of: 256, ffn_dim_multiplier: 1.5, norm_eps: 1e-5, rope_theta: 500000.0, use_scaled_rope: true };
  // Llama 3.2 1B's shape: factor 32, with a warning saying it was assumed.
  const small = parseMetaParams({ ...base, dim: 2048, n_layers: 16 }, "p.json");
  assert.equal(small.config.ropeScaling.kind === "llama3" && small.config.ropeScaling.factor, 32);
  assert.match(small.warnings.join(), /Llama 3\.2 1B shape: assuming rope factor 32/);
  // Any other shape: Meta's hard-coded 8 (Llama 3.1), with a warning.
  const other = parseMetaParams({ ...base, dim: 4096, n_layers: 32 }, "p.json");
  assert.equal(other.config.ropeScaling.kind === "llama3" && other.config.ropeScaling.factor, 8);
  assert.match(other.warnings.join(), /assuming rope factor 8/);
  // Given explicitly: used, no warning; nonsense refused.
  const given = parseMetaParams({ ...base, dim: 2048, n_layers: 16 }, "p.json", { ropeFactor: 8 });
  assert.equal(given.config.ropeScaling.kind === "llama3" && given.config.ropeScaling.factor, 8);
  assert.deepEqual(given.warnings, []);
  for (const bad of [0, -8, Number.NaN, Infinity]) {
    assert.throws(() => parseMetaParams({ ...base, dim: 2048, n_layers: 16 }, "p.json", { ropeFactor: bad }), ArgumentError, String(bad));
  }
  assert.equal(parseMetaParams({ ...base, dim: 2048, n_layers: 16, use_scaled_rope: false }).config.ropeScaling.kind, "none");
});
