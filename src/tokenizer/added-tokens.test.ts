import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.js";
import { type AddedToken, AddedTokenMatcher, splitOnAddedTokensReference } from "./added-tokens.js";

/** Split with the trie matcher, in the reference's output shape. */
function splitFast(text: string, tokens: readonly AddedToken[]): Array<string | number> {
  const matcher = new AddedTokenMatcher(tokens);
  const out: Array<string | number> = [];
  let pos = 0;
  for (let m = matcher.find(text, 0, text.length); m !== undefined; m = matcher.find(text, pos, text.length)) {
    if (m.start > pos) out.push(text.slice(pos, m.start));
    out.push(m.id);
    pos = m.end;
  }
  if (pos < text.length) out.push(text.slice(pos));
  return out;
}

test("added tokens match leftmost first, longest at that position", () => {
  const tokens: AddedToken[] = [
    { id: 1, content: "<a>", special: true },
    { id: 2, content: "<a>b", special: true },
    { id: 3, content: "a>b<", special: true },
    { id: 4, content: "<", special: false },
  ];
  assert.deepEqual(splitFast("x<a>b<a>", tokens), ["x", 2, 1]);
  assert.deepEqual(splitFast("a>b<a>", tokens), [3, "a>"]); // leftmost wins over a later longer one
  const rng = new Rng(5);
  const alphabet = ["<", ">", "a", "b", "x", "é", "😀"];
  for (let i = 0; i < 3000; i++) {
    let text = "";
    for (let n = rng.int(20); n > 0; n--) text += alphabet[rng.int(alphabet.length)]!;
    assert.deepEqual(splitFast(text, tokens), splitOnAddedTokensReference(text, tokens), JSON.stringify(text));
  }
});

test("regex metacharacters in token contents are literal", () => {
  const tokens: AddedToken[] = [{ id: 7, content: "[.*+?](|)\\^$", special: true }];
  assert.deepEqual(splitOnAddedTokensReference("a[.*+?](|)\\^$b", tokens), ["a", 7, "b"]);
  assert.deepEqual(splitFast("a[.*+?](|)\\^$b", tokens), ["a", 7, "b"]);
});
