// Parses the parts of a Hugging Face `generation_config.json` that change how generation stops:
// `eos_token_id` (a number or a list). transformers' generate() stops on these ids, which for the
// Instruct models include <|eot_id|> even when config.json names only <|end_of_text|>. Sampling
// defaults (temperature, top_p) are read by the generation layer, not here.

import { ConfigError } from "../errors.js";
import { isJsonObject } from "../json.js";
import { ConfigReader } from "./config-reader.js";

export interface GenerationDefaults {
  /** Ids that end generation; empty when the file names none. */
  readonly eosTokenIds: readonly number[];
}

/**
 * @throws ConfigError when the file is not an object or eos_token_id is malformed
 */
export function parseGenerationConfig(json: unknown, path?: string): GenerationDefaults {
  if (!isJsonObject(json)) throw new ConfigError("(root)", "generation_config.json must hold a JSON object", path === undefined ? {} : { path });
  return { eosTokenIds: new ConfigReader(json, path).optionalIdList("eos_token_id") };
}
