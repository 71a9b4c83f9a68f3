// Parses a Hugging Face `config.json` of a `LlamaForCausalLM` (model_type "llama") into a
// LlamaConfig. This is the only place that knows HF config key names. It follows transformers'
// LlamaConfig (configuration_llama.py) and its rope utilities (modeling_rope_utils.py
// `_compute_llama3_parameters`), accepting both the older `rope_scaling` and the newer
// (transformers v5) `rope_parameters` shapes. Strict where a silent default would give a wrong
// model: keys that define the math are required; features Llama 3 does not use are refused.

import { ConfigError, UnsupportedError } from "../errors.js";
import { type FloatDType, TORCH_FLOAT_DTYPES } from "../tensor/dtype.js";
import type { LlamaConfig, RopeScaling } from "./config.js";
import { isJsonObject } from "../json.js";
import { ConfigReader } from "./config-reader.js";

/** A parsed config, the keys it had that llama3-ts does not know, and other findings (reported, not fatal). */
export interface ParsedConfig {
  readonly config: LlamaConfig;
  readonly unknownKeys: readonly string[];
  readonly warnings: readonly string[];
}

/** Keys transformers writes that do not change the forward pass. */
const IGNORED_KEYS = [
  "initializer_range", "use_cache", "attention_dropout", "pretraining_tp", "transformers_version",
  "_name_or_path", "output_attentions", "output_hidden_states", "return_dict", "is_decoder",
  "tie_encoder_decoder", "chunk_size_feed_forward", "pruned_heads", "problem_type", "id2label",
  "label2id", "task_specific_params", "finetuning_task", "tokenizer_class", "prefix",
  "cache_implementation", "num_logits_to_keep",
];

/** torch dtype names as config.json may spell them (torch.float and torch.half are aliases). */
const CONFIG_DTYPES: ReadonlyMap<string, FloatDType> = new Map([...TORCH_FLOAT_DTYPES, ["float", "f32"], ["half", "f16"]]);

/**
 * Parse the JSON object of a config.json.
 * @param json the parsed JSON
 * @param path the file, for error messages
 * @returns the config and the unknown keys
 * @throws ConfigError for a missing or malformed key; UnsupportedError for a model llama3-ts cannot run
 */
export function parseHfConfig(json: unknown, path?: string): ParsedConfig {
  if (!isJsonObject(json)) throw new ConfigError("(root)", "config.json must hold a JSON object", path === undefined ? {} : { path });
  const r = new ConfigReader(json, path);
  checkArchitecture(r);
  if (r.has("quantization_config")) throw new UnsupportedError(`${where(path)}quantized checkpoints (quantization_config) are not supported yet`);

  const dim = r.int("hidden_size", 1);
  const nHeads = r.int("num_attention_heads", 1);
  const nKvHeads = r.optionalInt("num_key_value_heads", nHeads, 1);
  if (nHeads % nKvHeads !== 0) throw r.fail("num_key_value_heads", `${nKvHeads} must divide num_attention_heads (${nHeads})`);
  const defaultHeadDim = dim % nHeads === 0 ? dim / nHeads : undefined;
  const headDim = r.optionalInt("head_dim", defaultHeadDim, 2);
  if (headDim === undefined) throw r.fail("head_dim", `missing, and hidden_size ${dim} is not a multiple of num_attention_heads ${nHeads}`);
  if (headDim % 2 !== 0) throw r.fail("head_dim", `must be even for rotary embeddings, got ${headDim}`);

  const hiddenAct = r.optionalString("hidden_act") ?? "silu";
  if (hiddenAct !== "silu") throw new UnsupportedError(`${where(path)}hidden_act "${hiddenAct}" is not supported (Llama uses "silu")`);
  for (const key of ["attention_bias", "mlp_bias"]) {
    if (r.optionalBoolean(key, false)) throw new UnsupportedError(`${where(path)}${key}: true is not supported (Llama 3 has no biases)`);
  }

  const { ropeTheta, ropeScaling, unknownRopeKeys } = parseRope(r, path);
  const storedDType = parseDType(r);
  const eosTokenIds = r.optionalIdList("eos_token_id");
  const config: LlamaConfig = {
    dim,
    hiddenDim: r.int("intermediate_size", 1),
    nLayers: r.int("num_hidden_layers", 1),
    nHeads,
    nKvHeads,
    headDim,
    vocabSize: r.int("vocab_size", 1),
    normEps: r.number("rms_norm_eps", { positive: true }),
    ropeTheta,
    ropeScaling,
    maxPositionEmbeddings: r.optionalInt("max_position_embeddings", 2048, 1),
    tieWordEmbeddings: r.optionalBoolean("tie_word_embeddings", false),
    bosTokenId: r.optionalInt("bos_token_id", undefined),
    eosTokenIds,
    padTokenId: r.optionalInt("pad_token_id", undefined),
    storedDType,
  };
  r.ignore(...IGNORED_KEYS);
  return { config, unknownKeys: [...r.unknownKeys(), ...unknownRopeKeys], warnings: [] };
}

