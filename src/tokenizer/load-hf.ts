// Reader for a Hugging Face `tokenizer.json` (the tokenizers library's serialisation) restricted to
// what Llama 3 uses: a byte-level BPE model with `ignore_merges: true`, no normalizer, the pre-tokenizer
// Sequence[Split(Llama 3 regex, Isolated), ByteLevel(use_regex: false)], the ByteLevel decoder, and a
// post-processor that is ByteLevel and/or TemplateProcessing (which says what to add around a
// sequence: BOS for Llama 3). Anything else is rejected with UnsupportedError naming the component,
// rather than encoded differently from the reference. Field names follow tokenizers' serde
// (huggingface/tokenizers `tokenizers/src/**/serialization`).
//
// Merges are not used for encoding: the encoder merges by rank = id, as tiktoken does. That is exact
// when the merges list is ordered by the id of the merged token, as in every Llama 3 tokenizer.json
// (transformers generated it from the tiktoken ranks); we check that order and refuse files without it.
// Untrusted-input limits: every id is an integer up to MAX_TOKEN_ID; an added token either names a
// BPE id with that token's own text or extends the vocabulary by less than MAX_ADDED_TOKENS
// (checkAddedToken); the post-processor template's ids must be tokens of the file; Sequence
// post-processors nest at most MAX_POST_PROCESSOR_DEPTH deep.

import { FormatError, UnsupportedError } from "../errors.js";
import { isJsonObject, type JsonObject, parseJsonText } from "../json.js";
import { type AddedToken, MAX_ADDED_TOKENS } from "./added-tokens.js";
import { byteLevelCharToByte, bytesToByteLevel, utf8Encode } from "./byte-level.js";
import { expectArray, expectObject, expectString, expectTokenId, optionalBoolean, typeName } from "./json-fields.js";
import { MAX_BPE_TOKENS } from "./load-tiktoken.js";
import { LLAMA3_SPLIT_PATTERN } from "./pattern.js";
import { TokenTable } from "./token-table.js";

/**
 * Deepest nesting of `Sequence` post-processors accepted (Llama 3 has Sequence[ByteLevel, Template]:
 * depth 2). Bounds the recursion, so a hostile file gets a FormatError instead of a stack overflow.
 */
export const MAX_POST_PROCESSOR_DEPTH = 8;

/** What a tokenizer.json contributes to a tokenizer. */
export interface HfTokenizerFile {
  readonly table: TokenTable;
  readonly addedTokens: readonly AddedToken[];
  /** Special-token ids the post-processor's template puts around a single sequence, if it has one. */
  readonly template: { readonly prefix: readonly number[]; readonly suffix: readonly number[] } | undefined;
  /** Things that were read but ignored (truncation, padding settings). */
  readonly warnings: readonly string[];
}

/**
 * Parse the text of a tokenizer.json.
 *
 * @param path the file's path, for error messages
 * @throws FormatError for malformed JSON or fields; UnsupportedError for a valid tokenizer this
 *   library does not implement (another model type, pre-tokenizer, normalizer, decoder...)
 */
export function parseHfTokenizerJson(text: string, path: string): HfTokenizerFile {
  const root = expectObject(parseJsonText(text, path), "the top level", path);
  const warnings: string[] = [];
  for (const key of ["truncation", "padding"]) {
    if (root[key] !== undefined && root[key] !== null) warnings.push(`${path}: "${key}" settings are ignored`);
  }
  if (root["normalizer"] !== undefined && root["normalizer"] !== null) {
    throw new UnsupportedError(`${path}: normalizer ${describeType(root["normalizer"])} is not supported (Llama 3 has none)`);
  }
  checkPreTokenizer(root["pre_tokenizer"], path);
  checkDecoder(root["decoder"], path);
  const table = readBpeModel(expectObject(root["model"], "model", path), path);
  const addedTokens = readAddedTokens(root["added_tokens"] ?? [], table, path);
  const template = readPostProcessor(root["post_processor"], { table, added: addedTokens, path }, 1);
  return { table, addedTokens, template, warnings };
}

function describeType(value: unknown): string {
  return isJsonObject(value) && typeof value["type"] === "string" ? `"${value["type"]}"` : typeName(value);
}

