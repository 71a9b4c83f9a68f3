// The fast pre-tokenizer: a hand-written scanner that finds the same pieces as Llama 3's split regex
// (pattern.ts, the reference) without running a regex. It walks UTF-16 code units with a class table
// (char-class.ts) and decides, at each piece start, which alternative of the pattern matches first,
// reproducing the backtracking regex's leftmost-first choice:
//
//   1 '(?i:s|t|re|ve|m|ll|d)       contraction, only at the start of a piece
//   2 [^\r\n\p{L}\p{N}]?\p{L}+      optional one non-letter/number/newline char, then letters
//   3 \p{N}{1,3}                    up to three numbers (code points, not UTF-16 units)
//   4 ' '?[^\s\p{L}\p{N}]+[\r\n]*   optional space, a run of "other" chars, trailing newlines
//   5 \s*[\r\n]+                    whitespace up to and including its last CR/LF
//   6 \s+(?!\S)                     whitespace, leaving its last char to the next piece (unless at end)
//   7 \s+                           a single whitespace char before a non-space
//
// `end` is the end of the ordinary-text segment (text between special tokens): the reference runs
// the regex on that segment alone, so the lookahead of 6 sees the segment end as end of input.
// A lone surrogate is treated as U+FFFD (an "other" char), as the encoder will encode it.

import {
  astralClass,
  bmpClasses,
  CLASS_HIGH_SURROGATE,
  CLASS_LETTER,
  CLASS_NEWLINE,
  CLASS_NUMBER,
  CLASS_OTHER,
  CLASS_SPACE,
} from "./char-class.js";

const APOSTROPHE = 0x27;
const SPACE = 0x20;
const LOWER_S = 0x73;
const LONG_S = 0x17f; // U+017F folds to "s" under Rust's (?i)

/** Finds piece boundaries in ordinary text; one instance per encoder (it keeps scratch state). */
export class PieceScanner {
  private readonly table = bmpClasses();
  /** Width in UTF-16 units of the code point last classified by classAt. */
  private width = 1;

  /** The pattern class of the code point at `p` (< end); sets `this.width`. */
  private classAt(text: string, p: number, end: number): number {
    const cls = this.table[text.charCodeAt(p)]!;
    this.width = 1;
    if (cls !== CLASS_HIGH_SURROGATE) return cls;
    const low = p + 1 < end ? text.charCodeAt(p + 1) : 0;
    if (low < 0xdc00 || low > 0xdfff) return CLASS_OTHER; // lone high surrogate
    this.width = 2;
    return astralClass(0x10000 + ((text.charCodeAt(p) - 0xd800) << 10) + (low - 0xdc00));
  }

  private lettersEnd(text: string, p: number, end: number): number {
    while (p < end && this.classAt(text, p, end) === CLASS_LETTER) p += this.width;
    return p;
  }

  /**
   * The end of the piece that starts at `start` in `text[start, end)` (start < end).
   *
   * @example new PieceScanner().pieceEnd("Hello world", 5, 11) // 11 (" world")
   */
  pieceEnd(text: string, start: number, end: number): number {
    const c = text.charCodeAt(start);
    if (c === APOSTROPHE && start + 1 < end) {
      const c1 = text.charCodeAt(start + 1);
      // `| 0x20` lowercases ASCII letters; only 'S'/'s' etc. can land on the compared values.
      const n1 = c1 | 0x20;
      if (n1 === LOWER_S || c1 === LONG_S || n1 === 0x74 /* t */ || n1 === 0x6d /* m */ || n1 === 0x64 /* d */) {
        return start + 2;
      }
      if (start + 2 < end) {
        const n2 = text.charCodeAt(start + 2) | 0x20;
        if ((n1 === 0x72 /* r */ || n1 === 0x76 /* v */) && n2 === 0x65 /* e */) return start + 3;
        if (n1 === 0x6c /* l */ && n2 === 0x6c) return start + 3;
      }
    }
    const cls0 = this.classAt(text, start, end);
    const next = start + this.width;
    if (cls0 === CLASS_LETTER) return this.lettersEnd(text, next, end);
    if (cls0 === CLASS_NUMBER) {
      let p = next;
      for (let n = 1; n < 3 && p < end && this.classAt(text, p, end) === CLASS_NUMBER; n++) p += this.width;
      return p;
    }
    // cls0 is OTHER, SPACE or NEWLINE. Alternative 2 with the optional char (not after CR/LF).
    let cls1 = -1;
    if (next < end) {
      cls1 = this.classAt(text, next, end);
      if (cls1 === CLASS_LETTER && cls0 !== CLASS_NEWLINE) return this.lettersEnd(text, next + this.width, end);
    }
    // Alternative 4: [^\s\p{L}\p{N}]+ run, after an optional literal space.
    if (cls0 === CLASS_OTHER || (c === SPACE && cls1 === CLASS_OTHER)) {
      let p = cls0 === CLASS_OTHER ? next : next + this.width;
      while (p < end && this.classAt(text, p, end) === CLASS_OTHER) p += this.width;
      while (p < end && this.table[text.charCodeAt(p)] === CLASS_NEWLINE) p++;
      return p;
    }
    return this.whitespaceEnd(text, start, end);
  }

  /** Alternatives 5-7 on the whitespace run starting at `start` (all White_Space is in the BMP). */
  private whitespaceEnd(text: string, start: number, end: number): number {
    let p = start;
    let lastNewline = -1;
    for (; p < end; p++) {
      const cls = this.table[text.charCodeAt(p)];
      if (cls === CLASS_NEWLINE) lastNewline = p;
      else if (cls !== CLASS_SPACE) break;
    }
    if (lastNewline >= 0) return lastNewline + 1; // 5: \s*[\r\n]+ backtracks to the last newline
    if (p === end || p - start === 1) return p; // 6 at end of input, or 7 for a single char
    return p - 1; // 6: the last whitespace char goes with the next piece
  }

  /** All pieces of `text[start, end)` as strings (for tests and tools; the encoder uses pieceEnd). */
  split(text: string, start = 0, end = text.length): string[] {
    const pieces: string[] = [];
    for (let i = start; i < end; ) {
      const j = this.pieceEnd(text, i, end);
      pieces.push(text.slice(i, j));
      i = j;
    }
    return pieces;
  }
}
