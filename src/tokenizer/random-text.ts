// Seeded generators of text that stresses a Llama 3 tokenizer: every kind of whitespace the split
// pattern distinguishes (including U+0085, which is White_Space, and U+FEFF, which is not), CR/LF
// mixes, contractions in any case (and U+017F, which folds to "s"), digit runs, punctuation runs,
// combining marks, emoji with ZWJ sequences and surrogate pairs, CJK, many scripts, controls, long
// runs of one char, optionally lone surrogates and special-token strings. Used by the conformance
// tests (fast vs reference, vs tiktoken) and to build the benchmark corpus. Characters are drawn
// from long-assigned blocks only, so results do not depend on the Unicode version of the engine.

import type { Rng } from "../tensor/rng.js";

/** What to mix in besides ordinary tricky text. */
export interface RandomTextOptions {
  /** Include lone surrogates (JS-only input; encoded as U+FFFD). Default false. */
  readonly loneSurrogates?: boolean;
  /** Special-token strings to sprinkle in (e.g. "<|eot_id|>"). Default none. */
  readonly specialTokens?: readonly string[];
  /** Most fragments per string. Default 12. */
  readonly maxFragments?: number;
}

const WHITESPACE = [
  " ", " ", " ", "\t", "\n", "\n", "\r\n", "\r", "\u000b", "\u000c", "\u0085", "\u00a0", "\u1680",
  "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a",
  "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "\u200b", "\u180e", "\u001c", "\u001f",
];
const CONTRACTIONS = [
  "'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'rE", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL", "'Ll",
  "'d", "'D", "'\u017f", "'\u212a", "\u2019s", "'", "''", "'x", "'r", "'v", "'l", "'\u0130",
];
const WORDS = [
  "the", " the", "The", " cat", " sat", "on", " mat", "Hello", " world", "don", "isn", "llama", " Llamas",
  "grabbed", " grabbed", "HeLLo", "Straße", " naïve", " café", "ﬁne", "ǅemal", "İstanbul", "\u212aelvin",
  "λόγος", " Ελλάδα", "привет", " Москва", "مرحبا", " שלום", "नमस्ते", " สวัสดี", "გამარჯობა", "Բարեւ",
  "ሰላም", "안녕하세요", " 日本語", "こんにちは", "カタカナ", "中文字符", "ꙋ", "Ꙋ", "ŉ", "ǰ", "ΐ",
];
const MARKS = ["e\u0301", "\u0301", "a\u0308\u0323", "\u05b8", "\u0345", "\u0345a", "n\u0303", "\u20dd", "\u0e31", "\u093f"];
const EMOJI = [
  "😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🦙", "❤️", "🙏🏿", "🧑‍💻", "☃", "⌘", "𝄞", "𐍈", "🀄",
];
const DIGITS = ["0", "7", "42", "123", "1234", "98765", "3.14", "1,000,000", "2024-01-01", "٣٤٥", "１２", "²³", "Ⅻ", "𝟘𝟙𝟚", "½", "①"];
const PUNCTUATION = [
  ".", ",", "!", "?", "...", "!!!", "?!", "---", "/*", "*/", "{", "}", "()", "[]", "<", ">", "<|", "|>",
  "$", "€", "@#", "\\", "=>", "&&", "#", "####", "``", "\"", "«»", "、", "。", "！", "※", "\u0000", "\u0007", "\u007f", "\ufffd",
];
const CODE = [
  "function f(x) {\n  return x + 1;\n}\n", "    indented", "\t\tdeep", "if (a<b) { c++; }", "x = [1, 2, 3]\n",
  "def f():\n    pass\n", "<div class=\"a\">", "SELECT * FROM t;", "// comment\n", "a\r\n\r\nb",
];

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!;

function randomFromRange(rng: Rng, lo: number, hi: number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCodePoint(lo + rng.int(hi - lo + 1));
  return s;
}

/** One random fragment of tricky text. */
function fragment(rng: Rng, options: RandomTextOptions): string {
  switch (rng.int(14)) {
    case 0:
    case 1: {
      let s = "";
      for (let n = 1 + rng.int(4); n > 0; n--) s += pick(rng, WHITESPACE);
      return s;
    }
    case 2:
      return pick(rng, CONTRACTIONS);
    case 3:
    case 4:
      return pick(rng, WORDS);
    case 5:
      return pick(rng, MARKS);
    case 6:
      return pick(rng, EMOJI);
    case 7:
      return pick(rng, DIGITS);
    case 8:
      return pick(rng, PUNCTUATION);
    case 9: {
      // CJK ideographs, hiragana, hangul syllables: long letter runs that need real BPE.
      const ranges: ReadonlyArray<readonly [number, number]> = [[0x4e00, 0x9fa5], [0x3041, 0x3096], [0xac00, 0xd7a3]];
      const [lo, hi] = pick(rng, ranges);
      return randomFromRange(rng, lo, hi, 1 + rng.int(6));
    }
    case 10: {
      const unit = pick(rng, [" ", "\n", "a", "0", "!", "'s", "é", "😀", "\t", "\u3000", "ab", "- "]);
      return unit.repeat(2 + rng.int(40));
    }
    case 11:
      return pick(rng, CODE);
    case 12:
      if (options.loneSurrogates === true && rng.int(2) === 0) return pick(rng, ["\ud800", "\udfff", "\udbff", "a\udc00b"]);
      return randomFromRange(rng, 0x20, 0x7e, 1 + rng.int(8)); // printable ASCII soup
    default: {
      const specials = options.specialTokens ?? [];
      if (specials.length > 0 && rng.int(2) === 0) return pick(rng, specials);
      return randomFromRange(rng, 0xa0, 0x24f, 1 + rng.int(4)); // Latin-1 and Latin Extended
    }
  }
}

/**
 * A random string of 1..maxFragments tricky fragments.
 *
 * @example randomTrickyText(new Rng(1)) // e.g. " cat\u2003'LL👍🏽٣٤٥"
 */
export function randomTrickyText(rng: Rng, options: RandomTextOptions = {}): string {
  let s = "";
  for (let n = 1 + rng.int(options.maxFragments ?? 12); n > 0; n--) s += fragment(rng, options);
  return s;
}