function checkPreTokenizer(value: unknown, path: string): void {
  const unsupported = (why: string): UnsupportedError =>
    new UnsupportedError(`${path}: pre_tokenizer ${why}; only Llama 3's Sequence[Split(Llama 3 pattern), ByteLevel] is supported`);
  if (!isJsonObject(value) || value["type"] !== "Sequence") throw unsupported(`is ${describeType(value)}`);
  const steps = expectArray(value["pretokenizers"], "pre_tokenizer.pretokenizers", path);
  const [split, byteLevel] = steps;
  if (steps.length !== 2 || !isJsonObject(split) || !isJsonObject(byteLevel)) throw unsupported(`has ${steps.length} steps`);
  if (split["type"] !== "Split") throw unsupported(`step 1 is ${describeType(split)}, not "Split"`);
  const pattern = isJsonObject(split["pattern"]) ? split["pattern"]["Regex"] : undefined;
  if (pattern !== LLAMA3_SPLIT_PATTERN) throw unsupported(`splits on ${JSON.stringify(split["pattern"])}`);
  if (split["behavior"] !== "Isolated" || split["invert"] === true) {
    throw unsupported(`Split has behavior ${JSON.stringify(split["behavior"])}, invert ${JSON.stringify(split["invert"])}`);
  }
  if (byteLevel["type"] !== "ByteLevel") throw unsupported(`step 2 is ${describeType(byteLevel)}, not "ByteLevel"`);
  if (byteLevel["add_prefix_space"] === true || byteLevel["use_regex"] === true) {
    throw unsupported("ByteLevel step has add_prefix_space or use_regex set");
  }
}

function checkDecoder(value: unknown, path: string): void {
  if (!isJsonObject(value) || value["type"] !== "ByteLevel") {
    throw new UnsupportedError(`${path}: decoder ${describeType(value)} is not supported (Llama 3 uses "ByteLevel")`);
  }
}

function readBpeModel(model: JsonObject, path: string): TokenTable {
  if (model["type"] !== "BPE") throw new UnsupportedError(`${path}: model type ${describeType(model)} is not supported (need "BPE")`);
  if (model["ignore_merges"] !== true) {
    throw new UnsupportedError(`${path}: model.ignore_merges must be true (as in Llama 3); merges-only BPE is not supported`);
  }
  if (model["byte_fallback"] === true) throw new UnsupportedError(`${path}: model.byte_fallback is not supported`);
  if (model["dropout"] !== undefined && model["dropout"] !== null) throw new UnsupportedError(`${path}: BPE dropout is not supported`);
  for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    const v = model[key];
    if (v !== undefined && v !== null && v !== "") throw new UnsupportedError(`${path}: model.${key} is not supported`);
  }
  const vocab = expectObject(model["vocab"], "model.vocab", path);
  const tokens = Object.keys(vocab);
  const n = tokens.length;
  if (n === 0) throw new FormatError(path, "model.vocab is empty");
  if (n > MAX_BPE_TOKENS) throw new FormatError(path, `model.vocab has ${n} tokens, over the limit MAX_BPE_TOKENS = ${MAX_BPE_TOKENS}`);
  // Decode every token into one buffer (one byte per byte-level char) instead of an array per token.
  let totalChars = 0;
  for (const token of tokens) totalChars += token.length;
  const raw = new Uint8Array(totalChars);
  const starts = new Uint32Array(n);
  const ends = new Uint32Array(n);
  const tokenOfId = new Array<string | undefined>(n);
  let at = 0;
  for (const token of tokens) {
    const id = expectTokenId(vocab[token], `model.vocab[${JSON.stringify(token)}]`, path);
    if (id >= n) throw new FormatError(path, `model.vocab: id ${id} of ${JSON.stringify(token)} is out of range (${n} tokens must have ids 0..${n - 1})`);
    const earlier = tokenOfId[id];
    if (earlier !== undefined) throw new FormatError(path, `model.vocab: id ${id} is used by ${JSON.stringify(earlier)} and ${JSON.stringify(token)}`);
    tokenOfId[id] = token;
    starts[id] = at;
    for (let i = 0; i < token.length; i++) {
      const b = byteLevelCharToByte(token.charCodeAt(i));
      if (b < 0) throw new FormatError(path, `model.vocab: token ${JSON.stringify(token)} is not spelled in the byte-level alphabet`);
      raw[at++] = b;
    }
    if (at === starts[id]) throw new FormatError(path, "model.vocab: the empty string is not a token");
    ends[id] = at;
  }
  // n distinct ids below n: every id 0..n-1 is used.
  const table = TokenTable.fromRanges(raw, starts, ends, (id, earlier) => {
    throw new FormatError(path, `model.vocab: ${JSON.stringify(tokenOfId[id])} and ${JSON.stringify(tokenOfId[earlier])} are the same bytes`);
  });
  const missing = table.missingByte();
  if (missing >= 0) throw new FormatError(path, `model.vocab: byte 0x${missing.toString(16)} has no token; byte-level BPE needs all 256`);
  checkMergeOrder(expectArray(model["merges"] ?? [], "model.merges", path), vocab, path);
  return table;
}

