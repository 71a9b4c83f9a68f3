// Parses the `general.*` and `llama.*` metadata keys of a GGUF file (llama.cpp src/llama-arch.cpp
// LLM_KV_NAMES, src/llama-model.cpp load_hparams) into a LlamaConfig: the only place that knows
// those key names. The llama3 rope scaling is not in any key: llama.cpp's converter
// (convert_hf_to_gguf.py LlamaModel.generate_extra_tensors) stores it as the `rope_freqs.weight`
// tensor, one divisor per rotary frequency; we recover the factor from it (the divisor of the lowest
// frequencies) and check every divisor against the llama3 formula with the constants every Llama
// 3.1+ release uses (low 1, high 4, original context 8192), refusing a tensor that is something else.
// Token ids come from the `tokenizer.ggml.*_token_id` keys, stop ids from eos and eot (and eom).

import { UnsupportedError } from "../errors.js";
import type { GgufValue } from "../io/gguf/gguf-header.js";
import type { GgufMetadataReader } from "../io/gguf/gguf-metadata.js";
import type { LlamaConfig, RopeScaling } from "./config.js";
import type { ParsedConfig } from "./hf-config.js";
import { META_ROPE_SCALING } from "./meta-params.js";

/** The architecture we run (`general.architecture`). */
const GGUF_ARCHITECTURE = "llama";

/** llama.cpp's default rope base when `llama.rope.freq_base` is absent (llama_hparams rope_freq_base_train). */
const LLAMA_CPP_DEFAULT_ROPE_BASE = 10000;

/**
 * Relative tolerance for rope_freqs.weight against the llama3 formula: llama.cpp's converter
 * rounds every step to float32 as llama3RopeDivisors does, but other writers may compute in float64
 * (a few float32 ulps, 1e-7 each, apart); 1e-5 allows that and rejects any other parameter set.
 */
const ROPE_FREQS_TOLERANCE = 1e-5;

/** Keys that do not change the forward pass, or are read elsewhere (the tokenizer's, the tensors' layout). */
const IGNORED_PREFIXES = ["general.", "tokenizer.", "split."];

/** Facts the config takes from the tensors rather than keys. */
export interface GgufTensorFacts {
  /** Rows of token_embd.weight. */
  readonly vocabSize: number;
  /** output.weight is present (else the output head is the tied embedding). */
  readonly hasOutput: boolean;
  /** rope_freqs.weight as float32, when present. */
  readonly ropeFreqs: Float32Array | undefined;
}

/**
 * Parse a GGUF's metadata into a LlamaConfig.
 * @throws UnsupportedError for another architecture or a rope scaling we do not implement;
 *   ConfigError naming the key for a missing or malformed value
 */
export function parseGgufConfig(r: GgufMetadataReader, tensors: GgufTensorFacts): ParsedConfig {
  const architecture = r.string("general.architecture");
  if (architecture !== GGUF_ARCHITECTURE) throw new UnsupportedError(`${r.path}: general.architecture is "${architecture}"; only "${GGUF_ARCHITECTURE}" is supported`);
  const k = (name: string): string => `${GGUF_ARCHITECTURE}.${name}`;
  const dim = r.int(k("embedding_length"), 1);
  const nHeads = r.int(k("attention.head_count"), 1);
  const nKvHeads = r.optionalInt(k("attention.head_count_kv"), 1) ?? nHeads;
  if (nHeads % nKvHeads !== 0) throw r.fail(k("attention.head_count_kv"), `${nKvHeads} must divide attention.head_count (${nHeads})`);
  const headDim = r.optionalInt(k("attention.key_length"), 2) ?? dim / nHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw r.fail(k("attention.key_length"), `head size ${headDim} must be an even integer`);
  const valueLength = r.optionalInt(k("attention.value_length"), 1) ?? headDim;
  if (valueLength !== headDim) throw new UnsupportedError(`${r.path}: ${k("attention.value_length")} ${valueLength} differs from key_length ${headDim}`);
  const ropeDims = r.optionalInt(k("rope.dimension_count"), 1) ?? headDim;
  if (ropeDims !== headDim) throw new UnsupportedError(`${r.path}: ${k("rope.dimension_count")} ${ropeDims} is not the head size ${headDim} (partial rotary embeddings are not supported)`);
  if ((r.optionalInt(k("expert_count")) ?? 0) > 0) throw new UnsupportedError(`${r.path}: mixture-of-experts models (${k("expert_count")}) are not supported`);
  const vocabKey = r.optionalInt(k("vocab_size"), 1);
  if (vocabKey !== undefined && vocabKey !== tensors.vocabSize) throw r.fail(k("vocab_size"), `${vocabKey} disagrees with token_embd.weight's ${tensors.vocabSize} rows`);
  const ropeTheta = r.optionalNumber(k("rope.freq_base"), { positive: true }) ?? LLAMA_CPP_DEFAULT_ROPE_BASE;
  const contextLength = r.int(k("context_length"), 1);

  const eos = r.optionalInt("tokenizer.ggml.eos_token_id");
  const stopIds = [eos, r.optionalInt("tokenizer.ggml.eot_token_id"), r.optionalInt("tokenizer.ggml.eom_token_id")].filter((id): id is number => id !== undefined);
  const config: LlamaConfig = {
    dim,
    hiddenDim: r.int(k("feed_forward_length"), 1),
    nLayers: r.int(k("block_count"), 1),
    nHeads,
    nKvHeads,
    headDim,
    vocabSize: tensors.vocabSize,
    normEps: r.number(k("attention.layer_norm_rms_epsilon"), { positive: true }),
    ropeTheta,
    ropeScaling: parseRopeScaling(r, tensors.ropeFreqs, headDim, ropeTheta),
    maxPositionEmbeddings: contextLength,
    tieWordEmbeddings: !tensors.hasOutput,
    bosTokenId: r.optionalInt("tokenizer.ggml.bos_token_id"),
    eosTokenIds: [...new Set(stopIds)],
    padTokenId: r.optionalInt("tokenizer.ggml.padding_token_id"),
    storedDType: undefined,
  };
  const unknownKeys = r.unknownKeys().filter((key) => !IGNORED_PREFIXES.some((p) => key.startsWith(p)));
  return { config, unknownKeys, warnings: [] };
}

