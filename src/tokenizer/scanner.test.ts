import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.js";
import { toWellFormed } from "./byte-level.js";
import { LLAMA3_SPLIT_PATTERN_JS, splitReference } from "./pattern.js";
import { randomTrickyText } from "./random-text.js";
import { PieceScanner } from "./scanner.js";

const scanner = new PieceScanner();
const fastSplit = (text: string): string[] => scanner.split(text).map(toWellFormed);

test("the regex reproduces the reference's documented splits", () => {
  // Each row is a consequence of the reference pattern's semantics (see pattern.ts), not of our code.
  const cases: ReadonlyArray<readonly [string, readonly string[]]> = [
    ["Hello world", ["Hello", " world"]],
    ["a   b", ["a", "  ", " b"]], // \s+(?!\S) leaves the last space to the word
    ["a  ", ["a", "  "]], // ...but takes it at the end of input
    ["today\n \n", ["today", "\n \n"]], // \s*[\r\n]+ runs to the last newline
    ["today\n  x", ["today", "\n", " ", " x"]],
    ["12345", ["123", "45"]],
    ["don't", ["don", "'t"]],
    ["DON'T", ["DON", "'T"]],
    ["'sa", ["'s", "a"]], // contraction wins over apostrophe+letters
    ["x'\u017fy", ["x", "'\u017f", "y"]], // U+017F folds to s under (?i)
    ["$hello", ["$hello"]],
    ["\u0085a", ["\u0085a"]], // NEL is whitespace but not [\r\n]: optional prefix of a word
    ["\ufeffa", ["\ufeffa"]], // U+FEFF is not whitespace: an "other" char, also a valid prefix
    ["a\u0085\u0085b", ["a", "\u0085", "\u0085b"]],
    ["a\ufeff\ufeffb", ["a", "\ufeff\ufeff", "b"]],
    [" !!!\n\nx", [" !!!\n\n", "x"]],
    ["\t!", ["\t", "!"]],
    ["\nabc", ["\n", "abc"]],
    ["😀abc", ["😀abc"]],
  ];
  for (const [text, pieces] of cases) {
    assert.deepEqual(splitReference(text), pieces, JSON.stringify(text));
    assert.deepEqual(fastSplit(text), pieces, `scanner: ${JSON.stringify(text)}`);
  }
});

test("the JS pattern has no case-insensitive flag leaking into \\p{L}", () => {
  // Under /iu, U+0345 would match \p{L} through its case fold (U+03B9); in the reference it is a mark.
  assert.deepEqual(splitReference("a\u0345b"), ["a", "\u0345b"]);
  assert.ok(!LLAMA3_SPLIT_PATTERN_JS.includes("(?i"));
});

test("scanner equals the reference regex on seeded tricky text", () => {
  const rng = new Rng(20240501);
  for (let i = 0; i < 3000; i++) {
    const text = randomTrickyText(rng, { loneSurrogates: true });
    assert.deepEqual(fastSplit(text), splitReference(text), JSON.stringify(text));
  }
});

test("scanner equals the reference on every BMP code point in several contexts", () => {
  // Contexts exercise each alternative: after a letter, after a space, after an apostrophe, in a
  // run, before a letter, before a newline.
  for (let cp = 0; cp < 0x10000; cp++) {
    const ch = String.fromCharCode(cp);
    const text = `a${ch}b ${ch}${ch}'${ch}1${ch}\n${ch}  ${ch}!`;
    const expected = splitReference(text);
    const actual = fastSplit(text);
    if (actual.length !== expected.length || actual.some((p, k) => p !== expected[k])) {
      assert.deepEqual(actual, expected, `U+${cp.toString(16)}`);
    }
  }
});

test("scanner respects the segment end as end of input", () => {
  // Between special tokens the reference runs the regex on the segment alone.
  const text = "a  <|x|>";
  assert.deepEqual(scanner.split(text, 0, 3), ["a", "  "]);
  assert.deepEqual(scanner.split(text, 0, 8), ["a", " ", " <|", "x", "|>"]);
});
