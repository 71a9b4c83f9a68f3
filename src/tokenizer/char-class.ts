// Character classes for the fast pre-tokenizer scanner: for every code point, which of the Llama 3
// split pattern's classes it belongs to (\p{L}, \p{N}, White_Space, CR/LF, or none of them).
// Built once, lazily, from the engine's own Unicode property escapes so the scanner and the reference
// regex of pattern.ts agree by construction on the Unicode version in use.

/** Not a letter, number or whitespace: punctuation, symbols, marks, controls, unassigned. */
export const CLASS_OTHER = 0;
/** \p{L} */
export const CLASS_LETTER = 1;
/** \p{N} */
export const CLASS_NUMBER = 2;
/** White_Space other than CR and LF. */
export const CLASS_SPACE = 3;
/** CR or LF: the `[\r\n]` of the pattern (also White_Space). */
export const CLASS_NEWLINE = 4;
/** A UTF-16 high surrogate: the class is that of the code point it starts (or OTHER when lone). */
export const CLASS_HIGH_SURROGATE = 5;

let bmpTable: Uint8Array | undefined;
/** Supplementary code points per block of the astral class table: 2^8. */
const ASTRAL_BLOCK_BITS = 8;
const ASTRAL_BLOCK_SIZE = 1 << ASTRAL_BLOCK_BITS;
/**
 * Classes of supplementary-plane code points seen so far, in blocks allocated on first use, each
 * entry the class + 1 (0: not classified yet). Bounded by construction: at most 4096 blocks of 256
 * bytes (MAX_ASTRAL_TABLE_BYTES = 1 MiB of entries, plus a typed-array header per block), where a
 * Map entry per code point seen reached ~30 MB. Text with emoji touches a handful of blocks.
 */
const astralBlocks: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(0x100000 >> ASTRAL_BLOCK_BITS);
let astralBlockCount = 0;
/** The astral table's size once every supplementary code point has been seen: one byte each. */
export const MAX_ASTRAL_TABLE_BYTES = 0x100000;
const LETTER = /^\p{L}$/u;
const NUMBER = /^\p{N}$/u;

/** The class of every BMP code unit (index = char code). */
export function bmpClasses(): Uint8Array {
  if (bmpTable === undefined) bmpTable = buildBmpTable();
  return bmpTable;
}

function buildBmpTable(): Uint8Array {
  const table = new Uint8Array(0x10000);
  // One string of all BMP scalar values (surrogates skipped), scanned once per property: much
  // faster than 2 x 63488 single-character regex tests.
  const codes: number[] = [];
  for (let c = 0; c < 0x10000; c++) if (c < 0xd800 || c > 0xdfff) codes.push(c);
  let all = "";
  for (let i = 0; i < codes.length; i += 4096) all += String.fromCharCode(...codes.slice(i, i + 4096));
  const mark = (regex: RegExp, cls: number): void => {
    for (const m of all.matchAll(regex)) {
      for (let i = 0; i < m[0].length; i++) table[m[0].charCodeAt(i)] = cls;
    }
  };
  mark(/\p{L}+/gu, CLASS_LETTER);
  mark(/\p{N}+/gu, CLASS_NUMBER);
  mark(/\p{White_Space}+/gu, CLASS_SPACE);
  table[0x0a] = CLASS_NEWLINE;
  table[0x0d] = CLASS_NEWLINE;
  for (let c = 0xd800; c <= 0xdbff; c++) table[c] = CLASS_HIGH_SURROGATE;
  // Low surrogates stay CLASS_OTHER: one seen on its own is lone, encoded as U+FFFD (a symbol).
  return table;
}

/** The class of a supplementary-plane code point (0x10000..0x10ffff). */
export function astralClass(cp: number): number {
  const offset = cp - 0x10000;
  const index = offset & (ASTRAL_BLOCK_SIZE - 1);
  let block = astralBlocks[offset >> ASTRAL_BLOCK_BITS];
  if (block === undefined) {
    block = new Uint8Array(ASTRAL_BLOCK_SIZE);
    astralBlocks[offset >> ASTRAL_BLOCK_BITS] = block;
    astralBlockCount++;
  }
  const known = block[index]!;
  if (known !== 0) return known - 1;
  const ch = String.fromCodePoint(cp);
  // No supplementary code point is White_Space.
  const cls = LETTER.test(ch) ? CLASS_LETTER : NUMBER.test(ch) ? CLASS_NUMBER : CLASS_OTHER;
  block[index] = cls + 1;
  return cls;
}

/** Bytes held by the astral class table (at most MAX_ASTRAL_TABLE_BYTES). */
export function astralTableBytes(): number {
  return astralBlockCount * ASTRAL_BLOCK_SIZE;
}
