// The tokenizer of a GGUF file: the `tokenizer.ggml.*` keys (llama.cpp src/llama-vocab.cpp
// llama_vocab::impl::load) restricted to what Llama 3 uses: model "gpt2" (byte-level BPE) with the
// "llama-bpe" pre-tokenizer (llama.cpp also names it "llama3" / "llama-v3"), tokens spelled in the
// byte-level alphabet, merges ordered by the id of the merged token (so rank-by-id BPE, the encoder
// we have, is exact: the same check as for tokenizer.json), token types (NORMAL tokens are the BPE
// vocabulary, CONTROL tokens are special added tokens, USER_DEFINED plain added tokens), bos/eos/pad
// ids, add_bos_token / add_eos_token and the chat template(s). The result is the same
// TokenizerData a tokenizer.json gives. Departure: decode does not clean up spaces (llama.cpp's
// llama-bpe vocab does not; Meta's reference does not).

import { FormatError, UnsupportedError } from "../errors.js";
import type { GgufMetadataReader } from "../io/gguf/gguf-metadata.js";
import { type AddedToken, MAX_ADDED_TOKENS } from "./added-tokens.js";
import { byteLevelCharToByte } from "./byte-level.js";
import { checkAddedToken } from "./load-hf.js";
import { MAX_BPE_TOKENS } from "./load-tiktoken.js";
import type { TokenizerData } from "./sources.js";
import { TokenTable } from "./token-table.js";

/** llama.cpp's `enum llama_token_type` values (gguf-py TokenType). */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** Names of Llama 3's pre-tokenizer in llama.cpp (llama-vocab.cpp, LLAMA_VOCAB_PRE_TYPE_LLAMA3). */
const LLAMA3_PRE_NAMES: ReadonlySet<string> = new Set(["llama-bpe", "llama3", "llama-v3"]);

/** Prefix of named chat templates (`tokenizer.chat_template.tool_use`). */
const NAMED_TEMPLATE_PREFIX = "tokenizer.chat_template.";

/**
 * Build tokenizer data from a GGUF's metadata.
 * @throws UnsupportedError for another tokenizer model or pre-tokenizer; ConfigError for a missing
 *   or mistyped key; FormatError for tokens, types or merges that do not form a Llama 3 tokenizer
 */
export function dataFromGguf(r: GgufMetadataReader): TokenizerData {
  const path = r.path;
  const model = r.string("tokenizer.ggml.model");
  if (model !== "gpt2") throw new UnsupportedError(`${path}: tokenizer.ggml.model "${model}" is not supported (Llama 3 uses "gpt2", byte-level BPE)`);
  const warnings: string[] = [];
  const pre = r.optionalString("tokenizer.ggml.pre");
  if (pre === undefined) warnings.push(`${path}: tokenizer.ggml.pre is missing; using Llama 3's pre-tokenizer (llama-bpe)`);
  else if (!LLAMA3_PRE_NAMES.has(pre)) throw new UnsupportedError(`${path}: tokenizer.ggml.pre "${pre}" is not supported (only Llama 3's "llama-bpe")`);
  const tokens = r.stringArray("tokenizer.ggml.tokens");
  if (tokens.length > MAX_BPE_TOKENS + MAX_ADDED_TOKENS) throw r.fail("tokenizer.ggml.tokens", `${tokens.length} tokens, over the limit of ${MAX_BPE_TOKENS + MAX_ADDED_TOKENS}`);
  const types = r.optionalIntArray("tokenizer.ggml.token_type");
  if (types === undefined) throw r.fail("tokenizer.ggml.token_type", "missing (required to tell BPE tokens from special ones)");
  if (types.length !== tokens.length) throw r.fail("tokenizer.ggml.token_type", `has ${types.length} entries for ${tokens.length} tokens`);
  r.ignore("tokenizer.ggml.scores", "tokenizer.ggml.token_type_count");

  let nBpe = 0;
  while (nBpe < tokens.length && types[nBpe] === TOKEN_TYPE.normal) nBpe++;
  if (nBpe === 0) throw r.fail("tokenizer.ggml.token_type", "no NORMAL (BPE) tokens at the start of the vocabulary");
  const table = buildTable(tokens, nBpe, path);
  checkMerges(r.optionalStringArray("tokenizer.ggml.merges"), tokens, nBpe, path);
  const addedTokens: AddedToken[] = [];
  for (let id = nBpe; id < tokens.length; id++) {
    const type = types[id]!;
    const content = tokens[id]!;
    // UNUSED: the converter's "[PAD{i}]" filler up to the embedding's rows; never matched in text.
    if (type === TOKEN_TYPE.unused) continue;
    if (type !== TOKEN_TYPE.control && type !== TOKEN_TYPE.userDefined) {
      throw new FormatError(path, `tokenizer.ggml.token_type[${id}] is ${type}: after the ${nBpe} BPE tokens only CONTROL (3), USER_DEFINED (4) and UNUSED (5) tokens are supported (${JSON.stringify(content)})`);
    }
    checkAddedToken({ id, content }, table, `tokenizer.ggml.tokens[${id}]`, path);
    addedTokens.push({ id, content, special: type === TOKEN_TYPE.control });
  }
  const tokenOf = (key: string, required: boolean): string | undefined => {
    const id = r.optionalInt(key, 0, tokens.length - 1);
    if (id === undefined && required) throw r.fail(key, "missing (required)");
    return id === undefined ? undefined : tokens[id];
  };
  const bosToken = tokenOf("tokenizer.ggml.bos_token_id", true)!;
  const eosToken = tokenOf("tokenizer.ggml.eos_token_id", true)!;
  const padToken = tokenOf("tokenizer.ggml.padding_token_id", false);
  r.ignore("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id", "tokenizer.ggml.unknown_token_id");
  const bosId = r.optionalInt("tokenizer.ggml.bos_token_id")!;
  const eosId = r.optionalInt("tokenizer.ggml.eos_token_id")!;
  // llama.cpp: add_bos defaults to true for the llama-bpe vocab, add_eos to false.
  const prefixIds = (r.optionalBoolean("tokenizer.ggml.add_bos_token") ?? true) ? [bosId] : [];
  const suffixIds = (r.optionalBoolean("tokenizer.ggml.add_eos_token") ?? false) ? [eosId] : [];

  const chatTemplates = new Map<string, string>();
  const template = r.optionalString("tokenizer.chat_template");
  if (template !== undefined) chatTemplates.set("default", template);
  for (const key of r.unknownKeys(NAMED_TEMPLATE_PREFIX)) chatTemplates.set(key.slice(NAMED_TEMPLATE_PREFIX.length), r.string(key));
  for (const key of r.unknownKeys("tokenizer.")) warnings.push(`${path}: ${key} is ignored`);
  return {
    table, addedTokens, bosToken, eosToken, padToken, prefixIds, suffixIds, chatTemplates,
    cleanUpTokenizationSpaces: false,
    splitSpecialTokens: false,
    specialTokenNames: undefined,
    source: path,
    warnings,
  };
}