/** Merges must be ordered by the id of the merged token, which makes rank-by-id BPE equal to them. */
function checkMergeOrder(merges: readonly unknown[], vocab: JsonObject, path: string): void {
  let previous = -1;
  merges.forEach((merge, index) => {
    // "left right" (tokenizers < 0.20) or ["left", "right"]; byte-level tokens never hold a space.
    let merged: string | undefined;
    if (typeof merge === "string") {
      const space = merge.indexOf(" ");
      if (space > 0 && merge.indexOf(" ", space + 1) < 0) merged = merge.slice(0, space) + merge.slice(space + 1);
    } else if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === "string" && typeof merge[1] === "string") {
      merged = merge[0] + merge[1];
    }
    if (merged === undefined) throw new FormatError(path, `model.merges[${index}] must be "left right" or [left, right], got ${JSON.stringify(merge)}`);
    const id = vocab[merged];
    if (typeof id !== "number") throw new FormatError(path, `model.merges[${index}]: ${JSON.stringify(merged)} is not in model.vocab`);
    if (id < previous) {
      throw new UnsupportedError(
        `${path}: model.merges[${index}] is out of rank order (merged id ${id} after ${previous}); only merges ordered by merged-token id (tiktoken-derived, like Llama 3) are supported`,
      );
    }
    previous = id;
  });
}

function readAddedTokens(value: unknown, table: TokenTable, path: string): AddedToken[] {
  const seenIds = new Map<number, number>();
  const seenContents = new Map<string, number>();
  return expectArray(value, "added_tokens", path).map((entry, index) => {
    const field = `added_tokens[${index}]`;
    const obj = expectObject(entry, field, path);
    const id = expectTokenId(obj["id"], `${field}.id`, path);
    const content = expectString(obj["content"], `${field}.content`, path);
    if (content === "") throw new FormatError(path, `${field}.content is empty`);
    const sameId = seenIds.get(id);
    if (sameId !== undefined) throw new FormatError(path, `${field}: id ${id} is also added_tokens[${sameId}]`);
    const sameContent = seenContents.get(content);
    if (sameContent !== undefined) throw new FormatError(path, `${field}: ${JSON.stringify(content)} is also added_tokens[${sameContent}]`);
    checkAddedToken({ id, content }, table, field, path);
    seenIds.set(id, index);
    seenContents.set(content, index);
    for (const flag of ["lstrip", "rstrip", "single_word"]) {
      if (optionalBoolean(obj[flag], `${field}.${flag}`, path) === true) {
        throw new UnsupportedError(`${path}: ${field} (${JSON.stringify(content)}) sets ${flag}, which is not supported`);
      }
    }
    return { id, content, special: optionalBoolean(obj["special"], `${field}.special`, path) ?? false };
  });
}

/**
 * Check that an added token (from tokenizer.json or tokenizer_config.json) fits the BPE vocabulary:
 * its id is either a BPE id whose bytes are the token's text (HF lets an added token name an existing
 * token) or a new id below nBpe + MAX_ADDED_TOKENS. An added token with a BPE id but other text would
 * shadow that token (its text would encode to the id, which decodes as the added text).
 *
 * @param field the field path for messages ("added_tokens[3]", `added_tokens_decoder["65"]`)
 * @throws FormatError naming both tokens, or the limit
 */
