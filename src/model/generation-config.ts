// Parses a Hugging Face `generation_config.json`: the stop ids (`eos_token_id`, a number or a
// list; transformers' generate() stops on these, which for the Instruct models include <|eot_id|>
// even when config.json names only <|end_of_text|>) and the sampling defaults a checkpoint ships
// (Llama 3 Instruct: do_sample true, temperature 0.6, top_p 0.9). Only the keys generation uses are
// read; call options override them (generate/options.ts).

import { ConfigError } from "../errors.js";
import { isJsonObject } from "../json.js";
import { ConfigReader } from "./config-reader.js";

/** generation_config.json's values; a field is undefined when the file does not set it. */
export interface GenerationDefaults {
  /** Ids that end generation; empty when the file names none. */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId?: number;
  readonly doSample?: boolean;
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly minP?: number;
  readonly repetitionPenalty?: number;
  readonly maxNewTokens?: number;
  /** transformers' max_length: prompt + new tokens (used when max_new_tokens is absent). */
  readonly maxLength?: number;
  readonly minNewTokens?: number;
}

/**
 * @throws ConfigError when the file is not an object or a key it reads is malformed
 */
export function parseGenerationConfig(json: unknown, path?: string): GenerationDefaults {
  if (!isJsonObject(json)) throw new ConfigError("(root)", "generation_config.json must hold a JSON object", path === undefined ? {} : { path });
  const r = new ConfigReader(json, path);
  const defaults: { -readonly [K in keyof GenerationDefaults]: GenerationDefaults[K] } = { eosTokenIds: r.optionalIdList("eos_token_id") };
  const pad = r.optionalIdList("pad_token_id");
  if (pad[0] !== undefined) defaults.padTokenId = pad[0];
  if (r.has("do_sample")) defaults.doSample = r.optionalBoolean("do_sample", false);
  if (r.has("temperature")) defaults.temperature = r.optionalNumber("temperature", 1, { positive: true });
  if (r.has("top_k")) defaults.topK = r.optionalInt("top_k", 0);
  if (r.has("top_p")) defaults.topP = r.optionalNumber("top_p", 1, { positive: true });
  if (r.has("min_p")) defaults.minP = r.optionalNumber("min_p", 0);
  if (r.has("repetition_penalty")) defaults.repetitionPenalty = r.optionalNumber("repetition_penalty", 1, { positive: true });
  if (r.has("max_new_tokens")) defaults.maxNewTokens = r.int("max_new_tokens");
  if (r.has("max_length")) defaults.maxLength = r.int("max_length");
  if (r.has("min_new_tokens")) defaults.minNewTokens = r.optionalInt("min_new_tokens", 0);
  return Object.fromEntries(Object.entries(defaults).filter(([, v]) => v !== undefined)) as unknown as GenerationDefaults;
}
