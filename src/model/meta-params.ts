// Parses Meta's original `params.json` (meta-llama/llama3 llama/model.py ModelArgs) into a
// LlamaConfig. The only place that knows Meta's key names. The MLP width is derived the way
// FeedForward.__init__ derives it, and `use_scaled_rope: true` means the Llama 3.1 scaling with the
// constants Meta's reference hard-codes (llama-models apply_scaling: factor 8, low 1, high 4, original
// context 8192). Llama 3.2 1B/3B were trained with factor 32, which params.json cannot say: their
// shapes are recognised (with a warning), and callers may give the factor explicitly.

import type { LlamaConfig } from "./config.js";
import { ArgumentError, ConfigError, UnsupportedError } from "../errors.js";
import { isJsonObject } from "../json.js";
import { ConfigReader } from "./config-reader.js";
import type { ParsedConfig } from "./hf-config.js";

/** Llama 3 special token ids (fixed by Meta's tokenizer: 128000 + index of the special token). */
const LLAMA3_BOS_ID = 128000;
const LLAMA3_EOS_IDS = [128001, 128008, 128009];
const LLAMA3_VOCAB_SIZE = 128256;

/** The rope scaling constants hard-coded in meta-llama/llama-models `apply_scaling`. */
export const META_ROPE_SCALING = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } as const;

/** Llama 3.2 1B and 3B (dim, layers): trained with rope factor 32 (their HF configs say so). */
const LLAMA32_SHAPES: readonly (readonly [number, number])[] = [[2048, 16], [3072, 28]];
const LLAMA32_ROPE_FACTOR = 32;

/** Context length of the Llama 3.1+ models (with scaled rope) and of Llama 3.0. */
const SCALED_MAX_POSITIONS = 131072;
const UNSCALED_MAX_POSITIONS = 8192;

/** MLP width as meta-llama/llama3 FeedForward computes it from dim, multiple_of and ffn_dim_multiplier. */
export function metaHiddenDim(dim: number, multipleOf: number, ffnDimMultiplier: number | undefined): number {
  let hidden = Math.trunc((2 * (4 * dim)) / 3);
  if (ffnDimMultiplier !== undefined) hidden = Math.trunc(ffnDimMultiplier * hidden);
  return multipleOf * Math.ceil(hidden / multipleOf);
}

/**
 * Parse the JSON object of a params.json.
 * @param options.ropeFactor the llama3 rope scaling factor when use_scaled_rope is true (default: 32
 *   for the Llama 3.2 1B/3B shapes, else 8 as Meta's reference code)
 * @throws ConfigError naming the key that is missing or malformed; ArgumentError for a bad ropeFactor
 */
export function parseMetaParams(json: unknown, path?: string, options: { ropeFactor?: number } = {}): ParsedConfig {
  if (!isJsonObject(json)) throw new ConfigError("(root)", "params.json must hold a JSON object", path === undefined ? {} : { path });
  const r = new ConfigReader(json, path);
  for (const key of ["vision_chunk_size", "quantization_args", "lora_args", "moe_args"]) {
    if (r.has(key)) throw new UnsupportedError(`${path ?? "params.json"}: "${key}" is not supported (text-only, unquantized Llama 3 models)`);
  }
  const dim = r.int("dim", 1);
  const nLayers = r.int("n_layers", 1);
  const nHeads = r.int("n_heads", 1);
  const nKvHeads = r.optionalInt("n_kv_heads", nHeads, 1);
  if (nHeads % nKvHeads !== 0) throw r.fail("n_kv_heads", `${nKvHeads} must divide n_heads (${nHeads})`);
  if (dim % nHeads !== 0) throw r.fail("n_heads", `must divide dim (${dim})`);
  const headDim = dim / nHeads;
  if (headDim % 2 !== 0) throw r.fail("n_heads", `dim / n_heads = ${headDim} must be even for rotary embeddings`);
  const ffnDimMultiplier = r.has("ffn_dim_multiplier") ? r.number("ffn_dim_multiplier", { positive: true }) : undefined;
  r.ignore("ffn_dim_multiplier");
  const vocabSize = r.int("vocab_size", 1);
  const scaled = r.optionalBoolean("use_scaled_rope", false);
  const warnings: string[] = [];
  const config: LlamaConfig = {
    dim,
    hiddenDim: metaHiddenDim(dim, r.int("multiple_of", 1), ffnDimMultiplier),
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    normEps: r.number("norm_eps", { positive: true }),
    ropeTheta: r.number("rope_theta", { positive: true }),
    ropeScaling: scaled ? { kind: "llama3", ...META_ROPE_SCALING, factor: ropeFactor(dim, nLayers, options.ropeFactor, warnings, path) } : { kind: "none" },
    maxPositionEmbeddings: scaled ? SCALED_MAX_POSITIONS : UNSCALED_MAX_POSITIONS,
    tieWordEmbeddings: false,
    // Meta's special ids exist only with the full Llama 3 vocabulary.
    bosTokenId: vocabSize === LLAMA3_VOCAB_SIZE ? LLAMA3_BOS_ID : undefined,
    eosTokenIds: vocabSize === LLAMA3_VOCAB_SIZE ? LLAMA3_EOS_IDS : [],
    padTokenId: undefined,
    storedDType: undefined,
  };
  r.ignore("max_batch_size", "max_seq_len", "norm_type");
  return { config, unknownKeys: r.unknownKeys(), warnings };
}

function ropeFactor(dim: number, nLayers: number, given: number | undefined, warnings: string[], path: string | undefined): number {
  if (given !== undefined) {
    if (!Number.isFinite(given) || given <= 0) throw new ArgumentError(`the rope scaling factor must be a positive number, got ${given}`);
    return given;
  }
  const where = path ?? "params.json";
  if (LLAMA32_SHAPES.some(([d, l]) => d === dim && l === nLayers)) {
    warnings.push(`${where}: use_scaled_rope with the Llama 3.2 ${dim === 2048 ? "1B" : "3B"} shape: assuming rope factor ${LLAMA32_ROPE_FACTOR} (params.json cannot say; pass the factor to override)`);
    return LLAMA32_ROPE_FACTOR;
  }
  warnings.push(`${where}: use_scaled_rope: assuming rope factor ${META_ROPE_SCALING.factor} as Meta's reference code (Llama 3.1; pass the factor to override)`);
  return META_ROPE_SCALING.factor;
}
