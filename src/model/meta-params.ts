// Parses Meta's original `params.json` (meta-llama/llama3 llama/model.py ModelArgs) into a
// LlamaConfig. The only place that knows Meta's key names. The MLP width is derived the way
// FeedForward.__init__ derives it, and `use_scaled_rope: true` means the Llama 3.1 scaling with the
// constants Meta's reference hard-codes (llama-models apply_scaling: factor 8, low 1, high 4, original
// context 8192); Llama 3.2 was trained with factor 32, which params.json cannot say, so callers may
// override the factor.

import type { LlamaConfig } from "./config.js";
import { ConfigError, UnsupportedError } from "../errors.js";
import { ConfigReader, type JsonObject } from "./config-reader.js";
import type { ParsedConfig } from "./hf-config.js";

/** Llama 3 special token ids (fixed by Meta's tokenizer: 128000 + index of the special token). */
const LLAMA3_BOS_ID = 128000;
const LLAMA3_EOS_IDS = [128001, 128008, 128009];

/** The rope scaling constants hard-coded in meta-llama/llama-models `apply_scaling`. */
export const META_ROPE_SCALING = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } as const;

/** MLP width as meta-llama/llama3 FeedForward computes it from dim, multiple_of and ffn_dim_multiplier. */
export function metaHiddenDim(dim: number, multipleOf: number, ffnDimMultiplier: number | undefined): number {
  let hidden = Math.trunc((2 * (4 * dim)) / 3);
  if (ffnDimMultiplier !== undefined) hidden = Math.trunc(ffnDimMultiplier * hidden);
  return multipleOf * Math.ceil(hidden / multipleOf);
}

/**
 * Parse the JSON object of a params.json.
 * @param options.ropeFactor the llama3 rope scaling factor when use_scaled_rope is true (default 8, Meta's)
 * @throws ConfigError naming the key that is missing or malformed
 */
export function parseMetaParams(json: unknown, path?: string, options: { ropeFactor?: number; maxSeqLen?: number } = {}): ParsedConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError("(root)", "params.json must hold a JSON object", path === undefined ? {} : { path });
  }
  const r = new ConfigReader(json as JsonObject, path);
  for (const key of ["vision_chunk_size", "quantization_args", "lora_args", "moe_args"]) {
    if (r.has(key)) throw new UnsupportedError(`${path ?? "params.json"}: "${key}" is not supported (text-only, unquantized Llama 3 models)`);
  }
  const dim = r.int("dim", 1);
  const nHeads = r.int("n_heads", 1);
  const nKvHeads = r.optionalInt("n_kv_heads", nHeads, 1);
  if (nHeads % nKvHeads !== 0) throw r.fail("n_kv_heads", `${nKvHeads} must divide n_heads (${nHeads})`);
  if (dim % nHeads !== 0) throw r.fail("n_heads", `must divide dim (${dim})`);
  const headDim = dim / nHeads;
  if (headDim % 2 !== 0) throw r.fail("n_heads", `dim / n_heads = ${headDim} must be even for rotary embeddings`);
  const ffnMultiplierRaw = r.raw("ffn_dim_multiplier");
  const ffnDimMultiplier = ffnMultiplierRaw === undefined || ffnMultiplierRaw === null ? undefined : r.number("ffn_dim_multiplier", { positive: true });
  const vocabSize = r.int("vocab_size", 1);
  const config: LlamaConfig = {
    dim,
    hiddenDim: metaHiddenDim(dim, r.int("multiple_of", 1), ffnDimMultiplier),
    nLayers: r.int("n_layers", 1),
    nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    normEps: r.number("norm_eps", { positive: true }),
    ropeTheta: r.number("rope_theta", { positive: true }),
    ropeScaling: r.optionalBoolean("use_scaled_rope", false)
      ? { kind: "llama3", ...META_ROPE_SCALING, factor: options.ropeFactor ?? META_ROPE_SCALING.factor }
      : { kind: "none" },
    maxPositionEmbeddings: options.maxSeqLen ?? (r.optionalBoolean("use_scaled_rope", false) ? 131072 : 8192),
    tieWordEmbeddings: false,
    // Meta's special ids exist only with the full 128256-token vocabulary.
    bosTokenId: vocabSize === 128256 ? LLAMA3_BOS_ID : undefined,
    eosTokenIds: vocabSize === 128256 ? LLAMA3_EOS_IDS : [],
    padTokenId: undefined,
    storedDType: undefined,
  };
  r.ignore("max_batch_size", "max_seq_len", "norm_type");
  return { config, unknownKeys: r.unknownKeys() };
}