function parseRopeScaling(r: GgufMetadataReader, ropeFreqs: Float32Array | undefined, headDim: number, theta: number): RopeScaling {
  const type = r.optionalString("llama.rope.scaling.type");
  if (type !== undefined && type !== "none" && !(type === "linear" && (r.optionalNumber("llama.rope.scaling.factor") ?? 1) === 1)) {
    throw new UnsupportedError(`${r.path}: llama.rope.scaling.type "${type}" is not supported (Llama 3 uses the llama3 scaling, stored as rope_freqs.weight)`);
  }
  r.ignore("llama.rope.scaling.factor", "llama.rope.scaling.original_context_length");
  if (ropeFreqs === undefined) return { kind: "none" };
  if (ropeFreqs.length !== headDim / 2) throw new UnsupportedError(`${r.path}: rope_freqs.weight has ${ropeFreqs.length} values, expected ${headDim / 2} (head size / 2)`);
  const factor = Math.max(...ropeFreqs);
  const scaling: RopeScaling = { kind: "llama3", ...META_ROPE_SCALING, factor };
  const expected = llama3RopeDivisors(headDim, theta, scaling);
  ropeFreqs.forEach((value, i) => {
    if (Math.abs(value - expected[i]!) > ROPE_FREQS_TOLERANCE * expected[i]!) {
      throw new UnsupportedError(`${r.path}: rope_freqs.weight[${i}] is ${value}, but the llama3 scaling (factor ${factor}, low 1, high 4, original context 8192) gives ${expected[i]}; other rope scalings are not supported`);
    }
  });
  return factor === 1 ? { kind: "none" } : scaling;
}

/**
 * The per-frequency divisors llama.cpp's converter writes as rope_freqs.weight for a llama3 scaling
 * (convert_hf_to_gguf.py LlamaModel.generate_extra_tensors): 1 for high frequencies, `factor` for
 * low ones, 1 / ((1 - smooth) / factor + smooth) between. The converter iterates a float32 torch
 * tensor, so every operation rounds to float32; so does this (bit-identical to its output).
 * @returns (headDim / 2) divisors
 */
export function llama3RopeDivisors(headDim: number, theta: number, s: Extract<RopeScaling, { kind: "llama3" }>): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(headDim / 2);
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < out.length; i++) {
    const freq = f(1 / f(Math.pow(theta, f((2 * i) / headDim))));
    const wavelen = f((2 * Math.PI) / freq);
    if (wavelen < highFreqWavelen) out[i] = 1;
    else if (wavelen > lowFreqWavelen) out[i] = s.factor;
    else {
      const smooth = f(f(f(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
      out[i] = f(1 / f(f(f(1 - smooth) / s.factor) + smooth));
    }
  }
  return out;
}

/**
 * The `general.architecture` and `llama.*` keys for a config, as llama.cpp's convert_hf_to_gguf.py
 * writes them (LlamaModel.set_gguf_parameters), and the rope_freqs.weight divisors for a llama3
 * scaling (undefined without one).
 * @throws UnsupportedError for a llama3 scaling with other constants than low 1, high 4, original
 *   context 8192 (the reader could not recover them from rope_freqs.weight)
 */
export function ggufConfigMetadata(config: LlamaConfig): { metadata: [string, GgufValue][]; ropeFreqs: Float32Array | undefined } {
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const f32 = (value: number): GgufValue => ({ type: "f32", value: Math.fround(value) });
  const k = (name: string): string => `${GGUF_ARCHITECTURE}.${name}`;
  const metadata: [string, GgufValue][] = [
    ["general.architecture", { type: "string", value: GGUF_ARCHITECTURE }],
    [k("block_count"), u32(config.nLayers)],
    [k("context_length"), u32(config.maxPositionEmbeddings)],
    [k("embedding_length"), u32(config.dim)],
    [k("feed_forward_length"), u32(config.hiddenDim)],
    [k("attention.head_count"), u32(config.nHeads)],
    [k("attention.head_count_kv"), u32(config.nKvHeads)],
    [k("rope.freq_base"), f32(config.ropeTheta)],
    [k("attention.layer_norm_rms_epsilon"), f32(config.normEps)],
    [k("attention.key_length"), u32(config.headDim)],
    [k("attention.value_length"), u32(config.headDim)],
    [k("vocab_size"), u32(config.vocabSize)],
    [k("rope.dimension_count"), u32(config.headDim)],
  ];
  const s = config.ropeScaling;
  if (s.kind === "none") return { metadata, ropeFreqs: undefined };
  const m = META_ROPE_SCALING;
  if (s.lowFreqFactor !== m.lowFreqFactor || s.highFreqFactor !== m.highFreqFactor || s.originalMaxPositionEmbeddings !== m.originalMaxPositionEmbeddings) {
    throw new UnsupportedError(`llama3 rope scaling with low ${s.lowFreqFactor}, high ${s.highFreqFactor}, original context ${s.originalMaxPositionEmbeddings} cannot be written to GGUF (only Llama 3.1's 1, 4, 8192 can be read back from rope_freqs.weight)`);
  }
  return { metadata, ropeFreqs: llama3RopeDivisors(config.headDim, config.ropeTheta, s) };
}
