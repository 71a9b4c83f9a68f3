// Streaming text with stop strings: deltas concatenate to the final text, a stop string split
// across tokens is found, text that could begin a stop string is held back and released when it
// cannot, and nothing after a stop string is ever emitted.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Tokenizer } from "../tokenizer/index.js";
import { TextOutput } from "./text-output.js";

const tokenizer = await Tokenizer.bundled();

/** Feed the ids of `text` one by one; returns the deltas, the stop string and the final text. */
function run(pieces: readonly string[], stops: readonly string[]): { deltas: string[]; stop?: string; text: string } {
  const out = new TextOutput(tokenizer.createDecodeStream({ skipSpecialTokens: true }), stops);
  const deltas: string[] = [];
  for (const piece of pieces) {
    for (const id of tokenizer.encode(piece, { addSpecialTokens: false })) {
      const step = out.push(id);
      deltas.push(step.delta);
      if (step.stopString !== undefined) return { deltas, stop: step.stopString, text: out.text };
    }
  }
  deltas.push(out.finish());
  return { deltas, text: out.text };
}

test("a stop string split across tokens ends the text before it", () => {
  // "<|" and "END|>" tokenize separately: the match is only visible after the second piece.
  const r = run(["Hello world", " <", "EN", "D>", " more"], ["<END>"]);
  assert.equal(r.stop, "<END>");
  assert.equal(r.text, "Hello world ");
  assert.equal(r.deltas.join(""), r.text);
  assert.ok(!r.deltas.some((d) => d.includes("<")), "the start of the stop string is never shown");
});

test("held-back text is released when it stops matching, and at the end", () => {
  const r = run(["a <", "E", "x and <E"], ["<END>"]);
  assert.equal(r.stop, undefined);
  assert.equal(r.text, "a <Ex and <E");
  assert.equal(r.deltas.join(""), r.text);
});

test("the earliest of several stop strings wins; multi-byte characters arrive whole", () => {
  const r = run(["naïve café ☕ then STOP or END"], ["END", "STOP"]);
  assert.equal(r.stop, "STOP");
  assert.equal(r.text, "naïve café ☕ then ");
  assert.equal(r.deltas.join(""), r.text);
  for (const d of r.deltas) assert.ok(!d.includes("\uFFFD"), JSON.stringify(d));
});

test("without stop strings every delta is shown at once and special tokens are skipped", () => {
  const out = new TextOutput(tokenizer.createDecodeStream({ skipSpecialTokens: true }), []);
  const ids = [tokenizer.bosTokenId!, ...tokenizer.encode("Hi there", { addSpecialTokens: false })];
  const deltas = ids.map((id) => out.push(id).delta);
  assert.equal(deltas[0], "");
  assert.equal(deltas.join(""), "Hi there");
  assert.equal(out.finish(), "");
});
