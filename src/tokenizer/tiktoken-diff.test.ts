// Differential tests against the reference implementation itself: the `tiktoken` npm package is
// OpenAI's Rust tokenizer (fancy-regex + byte_pair_merge) compiled to WASM. Built with the Llama 3
// ranks from tokenizer.model, the Llama 3 pattern and special tokens, it is what Meta's
// llama/tokenizer.py runs. Seeded random tricky strings must encode identically, under both special
// token policies, and round-trip through decode.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Tiktoken } from "tiktoken";
import { fixturePath } from "../../test/support/paths.js";
import { Rng } from "../tensor/rng.js";
import { toWellFormed } from "./byte-level.js";
import { LLAMA3_SPLIT_PATTERN } from "./pattern.js";
import { randomTrickyText } from "./random-text.js";
import { Tokenizer } from "./tokenizer.js";

const modelText = readFileSync(fixturePath("meta", "meta-tiny-scaled", "tokenizer.model"), "utf8");
const ours = Tokenizer.fromTiktoken(modelText, { specialTokenNames: "3.1" });
const specials = Object.fromEntries(ours.specialTokens.map((t) => [t.content, t.id]));
const reference = new Tiktoken(modelText, specials, LLAMA3_SPLIT_PATTERN);
const SPRINKLED = ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|eom_id|>", "<|reserved_special_token_7|>", "<|eot_id", "<|"];

const plain = (text: string): number[] => ours.encode(text, { addSpecialTokens: false, allowedSpecial: "none" });
const withSpecials = (text: string): number[] => ours.encode(text, { addSpecialTokens: false });

test("ordinary encoding equals tiktoken's encode_ordinary on seeded tricky text", () => {
  const rng = new Rng(31337);
  for (let i = 0; i < 4000; i++) {
    const text = randomTrickyText(rng, { loneSurrogates: true, specialTokens: SPRINKLED });
    const ids = plain(text);
    assert.deepEqual(ids, Array.from(reference.encode_ordinary(text)), JSON.stringify(text));
    assert.equal(ours.decode(ids), toWellFormed(text), `round trip ${JSON.stringify(text)}`);
  }
});

test("special tokens: 'all' equals tiktoken with all specials allowed, a set equals tiktoken's allowed list", () => {
  const rng = new Rng(4242);
  const onlyEot = new Set(["<|eot_id|>"]);
  for (let i = 0; i < 1500; i++) {
    const text = randomTrickyText(rng, { specialTokens: SPRINKLED });
    const ids = withSpecials(text);
    assert.deepEqual(ids, Array.from(reference.encode(text, "all")), JSON.stringify(text));
    assert.equal(ours.decode(ids), text);
    // HF with split_special_tokens / Meta's encode: the strings stay text (tiktoken: nothing allowed,
    // nothing disallowed).
    assert.deepEqual(plain(text), Array.from(reference.encode(text, [], [])));
    const expected = Array.from(reference.encode(text, ["<|eot_id|>"], []));
    assert.deepEqual(ours.encode(text, { addSpecialTokens: false, allowedSpecial: onlyEot }), expected);
    assert.deepEqual(ours.encode(text, { addSpecialTokens: false, allowedSpecial: ["<|eot_id|>"] }), expected); // tiktoken's JS form
  }
});

test("random code points of every plane split as tiktoken splits them", () => {
  // Code points whose class differs between Node's Unicode tables and the reference's (assigned in
  // Unicode 17, newer than tiktoken's regex tables): documented in tokenizer.ts.
  const newerInNode = (cp: number): boolean => (cp >= 0x11de0 && cp <= 0x11de9) || (cp >= 0x16ff4 && cp <= 0x16ff6);
  const rng = new Rng(2718);
  for (let i = 0; i < 4000; i++) {
    let cp = rng.int(0x110000);
    if ((cp >= 0xd800 && cp <= 0xdfff) || newerInNode(cp)) cp = 0x41 + rng.int(0x3000);
    const ch = String.fromCodePoint(cp);
    const text = `a${ch}b ${ch}${ch}'${ch}1${ch}\n${ch}  ${ch}!`;
    assert.deepEqual(plain(text), Array.from(reference.encode_ordinary(text)), `U+${cp.toString(16)}`);
  }
});

test("long pieces of a repeated unit equal tiktoken (the BPE heap outgrows the piece on some)", () => {
  // "ma" x 512 once encoded to 499 ids instead of tiktoken's 257: the heap, sized to the piece, lost
  // entries. Lengths around powers of two, where the scratch buffers were exactly full.
  const rng = new Rng(1618);
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const units = ["ma", "ab", "the", "ing", "xyz", "é", "日本", "😀", "12", "  ", "!?"];
  for (let i = 0; i < 24; i++) {
    let unit = "";
    for (let k = 1 + rng.int(5); k > 0; k--) unit += letters[rng.int(26)];
    units.push(unit);
  }
  for (const unit of units) {
    for (const length of [1024, 2050]) {
      const text = unit.repeat(Math.ceil(length / unit.length));
      assert.deepEqual(plain(text), Array.from(reference.encode_ordinary(text)), `${JSON.stringify(unit)} x ${text.length / unit.length}`);
    }
  }
});

test("BOS is added by addSpecialTokens, and kept even if the text starts with it (HF's double BOS)", () => {
  const text = "<|begin_of_text|>Hi";
  assert.deepEqual(ours.encode(text), [ours.bosTokenId, ...Array.from(reference.encode(text, "all"))]);
  assert.deepEqual(ours.encode(text).slice(0, 2), [128000, 128000]);
  assert.deepEqual(ours.encode(text, { addSpecialTokens: false })[0], 128000);
});
