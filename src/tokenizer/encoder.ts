// Ordinary-text encoding (no special tokens): split with the Llama 3 pattern, then for each piece
// emit its id directly when the whole piece is a token (HF `ignore_merges: true`; tiktoken checks
// `encoder.get(piece)` first too), else byte-pair encode it. Two twins:
// - encodeOrdinaryReference: regex split (pattern.ts) + bytePairEncodeReference with a plain Map.
// - OrdinaryEncoder: the hand-written scanner, an index of token texts probed on the input range
//   itself for whole pieces (no UTF-8 conversion, no string allocation for the common case), a
//   two-generation cache of BPE results per piece, UTF-8 written into a reused buffer, and the
//   id-based BytePairEncoder. bpe.test.ts holds them equal.

import { BytePairEncoder, bytePairEncodeReference, MAX_RETAINED_SCRATCH_BYTES } from "./bpe.js";
import { byteKey, utf8Encode } from "./byte-level.js";
import { splitReference } from "./pattern.js";
import { PieceCache } from "./piece-cache.js";
import { PieceScanner } from "./scanner.js";
import { hashChars, TokenTextIndex } from "./text-index.js";
import type { TokenTable } from "./token-table.js";

/** Pieces longer than this (UTF-16 units) are not cached: long runs rarely repeat exactly. */
const PIECE_CACHE_MAX_LENGTH = 256;
/** Initial size of the UTF-8 scratch buffer; it grows for longer pieces (see MAX_RETAINED_SCRATCH_BYTES). */
const INITIAL_UTF8_BYTES = 1024;

/** The fast ordinary-text encoder for one vocabulary. */
export class OrdinaryEncoder {
  private readonly table: TokenTable;
  /** Tokens whose bytes are well-formed UTF-8, by their text: the whole-piece shortcut. */
  private readonly textIndex: TokenTextIndex;
  private readonly scanner = new PieceScanner();
  /** Built on the first piece that needs merging (the pair table takes tens of ms). */
  private bpe: BytePairEncoder | undefined;
  private cache: PieceCache | undefined;
  /** UTF-8 of the piece being merged; one grown past MAX_RETAINED_SCRATCH_BYTES is dropped after use. */
  private bytes = new Uint8Array(INITIAL_UTF8_BYTES);
  private loneSurrogate = false;

  constructor(table: TokenTable) {
    this.table = table;
    this.textIndex = new TokenTextIndex(table);
  }

  /** Bytes of scratch buffers held between calls (UTF-8 and BPE), each at most MAX_RETAINED_SCRATCH_BYTES. */
  get scratchBytes(): number {
    return this.bytes.length + (this.bpe?.scratchBytes ?? 0);
  }

  /**
   * Append the ids of `text[start, end)` to `out`. The range must not split a surrogate pair (it is
   * the text between special tokens, whose boundaries are whole characters).
   */
  encodeInto(text: string, start: number, end: number, out: number[]): void {
    const scanner = this.scanner;
    for (let i = start; i < end; ) {
      const j = scanner.pieceEnd(text, i, end);
      const hash = hashChars(text, i, j);
      const id = this.textIndex.lookup(text, i, j, hash);
      if (id >= 0) out.push(id);
      else this.encodeRare(text, i, j, hash, out);
      i = j;
    }
  }

  /** A piece that is not a token's text: cached BPE result, or BPE now. */
  private encodeRare(text: string, i: number, j: number, hash: number, out: number[]): void {
    if (this.cache?.get(text, i, j, hash, out) === true) return;
    const n = this.utf8Into(text, i, j);
    const from = out.length;
    // With a lone surrogate (encoded as U+FFFD) the piece may still be a whole token by its bytes.
    const whole = this.loneSurrogate ? this.table.lookup(this.bytes, 0, n) : -1;
    if (whole >= 0) out.push(whole);
    else {
      this.bpe ??= new BytePairEncoder(this.table);
      this.bpe.encode(this.bytes, n, out);
    }
    if (this.bytes.length > MAX_RETAINED_SCRATCH_BYTES) this.bytes = new Uint8Array(INITIAL_UTF8_BYTES);
    this.cache ??= new PieceCache();
    if (j - i <= PIECE_CACHE_MAX_LENGTH) this.cache.set(text, i, j, hash, out, from);
  }

  /** UTF-8 of `text[start, end)` into `this.bytes`; lone surrogates as U+FFFD. Returns the length. */
  private utf8Into(text: string, start: number, end: number): number {
    const needed = 3 * (end - start);
    // Room to grow while the buffer may be kept; exactly what this piece needs when it will be dropped.
    if (this.bytes.length < needed) this.bytes = new Uint8Array(2 * needed <= MAX_RETAINED_SCRATCH_BYTES ? 2 * needed : needed);
    const out = this.bytes;
    let n = 0;
    this.loneSurrogate = false;
    for (let i = start; i < end; i++) {
      let c = text.charCodeAt(i);
      if (c < 0x80) {
        out[n++] = c;
      } else if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
        out[n++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdfff) {
          const low = i + 1 < end ? text.charCodeAt(i + 1) : 0;
          if (c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
            const cp = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
            out[n++] = 0xf0 | (cp >> 18);
            out[n++] = 0x80 | ((cp >> 12) & 0x3f);
            out[n++] = 0x80 | ((cp >> 6) & 0x3f);
            out[n++] = 0x80 | (cp & 0x3f);
            i++;
            continue;
          }
          c = 0xfffd;
          this.loneSurrogate = true;
        }
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      }
    }
    return n;
  }
}

/**
 * Reference ordinary encoding: the regex split and the obvious BPE over `ranks` (byte key -> id).
 */
export function encodeOrdinaryReference(ranks: ReadonlyMap<string, number>, text: string): number[] {
  const ids: number[] = [];
  for (const piece of splitReference(text)) {
    const bytes = utf8Encode(piece);
    const whole = ranks.get(byteKey(bytes));
    if (whole !== undefined) ids.push(whole);
    else ids.push(...bytePairEncodeReference(ranks, bytes));
  }
  return ids;
}
