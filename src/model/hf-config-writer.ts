// Writes a LlamaConfig as a Hugging Face `config.json` (and the stop ids as `generation_config.json`):
// the inverse of hf-config.ts / generation-config.ts, and with them the only code that knows those key
// names. Keys and fixed values are the ones transformers' LlamaConfig.to_json_string writes for the
// Llama 3.x checkpoints it converts (convert_llama_weights_to_hf.py), serialised as transformers does:
// keys sorted, two-space indent, a final newline. Round trip: parseHfConfig(hfConfigJson(c)) gives c
// back (hf-config-writer.test.ts).

import { ArgumentError } from "../errors.js";
import type { FloatDType } from "../tensor/dtype.js";
import type { LlamaConfig } from "./config.js";

/** transformers' torch_dtype names of the float dtypes. */
const TORCH_DTYPE_NAMES: Readonly<Record<FloatDType, string>> = { f32: "float32", bf16: "bfloat16", f16: "float16" };

/** A JSON value as these writers produce it. */
type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

/** One id as a number, several as a list (how transformers writes eos_token_id). */
function idOrList(ids: readonly number[]): Json {
  return ids.length === 1 ? ids[0]! : [...ids];
}

/**
 * The config.json object of `config`.
 * @param config the model configuration; `storedDType` becomes torch_dtype (required: the file
 *   must say what its weights are)
 * @throws ArgumentError when config.storedDType is undefined
 * @example JSON.parse(serializeHfConfig(config)).hidden_size === config.dim
 */
export function hfConfigJson(config: LlamaConfig): Record<string, Json> {
  if (config.storedDType === undefined) throw new ArgumentError("hfConfigJson: config.storedDType must say which dtype the weights are stored in");
  const json: Record<string, Json> = {
    architectures: ["LlamaForCausalLM"],
    attention_bias: false,
    attention_dropout: 0,
    head_dim: config.headDim,
    hidden_act: "silu",
    hidden_size: config.dim,
    initializer_range: 0.02,
    intermediate_size: config.hiddenDim,
    max_position_embeddings: config.maxPositionEmbeddings,
    mlp_bias: false,
    model_type: "llama",
    num_attention_heads: config.nHeads,
    num_hidden_layers: config.nLayers,
    num_key_value_heads: config.nKvHeads,
    pretraining_tp: 1,
    rms_norm_eps: config.normEps,
    rope_scaling: config.ropeScaling.kind === "none" ? null : {
      factor: config.ropeScaling.factor,
      high_freq_factor: config.ropeScaling.highFreqFactor,
      low_freq_factor: config.ropeScaling.lowFreqFactor,
      original_max_position_embeddings: config.ropeScaling.originalMaxPositionEmbeddings,
      rope_type: "llama3",
    },
    rope_theta: config.ropeTheta,
    tie_word_embeddings: config.tieWordEmbeddings,
    torch_dtype: TORCH_DTYPE_NAMES[config.storedDType],
    use_cache: true,
    vocab_size: config.vocabSize,
  };
  if (config.bosTokenId !== undefined) json["bos_token_id"] = config.bosTokenId;
  if (config.eosTokenIds.length > 0) json["eos_token_id"] = idOrList(config.eosTokenIds);
  if (config.padTokenId !== undefined) json["pad_token_id"] = config.padTokenId;
  return json;
}

/** The generation_config.json object: Meta's sampling defaults (temperature 0.6, top_p 0.9) and the stop ids. */
export function generationConfigJson(config: LlamaConfig): Record<string, Json> {
  const json: Record<string, Json> = { do_sample: true, temperature: 0.6, top_p: 0.9 };
  if (config.bosTokenId !== undefined) json["bos_token_id"] = config.bosTokenId;
  if (config.eosTokenIds.length > 0) json["eos_token_id"] = idOrList(config.eosTokenIds);
  return json;
}

/** JSON text as transformers writes its config files: keys sorted at every level, 2-space indent, final newline. */
export function serializeConfigJson(json: Record<string, Json>): string {
  return `${JSON.stringify(sortKeys(json), null, 2)}\n`;
}

/** config.json text of `config` (see hfConfigJson). */
export function serializeHfConfig(config: LlamaConfig): string {
  return serializeConfigJson(hfConfigJson(config));
}

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const object = value as { readonly [key: string]: Json };
  return Object.fromEntries(Object.keys(object).sort().map((key) => [key, sortKeys(object[key]!)]));
}
