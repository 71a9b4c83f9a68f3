// Turns the parsed tokenizer files of either distribution into one description, TokenizerData, that
// the Tokenizer class is built from:
// - Hugging Face: tokenizer.json (+ tokenizer_config.json, + chat_template.jinja). Not
//   generation_config.json: its eos_token_id list belongs to the model's config (src/model), and
//   callers merge it with the tokenizer's own stop ids;
// - Meta: tokenizer.model (tiktoken ranks) + Llama 3's 256 special tokens, named for 3.0 or 3.1+,
//   with Meta's conventions: BOS <|begin_of_text|>, EOS <|end_of_text|>, encode adds BOS.
// Policy decisions that both share live here, in one place.

import { FormatError } from "../errors.js";
import type { AddedToken } from "./added-tokens.js";
import { byteLevelToBytes } from "./byte-level.js";
import { checkAddedToken, parseHfTokenizerJson } from "./load-hf.js";
import { parseTiktokenBpe } from "./load-tiktoken.js";
import {
  BEGIN_OF_TEXT,
  END_OF_TEXT,
  llama3SpecialTokenNames,
  type SpecialTokenNames,
} from "./special-tokens.js";
import type { TokenTable } from "./token-table.js";
import { parseTokenizerConfig } from "./tokenizer-config.js";

/** Everything a Tokenizer is made of, independent of the file format it came from. */
export interface TokenizerData {
  readonly table: TokenTable;
  readonly addedTokens: readonly AddedToken[];
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string | undefined;
  /** Ids `encode` puts before / after the text when addSpecialTokens is true. */
  readonly prefixIds: readonly number[];
  readonly suffixIds: readonly number[];
  readonly chatTemplates: ReadonlyMap<string, string>;
  readonly cleanUpTokenizationSpaces: boolean;
  /** Default for allowedSpecial: true means "none" (special-token text is plain text). */
  readonly splitSpecialTokens: boolean;
  readonly specialTokenNames: SpecialTokenNames | undefined;
  /** Where it was loaded from, for messages. */
  readonly source: string;
  readonly warnings: readonly string[];
}

/** Text of the Hugging Face files and their paths (paths are for messages only). */
export interface HfSourceFiles {
  readonly tokenizerJson: string;
  readonly tokenizerJsonPath: string;
  readonly tokenizerConfig?: string | undefined;
  readonly tokenizerConfigPath?: string | undefined;
  /** A chat_template.jinja beside the config: newer transformers save the template there. */
  readonly chatTemplateFile?: string | undefined;
}

/**
 * Build from Hugging Face files.
 *
 * @throws FormatError / UnsupportedError from the parsers, or FormatError when the config names a
 *   token that does not exist or contradicts tokenizer.json
 */
export function dataFromHuggingFace(files: HfSourceFiles): TokenizerData {
  const file = parseHfTokenizerJson(files.tokenizerJson, files.tokenizerJsonPath);
  const configPath = files.tokenizerConfigPath ?? "tokenizer_config.json";
  const config = files.tokenizerConfig === undefined ? undefined : parseTokenizerConfig(files.tokenizerConfig, configPath);
  const warnings = [...file.warnings, ...(config?.warnings ?? [])];

  const added = new Map<number, AddedToken>(file.addedTokens.map((t) => [t.id, t]));
  for (const token of config?.addedTokens ?? []) {
    const existing = added.get(token.id);
    const sameContent = [...added.values()].find((t) => t.content === token.content);
    if (sameContent !== undefined && sameContent.id !== token.id) {
      throw new FormatError(configPath, `added_tokens_decoder: ${JSON.stringify(token.content)} is id ${token.id} but ${sameContent.id} in ${files.tokenizerJsonPath}`);
    }
    if (existing === undefined) {
      checkAddedToken(token, file.table, `added_tokens_decoder[${JSON.stringify(String(token.id))}]`, configPath);
      added.set(token.id, token); // transformers adds these at load time too
    } else if (existing.content !== token.content) {
      throw new FormatError(configPath, `added_tokens_decoder: id ${token.id} is ${JSON.stringify(token.content)} but ${JSON.stringify(existing.content)} in ${files.tokenizerJsonPath}`);
    }
  }
  const addedTokens = [...added.values()].sort((a, b) => a.id - b.id);
  const idOf = (content: string, key: string): number => {
    const token = addedTokens.find((t) => t.content === content);
    if (token !== undefined) return token.id;
    const bytes = byteLevelToBytes(content);
    const id = bytes === undefined ? -1 : file.table.lookup(bytes, 0, bytes.length);
    if (id < 0) throw new FormatError(configPath, `${key} ${JSON.stringify(content)} is not a token of ${files.tokenizerJsonPath}`);
    return id;
  };
  const bosToken = config?.bosToken ?? BEGIN_OF_TEXT;
  const eosToken = config?.eosToken ?? END_OF_TEXT;
  const padToken = config?.padToken;
  const bosId = idOf(bosToken, "bos_token");
  const eosId = idOf(eosToken, "eos_token");
  if (padToken !== undefined) idOf(padToken, "pad_token");

  let prefixIds: readonly number[];
  let suffixIds: readonly number[];
  if (config?.addBosToken !== undefined || config?.addEosToken !== undefined) {
    // LlamaTokenizerFast rebuilds the template from these switches (defaults: BOS yes, EOS no).
    prefixIds = (config.addBosToken ?? true) ? [bosId] : [];
    suffixIds = (config.addEosToken ?? false) ? [eosId] : [];
  } else if (file.template !== undefined) {
    prefixIds = file.template.prefix;
    suffixIds = file.template.suffix;
  } else {
    // The first Llama 3 tokenizer.json releases had no template, so HF added no BOS at all; the
    // model needs it, Meta's code adds it and the fixed HF files add it. We add it.
    prefixIds = [bosId];
    suffixIds = [];
    warnings.push(`${files.tokenizerJsonPath}: post_processor has no template; BOS is added as in Meta's reference`);
  }

  const chatTemplates = new Map(config?.chatTemplates ?? []);
  if (files.chatTemplateFile !== undefined) chatTemplates.set("default", files.chatTemplateFile);
  return {
    table: file.table,
    addedTokens,
    bosToken,
    eosToken,
    padToken,
    prefixIds,
    suffixIds,
    chatTemplates,
    cleanUpTokenizationSpaces: config?.cleanUpTokenizationSpaces ?? false,
    splitSpecialTokens: config?.splitSpecialTokens ?? false,
    specialTokenNames: undefined,
    source: files.tokenizerJsonPath,
    warnings,
  };
}

/**
 * Build from Meta's tokenizer.model text and the special-token naming.
 *
 * @throws FormatError from the tiktoken parser
 */
export function dataFromTiktoken(text: string, path: string, names: SpecialTokenNames): TokenizerData {
  const table = parseTiktokenBpe(text, path);
  const addedTokens = llama3SpecialTokenNames(names).map((content, k) => ({ id: table.size + k, content, special: true }));
  return {
    table,
    addedTokens,
    bosToken: BEGIN_OF_TEXT,
    eosToken: END_OF_TEXT,
    padToken: undefined,
    prefixIds: [table.size], // <|begin_of_text|>, Meta's encode(bos=True)
    suffixIds: [],
    chatTemplates: new Map(),
    cleanUpTokenizationSpaces: false,
    splitSpecialTokens: false,
    specialTokenNames: names,
    source: path,
    warnings: [],
  };
}