/** The BPE tokens 0..nBpe-1 (byte-level spelled) as a TokenTable; every byte must have a token. */
function buildTable(tokens: readonly string[], nBpe: number, path: string): TokenTable {
  let totalChars = 0;
  for (let id = 0; id < nBpe; id++) totalChars += tokens[id]!.length;
  const raw = new Uint8Array(totalChars);
  const starts = new Uint32Array(nBpe);
  const ends = new Uint32Array(nBpe);
  let at = 0;
  for (let id = 0; id < nBpe; id++) {
    const token = tokens[id]!;
    if (token.length === 0) throw new FormatError(path, `tokenizer.ggml.tokens[${id}] is empty`);
    starts[id] = at;
    for (let i = 0; i < token.length; i++) {
      const b = byteLevelCharToByte(token.charCodeAt(i));
      if (b < 0) throw new FormatError(path, `tokenizer.ggml.tokens[${id}] ${JSON.stringify(token)} is not spelled in the byte-level alphabet`);
      raw[at++] = b;
    }
    ends[id] = at;
  }
  const table = TokenTable.fromRanges(raw, starts, ends, (id, earlier) => {
    throw new FormatError(path, `tokenizer.ggml.tokens[${id}] and [${earlier}] are the same bytes ${JSON.stringify(tokens[id])}`);
  });
  const missing = table.missingByte();
  if (missing >= 0) throw new FormatError(path, `tokenizer.ggml.tokens: byte 0x${missing.toString(16)} has no token; byte-level BPE needs all 256`);
  return table;
}

/** Merges ("left right") must name BPE tokens and be ordered by the merged token's id (as tokenizer.json's). */
function checkMerges(merges: readonly string[] | undefined, tokens: readonly string[], nBpe: number, path: string): void {
  if (merges === undefined) return;
  const idOf = new Map<string, number>();
  for (let id = 0; id < nBpe; id++) idOf.set(tokens[id]!, id);
  let previous = -1;
  merges.forEach((merge, index) => {
    const space = merge.indexOf(" ");
    const merged = space > 0 && merge.indexOf(" ", space + 1) < 0 ? merge.slice(0, space) + merge.slice(space + 1) : undefined;
    if (merged === undefined) throw new FormatError(path, `tokenizer.ggml.merges[${index}] must be "left right", got ${JSON.stringify(merge)}`);
    const id = idOf.get(merged);
    if (id === undefined) throw new FormatError(path, `tokenizer.ggml.merges[${index}]: ${JSON.stringify(merged)} is not a BPE token`);
    if (id < previous) {
      throw new UnsupportedError(`${path}: tokenizer.ggml.merges[${index}] is out of rank order (merged id ${id} after ${previous}); only merges ordered by merged-token id (like Llama 3's) are supported`);
    }
    previous = id;
  });
}
