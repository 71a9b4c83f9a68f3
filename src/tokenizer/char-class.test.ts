import { test } from "node:test";
import assert from "node:assert/strict";
import { astralClass, astralTableBytes, CLASS_LETTER, CLASS_NUMBER, CLASS_OTHER, MAX_ASTRAL_TABLE_BYTES } from "./char-class.js";

/** The class by the reference regexes (no supplementary code point is White_Space). */
const expected = (cp: number): number => {
  const ch = String.fromCodePoint(cp);
  return /^\p{L}$/u.test(ch) ? CLASS_LETTER : /^\p{N}$/u.test(ch) ? CLASS_NUMBER : CLASS_OTHER;
};

test("supplementary-plane classes are right and their table is bounded (it was a Map that only grew)", () => {
  // Three code points in every block of every supplementary plane, twice (classified, then cached),
  // including a letter (U+10400 DESERET), a number (U+1D7CE MATHEMATICAL BOLD DIGIT ZERO), an emoji.
  const probes = [0x10400, 0x1d7ce, 0x1f600];
  for (let cp = 0x10000; cp <= 0x10ffff; cp += 85) probes.push(cp);
  for (let round = 0; round < 2; round++) {
    for (const cp of probes) assert.equal(astralClass(cp), expected(cp), `U+${cp.toString(16)}`);
  }
  assert.equal(astralClass(0x10400), CLASS_LETTER);
  assert.equal(astralClass(0x1d7ce), CLASS_NUMBER);
  assert.equal(astralClass(0x1f600), CLASS_OTHER);
  // Every block is now allocated: the table is at its bound and cannot grow further.
  assert.equal(astralTableBytes(), MAX_ASTRAL_TABLE_BYTES);
  for (let cp = 0x10001; cp <= 0x10ffff; cp += 4093) astralClass(cp);
  assert.equal(astralTableBytes(), MAX_ASTRAL_TABLE_BYTES);
});
