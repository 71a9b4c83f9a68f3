// Reader for Hugging Face `tokenizer_config.json` (transformers' PreTrainedTokenizerBase init kwargs):
// the wire keys are read here, once, into camelCase. Special-token fields may be a string or a
// serialised AddedToken (`{"content": ...}`); `chat_template` may be a string or a list of
// `{name, template}`. Unknown keys are reported as warnings; keys with no effect on tokenization are
// accepted silently. (generation_config.json is src/model's, generation-config.ts: the tokenizer
// does not read it.)

import { FormatError } from "../errors.js";
import { isJsonObject, parseJsonText } from "../json.js";
import type { AddedToken } from "./added-tokens.js";
import { expectArray, expectObject, expectString, MAX_TOKEN_ID, optionalBoolean, typeName } from "./json-fields.js";

/** The parts of tokenizer_config.json that matter to the tokenizer. */
export interface TokenizerConfig {
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;
  /** LlamaTokenizerFast's switches; when set they override the post-processor template. */
  readonly addBosToken: boolean | undefined;
  readonly addEosToken: boolean | undefined;
  /** Chat templates by name; a plain string template is named "default". */
  readonly chatTemplates: ReadonlyMap<string, string>;
  readonly cleanUpTokenizationSpaces: boolean | undefined;
  /** `split_special_tokens: true` means special-token text is encoded as plain text by default. */
  readonly splitSpecialTokens: boolean | undefined;
  /** `added_tokens_decoder`, by id. */
  readonly addedTokens: readonly AddedToken[];
  readonly warnings: readonly string[];
}

/** Keys read above or known to have no effect on encoding/decoding ids. */
const KNOWN_KEYS = new Set([
  "bos_token", "eos_token", "pad_token", "unk_token", "sep_token", "cls_token", "mask_token",
  "add_bos_token", "add_eos_token", "chat_template", "clean_up_tokenization_spaces", "split_special_tokens",
  "added_tokens_decoder", "additional_special_tokens", "extra_special_tokens", "model_max_length",
  "tokenizer_class", "model_input_names", "padding_side", "truncation_side", "legacy", "add_prefix_space",
  "name_or_path", "processor_class", "auto_map", "use_default_system_prompt", "spaces_between_special_tokens",
  "tokenizer_file", "vocab_file", "from_slow", "errors", "max_length", "stride", "truncation_strategy", "pad_to_multiple_of",
]);

/**
 * Parse the text of a tokenizer_config.json.
 *
 * @throws FormatError naming the file and key when a field has the wrong type
 */
export function parseTokenizerConfig(text: string, path: string): TokenizerConfig {
  const root = expectObject(parseJsonText(text, path), "the top level", path);
  const warnings = Object.keys(root)
    .filter((k) => !KNOWN_KEYS.has(k))
    .map((k) => `${path}: unknown key "${k}" ignored`);
  for (const key of ["unk_token", "sep_token", "cls_token", "mask_token"]) {
    if (root[key] !== undefined && root[key] !== null) warnings.push(`${path}: "${key}" is ignored (Llama 3 has no use for it)`);
  }
  return {
    bosToken: tokenField(root["bos_token"], "bos_token", path),
    eosToken: tokenField(root["eos_token"], "eos_token", path),
    padToken: tokenField(root["pad_token"], "pad_token", path),
    addBosToken: optionalBoolean(root["add_bos_token"], "add_bos_token", path),
    addEosToken: optionalBoolean(root["add_eos_token"], "add_eos_token", path),
    chatTemplates: chatTemplates(root["chat_template"], path),
    cleanUpTokenizationSpaces: optionalBoolean(root["clean_up_tokenization_spaces"], "clean_up_tokenization_spaces", path),
    splitSpecialTokens: optionalBoolean(root["split_special_tokens"], "split_special_tokens", path),
    addedTokens: addedTokensDecoder(root["added_tokens_decoder"], path),
    warnings,
  };
}

/** A special-token field: absent/null, a string, or an AddedToken object with `content`. */
function tokenField(value: unknown, key: string, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (isJsonObject(value)) return expectString(value["content"], `${key}.content`, path);
  throw new FormatError(path, `${key} must be a string or an AddedToken object, got ${typeName(value)}`);
}

function chatTemplates(value: unknown, path: string): Map<string, string> {
  const templates = new Map<string, string>();
  if (value === undefined || value === null) return templates;
  if (typeof value === "string") return templates.set("default", value);
  expectArray(value, "chat_template", path).forEach((entry, index) => {
    const obj = expectObject(entry, `chat_template[${index}]`, path);
    const name = expectString(obj["name"], `chat_template[${index}].name`, path);
    if (templates.has(name)) throw new FormatError(path, `chat_template: two templates are named ${JSON.stringify(name)}`);
    templates.set(name, expectString(obj["template"], `chat_template[${index}].template`, path));
  });
  return templates;
}

function addedTokensDecoder(value: unknown, path: string): AddedToken[] {
  if (value === undefined || value === null) return [];
  const table = expectObject(value, "added_tokens_decoder", path);
  return Object.keys(table).map((key) => {
    const field = `added_tokens_decoder[${JSON.stringify(key)}]`;
    if (!/^\d+$/.test(key)) throw new FormatError(path, `${field}: key must be a token id (decimal digits)`);
    const id = Number(key); // transformers reads it with int(); Number of a long key is huge or Infinity
    if (id > MAX_TOKEN_ID) throw new FormatError(path, `${field}: id ${key} is over MAX_TOKEN_ID = ${MAX_TOKEN_ID}`);
    const entry = expectObject(table[key], field, path);
    const content = expectString(entry["content"], `${field}.content`, path);
    if (content === "") throw new FormatError(path, `${field}.content is empty`);
    return { id, content, special: optionalBoolean(entry["special"], `${field}.special`, path) ?? false };
  });
}
