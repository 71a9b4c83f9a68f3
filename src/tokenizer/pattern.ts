// Llama 3's pre-tokenizer split pattern: the string as Meta and Hugging Face ship it, and an exact
// JavaScript equivalent used by the reference (slow, obvious) splitter. The fast hand-written scanner
// in scanner.ts must produce the same pieces; scanner.test.ts checks that on seeded random text.
//
// The pattern is `pat_str` of meta-llama/llama3 `llama/tokenizer.py` (a0940f9) and the `Split` regex
// of the HF `tokenizer.json`. It runs there under Rust `fancy-regex` (tiktoken) or Oniguruma (HF
// tokenizers), and both differ from JavaScript in ways that change tokens:
// - `(?i:...)` (a scoped case-insensitive group) does not compile in Node 20. A whole-regex `i` flag
//   is not a substitute: under /iu a class like \p{L} also matches characters whose case fold is a
//   letter (U+0345 COMBINING GREEK YPOGEGRAMMENI folds to U+03B9). So the contractions are spelled
//   out with every character whose simple case fold is the ASCII letter: s also matches U+017F
//   LATIN SMALL LETTER LONG S, as it does in Rust's (?i) (no other fold targets e,t,r,v,m,l,d).
// - `\s` in Rust and Oniguruma is Unicode White_Space: it includes U+0085 NEXT LINE and excludes
//   U+FEFF ZERO WIDTH NO-BREAK SPACE; JavaScript's `\s` is the other way round. We use
//   \p{White_Space}. `\S` becomes \P{White_Space}.
// - \p{L} and \p{N} mean the same in all three, up to the Unicode version each engine was built with
//   (Node's ICU is newer than tiktoken's regex tables: characters assigned in the last Unicode
//   versions may classify differently; the measured difference is in the header of tokenizer.ts).
// Lone surrogates never reach the regex: text is made well-formed first (U+FFFD), as TextEncoder does
// before tiktoken's WASM sees the string.

import { toWellFormed } from "./byte-level.js";

/** The split pattern exactly as Llama 3's tokenizer.model loader and tokenizer.json carry it. */
export const LLAMA3_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The same pattern in JavaScript regex syntax (use with the `u` flag), with reference semantics. */
export const LLAMA3_SPLIT_PATTERN_JS =
  "'(?:[sS\\u017F]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])" +
  "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+" +
  "|\\p{N}{1,3}" +
  "| ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*" +
  "|\\p{White_Space}*[\\r\\n]+" +
  "|\\p{White_Space}+(?!\\P{White_Space})" +
  "|\\p{White_Space}+";

/**
 * Split `text` into pre-tokenizer pieces with the regex (the reference; the encoder uses the
 * faster scanner). Lone surrogates are first replaced by U+FFFD.
 *
 * @example splitReference("Hello  world") // ["Hello", " ", " world"]
 */
export function splitReference(text: string): string[] {
  const regex = new RegExp(LLAMA3_SPLIT_PATTERN_JS, "gu");
  // Every character matches some alternative (letters, numbers, whitespace, anything else), so the
  // matches tile the text with no gaps, as in the reference.
  return Array.from(toWellFormed(text).matchAll(regex), (m) => m[0]);
}
