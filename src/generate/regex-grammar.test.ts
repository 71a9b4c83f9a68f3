// The regex grammar against JavaScript's RegExp (the `u` flag, anchored as ^(?:...)$) as its twin:
// on seeded random strings over each pattern's alphabet, the grammar accepts exactly what RegExp
// matches; every byte prefix of a match is a live state (so a token mask never strands a sequence);
// UTF-8 is checked per byte (no overlongs, no surrogates); unsupported syntax is an ArgumentError.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError } from "../errors.js";
import { Rng } from "../tensor/rng.js";
import { stepBytes } from "./constraint.js";
import { RegexGrammar } from "./regex-grammar.js";

const enc = new TextEncoder();

function full(g: RegexGrammar, text: string): boolean {
  const s = stepBytes(g, g.initial(), enc.encode(text));
  return s !== undefined && g.accepts(s);
}

const PATTERNS: [string, string][] = [
  ["\\d{3}-[a-z]{2,4}", "0159-abzq"],
  ["(cat|dog|llama)s?", "catdoglmas"],
  ["[^a-c]+x", "abcdx\n"],
  ["a(b|c)*d?|e{2,}", "abcde"],
  ["(?:\\w+\\s?){1,3}\\.", "ab_9 .\t"],
  ["[é-ü]{2}€?|\\u{1F999}", "éüàÿ€\u{1F999}z"],
  ["^\\x41[\\]\\-]\\.+$", "A]-.x"],
  ["\\S\\D\\W.", "a1 \n-"],
  ["(?:ab)?c{1}d??", "abcd"],
];

test("the grammar accepts exactly what RegExp matches, on random strings", () => {
  const rng = new Rng(42);
  for (const [pattern, alphabet] of PATTERNS) {
    const g = new RegexGrammar(pattern);
    const re = new RegExp(`^(?:${pattern})$`, "u");
    const chars = [...alphabet];
    let matched = 0;
    for (let n = 0; n < 3000; n++) {
      const length = Math.floor(rng.uniform() * 9);
      let text = "";
      for (let k = 0; k < length; k++) text += chars[Math.floor(rng.uniform() * chars.length)]!;
      const expected = re.test(text);
      assert.equal(full(g, text), expected, `/${pattern}/ on ${JSON.stringify(text)}`);
      if (!expected) continue;
      matched++;
      // Every byte prefix of a match is alive.
      const bytes = enc.encode(text);
      for (let k = 0; k <= bytes.length; k++) assert.notEqual(stepBytes(g, g.initial(), bytes.subarray(0, k)), undefined, `/${pattern}/ prefix ${k} of ${JSON.stringify(text)}`);
    }
    assert.ok(matched > 0, `/${pattern}/ matched none of the random strings`);
  }
});

test("UTF-8 is checked byte by byte: a partial character lives only if it can still match", () => {
  const g = new RegexGrammar("[é-ü]");
  const live = (bytes: number[]): boolean => stepBytes(g, g.initial(), Uint8Array.from(bytes)) !== undefined;
  assert.ok(live([0xc3])); // é..ü are U+00E9..U+00FC: lead byte C3
  assert.ok(!live([0xc2])); // U+0080..U+00BF: none in the class
  assert.ok(live([0xc3, 0xa9]) && !live([0xc3, 0xa8])); // é yes, è (U+00E8) no
  const any = new RegexGrammar(".");
  const anyLive = (bytes: number[]): boolean => stepBytes(any, any.initial(), Uint8Array.from(bytes)) !== undefined;
  assert.ok(!anyLive([0xc0]) && !anyLive([0xe0, 0x80]) && !anyLive([0xed, 0xa0]) && !anyLive([0xf4, 0x90]) && !anyLive([0xf5]));
  assert.ok(anyLive([0xed, 0x9f, 0xbf]) && anyLive([0xf4, 0x8f, 0xbf, 0xbf]));
  assert.ok(!any.accepts(stepBytes(any, any.initial(), Uint8Array.from([0xe2, 0x82]))!), "a partial character is not a match");
});

test("unsupported syntax is an ArgumentError naming it", () => {
  for (const [pattern, message] of [["(a)\\1", /\\1/], ["(?=a)b", /lookaround/], ["a^b", /\^/], ["a$b", /\$/], ["(ab", /missing \)/], ["ab)", /unbalanced/], ["*a", /nothing to repeat/], ["[z-a]", /out of order/], ["a{3,2}", /below/], ["\\bword", /\\b/], ["a{5000}{5000}", /states/]] as const) {
    assert.throws(() => new RegexGrammar(pattern), (e: unknown) => e instanceof ArgumentError && message.test(e.message), pattern);
  }
});
