// Reader for Meta's original `tokenizer.model`: tiktoken's BPE file format, one `base64(bytes) rank`
// line per token (tiktoken `load.py` load_tiktoken_bpe, used by meta-llama/llama3
// `llama/tokenizer.py`). The file holds only the mergeable ranks; the special tokens are added by
// the caller (special-tokens.ts). We require ranks to be exactly 0..n-1, as in Llama 3, because a
// token's rank is also its id. One pass over the text decodes every token into a single buffer (the
// 128k-line file loads in a few tens of milliseconds); base64 is validated strictly (standard
// alphabet, padding only at the end, length a multiple of 4).

import { FormatError } from "../errors.js";
import { TokenTable } from "./token-table.js";

/** Most BPE ranks accepted; the BPE heap packs ranks below 2^21 (bpe.ts). */
export const MAX_BPE_TOKENS = 1 << 20;

/** Base64 alphabet value of each ASCII char code, -1 outside it. */
const BASE64_VALUE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();
const EQUALS = 0x3d;

/**
 * Parse the text of a tiktoken BPE file into a token table (id = rank).
 *
 * @param content the file's text
 * @param path the file's path, for error messages
 * @throws FormatError naming the line of a malformed entry, a duplicate rank or token, a missing
 *   rank, or an empty file
 * @example parseTiktokenBpe("IQ== 0\nIg== 1\n", "tokenizer.model").size // 2
 */
export function parseTiktokenBpe(content: string, path: string): TokenTable {
  // Decoded bytes are never longer than 3/4 of the base64 text.
  const raw = new Uint8Array(Math.ceil((content.length * 3) / 4));
  const lineOfRank = new Int32Array(MAX_BPE_TOKENS).fill(-1);
  const startOfRank = new Uint32Array(MAX_BPE_TOKENS);
  const endOfRank = new Uint32Array(MAX_BPE_TOKENS);
  let nRanks = 0;
  let at = 0;
  let lineNo = 0;
  for (let pos = 0; pos < content.length; ) {
    lineNo++;
    let eol = content.indexOf("\n", pos);
    if (eol < 0) eol = content.length;
    const lineEnd = eol > pos && content.charCodeAt(eol - 1) === 0x0d ? eol - 1 : eol;
    const lineStart = pos;
    pos = eol + 1;
    if (lineEnd === lineStart) continue; // tiktoken skips empty lines (the final newline)
    const fail = (what: string): FormatError => {
      const line = content.slice(lineStart, lineEnd);
      return new FormatError(path, `line ${lineNo}: ${what} in ${JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}...` : line)}`);
    };
    const space = content.indexOf(" ", lineStart);
    if (space < 0 || space >= lineEnd) throw fail('expected "<base64 token> <rank>"');
    const start = at;
    at = decodeBase64(content, lineStart, space, raw, at);
    if (at < 0) throw fail("the token is not base64");
    if (at === start) throw fail("the token is empty");
    const rank = parseRank(content, space + 1, lineEnd);
    if (rank < 0) throw fail("the rank is not a non-negative integer");
    if (rank >= MAX_BPE_TOKENS) throw fail(`rank ${rank} exceeds the limit MAX_BPE_TOKENS = ${MAX_BPE_TOKENS}`);
    if (lineOfRank[rank]! >= 0) throw fail(`duplicate rank ${rank} (also on line ${lineOfRank[rank]})`);
    lineOfRank[rank] = lineNo;
    startOfRank[rank] = start;
    endOfRank[rank] = at;
    nRanks = Math.max(nRanks, rank + 1);
  }
  if (nRanks === 0) throw new FormatError(path, "no tokens (empty tiktoken BPE file)");
  for (let rank = 0; rank < nRanks; rank++) {
    if (lineOfRank[rank]! < 0) {
      throw new FormatError(path, `rank ${rank} is missing (ranks must be 0..${nRanks - 1} since a rank is a token id)`);
    }
  }
  const table = TokenTable.fromRanges(raw, startOfRank.subarray(0, nRanks), endOfRank.subarray(0, nRanks), (id, earlier) => {
    throw new FormatError(path, `line ${lineOfRank[id]}: duplicate token (same bytes as rank ${earlier} on line ${lineOfRank[earlier]})`);
  });
  const missing = table.missingByte();
  if (missing >= 0) throw new FormatError(path, `byte 0x${missing.toString(16).padStart(2, "0")} has no token; byte-level BPE needs all 256`);
  return table;
}

/** Decode base64 `text[start, end)` into `out` at `at`; returns the new end, or -1 if invalid. */
function decodeBase64(text: string, start: number, end: number, out: Uint8Array, at: number): number {
  if ((end - start) % 4 !== 0) return -1;
  for (let i = start; i < end; i += 4) {
    const last = i + 4 === end;
    const c0 = value(text, i);
    const c1 = value(text, i + 1);
    if (c0 < 0 || c1 < 0) return -1;
    out[at++] = (c0 << 2) | (c1 >> 4);
    const pad2 = text.charCodeAt(i + 2) === EQUALS;
    const pad3 = text.charCodeAt(i + 3) === EQUALS;
    if (pad2 || pad3) {
      // Padding only in the last quantum: "xx==" (1 byte) or "xxx=" (2 bytes).
      if (!last || (pad2 && !pad3)) return -1;
      if (pad2) return at;
      const c2 = value(text, i + 2);
      if (c2 < 0) return -1;
      out[at++] = ((c1 & 15) << 4) | (c2 >> 2);
      return at;
    }
    const c2 = value(text, i + 2);
    const c3 = value(text, i + 3);
    if (c2 < 0 || c3 < 0) return -1;
    out[at++] = ((c1 & 15) << 4) | (c2 >> 2);
    out[at++] = ((c2 & 3) << 6) | c3;
  }
  return at;
}

function value(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? BASE64_VALUE[c]! : -1;
}

/** Decimal digits `text[start, end)` as a number, or -1 (empty, non-digit, or absurdly long). */
function parseRank(text: string, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