export function checkAddedToken(token: { readonly id: number; readonly content: string }, table: TokenTable, field: string, path: string): void {
  const { id, content } = token;
  if (id < table.size) {
    const bpe = table.bytes(id);
    const text = utf8Encode(content);
    if (bpe.length !== text.length || bpe.some((b, k) => b !== text[k])) {
      throw new FormatError(
        path,
        `${field}: added token ${JSON.stringify(content)} has id ${id}, which is the BPE token ${JSON.stringify(bytesToByteLevel(bpe))}; an added token may reuse a BPE id only for the same text`,
      );
    }
  } else if (id >= table.size + MAX_ADDED_TOKENS) {
    throw new FormatError(
      path,
      `${field}: id ${id} of ${JSON.stringify(content)} is more than MAX_ADDED_TOKENS = ${MAX_ADDED_TOKENS} past the ${table.size} BPE tokens`,
    );
  }
}

/** What the post-processor's template may refer to. */
interface TemplateContext {
  readonly table: TokenTable;
  readonly added: readonly AddedToken[];
  readonly path: string;
}

function readPostProcessor(value: unknown, context: TemplateContext, depth: number): HfTokenizerFile["template"] {
  if (value === undefined || value === null) return undefined;
  const { path } = context;
  const processor = expectObject(value, "post_processor", path);
  switch (processor["type"]) {
    case "ByteLevel":
      return undefined; // only adjusts offsets
    case "Sequence": {
      if (depth > MAX_POST_PROCESSOR_DEPTH) {
        throw new FormatError(path, `post_processor: Sequence nested deeper than MAX_POST_PROCESSOR_DEPTH = ${MAX_POST_PROCESSOR_DEPTH}`);
      }
      let template: HfTokenizerFile["template"];
      expectArray(processor["processors"], "post_processor.processors", path).forEach((p) => {
        template = readPostProcessor(p, context, depth + 1) ?? template;
      });
      return template;
    }
    case "TemplateProcessing":
      return readTemplate(processor, context);
    default:
      throw new UnsupportedError(`${path}: post_processor ${describeType(processor)} is not supported`);
  }
}

function readTemplate(processor: JsonObject, context: TemplateContext): HfTokenizerFile["template"] {
  const { table, added, path } = context;
  const addedIds = new Set(added.map((t) => t.id));
  const specials = expectObject(processor["special_tokens"] ?? {}, "post_processor.special_tokens", path);
  const prefix: number[] = [];
  const suffix: number[] = [];
  let seenSequence = false;
  expectArray(processor["single"], "post_processor.single", path).forEach((piece, index) => {
    const field = `post_processor.single[${index}]`;
    const item = expectObject(piece, field, path);
    if (isJsonObject(item["Sequence"])) {
      if (item["Sequence"]["id"] !== "A" || seenSequence) throw new FormatError(path, `${field}: a single template has one Sequence "A"`);
      seenSequence = true;
      return;
    }
    const name = expectString(expectObject(item["SpecialToken"], `${field}.SpecialToken`, path)["id"], `${field}.SpecialToken.id`, path);
    const entry = specials[name];
    let ids: readonly number[];
    if (isJsonObject(entry)) {
      ids = expectArray(entry["ids"], `post_processor.special_tokens[${JSON.stringify(name)}].ids`, path).map((value, k) => {
        const idField = `post_processor.special_tokens[${JSON.stringify(name)}].ids[${k}]`;
        const id = expectTokenId(value, idField, path);
        if (id >= table.size && !addedIds.has(id)) {
          throw new FormatError(path, `${idField} = ${id} is not a token (BPE ids 0..${table.size - 1} and the added tokens)`);
        }
        return id;
      });
    } else {
      const token = added.find((t) => t.content === name);
      if (token === undefined) throw new FormatError(path, `${field}: special token ${JSON.stringify(name)} is not defined`);
      ids = [token.id];
    }
    (seenSequence ? suffix : prefix).push(...ids);
  });
  if (!seenSequence) throw new FormatError(path, `post_processor.single has no Sequence "A"`);
  return { prefix, suffix };
}