function where(path: string | undefined): string {
  return path === undefined ? "" : `${path}: `;
}

function checkArchitecture(r: ConfigReader): void {
  const modelType = r.raw("model_type");
  if (modelType === undefined) throw r.fail("model_type", 'missing (required; "llama" for Llama 3)');
  if (modelType !== "llama") throw new UnsupportedError(`${where(r.path)}model_type ${JSON.stringify(modelType)} is not supported (only "llama")`);
  const architectures = r.raw("architectures");
  if (architectures === undefined || architectures === null) return;
  if (!Array.isArray(architectures) || !architectures.every((a) => typeof a === "string")) {
    throw r.fail("architectures", "must be a list of strings");
  }
  if (!architectures.includes("LlamaForCausalLM")) {
    throw new UnsupportedError(`${where(r.path)}architectures ${JSON.stringify(architectures)} is not supported (only LlamaForCausalLM)`);
  }
}

function parseDType(r: ConfigReader): FloatDType | undefined {
  let found: FloatDType | undefined;
  for (const key of ["dtype", "torch_dtype"]) {
    const name = r.optionalString(key);
    if (name === undefined) continue;
    const dtype = CONFIG_DTYPES.get(name.replace(/^torch\./, ""));
    if (dtype === undefined) throw r.fail(key, `unknown dtype "${name}" (expected float32, bfloat16 or float16)`);
    found ??= dtype;
  }
  return found;
}

function parseRope(r: ConfigReader, path: string | undefined): { ropeTheta: number; ropeScaling: RopeScaling; unknownRopeKeys: string[] } {
  const scaling = r.optionalObject("rope_scaling");
  const parameters = r.optionalObject("rope_parameters");
  let ropeTheta: number | undefined = r.has("rope_theta") ? r.number("rope_theta", { positive: true }) : undefined;
  r.ignore("rope_theta");
  if (parameters !== undefined && parameters.has("rope_theta")) {
    const inner = parameters.number("rope_theta", { positive: true });
    if (ropeTheta !== undefined && ropeTheta !== inner) throw r.fail("rope_parameters.rope_theta", `${inner} disagrees with rope_theta ${ropeTheta}`);
    ropeTheta = inner;
  }
  if (ropeTheta === undefined) throw r.fail("rope_theta", "missing (required; 500000 for Llama 3)");
  const fromScaling = scaling === undefined ? undefined : parseRopeScaling(scaling, path);
  const fromParameters = parameters === undefined ? undefined : parseRopeScaling(parameters, path);
  if (fromScaling !== undefined && fromParameters !== undefined && JSON.stringify(fromScaling) !== JSON.stringify(fromParameters)) {
    throw r.fail("rope_parameters", "disagrees with rope_scaling; give one of them");
  }
  const unknownRopeKeys = [...(scaling?.unknownKeys() ?? []), ...(parameters?.unknownKeys() ?? [])];
  return { ropeTheta, ropeScaling: fromParameters ?? fromScaling ?? { kind: "none" }, unknownRopeKeys };
}

function parseRopeScaling(s: ConfigReader, path: string | undefined): RopeScaling {
  // Older configs name the kind "type"; transformers reads "rope_type" first.
  const ropeType = s.optionalString("rope_type") ?? s.optionalString("type");
  s.ignore("rope_theta");
  const partial = s.optionalNumber("partial_rotary_factor", 1, { positive: true });
  if (partial !== 1) throw new UnsupportedError(`${where(path)}${s.prefix}partial_rotary_factor ${partial} is not supported (Llama rotates whole heads)`);
  if (ropeType === undefined) throw s.fail("rope_type", "missing");
  if (ropeType === "default") return { kind: "none" };
  if (ropeType !== "llama3") {
    throw new UnsupportedError(`${where(path)}${s.prefix}rope_type "${ropeType}" is not supported (only "llama3" and "default")`);
  }
  const scaling: RopeScaling = {
    kind: "llama3",
    factor: s.number("factor", { positive: true }),
    lowFreqFactor: s.number("low_freq_factor", { positive: true }),
    highFreqFactor: s.number("high_freq_factor", { positive: true }),
    originalMaxPositionEmbeddings: s.int("original_max_position_embeddings", 1),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw s.fail("high_freq_factor", `must be greater than low_freq_factor (${scaling.highFreqFactor} <= ${scaling.lowFreqFactor})`);
  }
  return scaling;
}
