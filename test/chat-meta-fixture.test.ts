// Runs the Meta fixture checks with a stand-in tokenizer that knows only the fixture's own strings
// (their ids read off the fixture: "user" = 882 and "\n\n" = 271 from encode_message, "system" and
// "assistant" from encode_dialog_prompt, the sentences from the encode case). What this proves is the
// assembly: which pieces the chat code encodes separately, in what order, with which special ids. The
// real tokenizer's own ids are checked in chat-tokenizer.test.ts.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEncodeOptions, ChatTokenizer } from "../src/chat/index.js";
import { checkBuiltinLlama3AgainstMeta, checkLlama3TemplateAgainstMeta } from "./chat-meta-fixture.js";

const SPECIALS: ReadonlyMap<string, number> = new Map([
  ["<|begin_of_text|>", 128000],
  ["<|start_header_id|>", 128006],
  ["<|end_header_id|>", 128007],
  ["<|eot_id|>", 128009],
]);
const PIECES: ReadonlyMap<string, readonly number[]> = new Map([
  ["This is a test sentence.", [2028, 374, 264, 1296, 11914, 13]],
  ["This is a response.", [2028, 374, 264, 2077, 13]],
  ["assistant", [78191]],
  ["system", [9125]],
  ["user", [882]],
  ["\n\n", [271]],
]);

/** Encodes text made only of the known pieces (and special tokens when allowed), longest piece first. */
class FixtureTokenizer implements ChatTokenizer {
  readonly chatTemplate = undefined;
  readonly bosToken = "<|begin_of_text|>";
  readonly eosToken = "<|end_of_text|>";

  encode(text: string, options?: ChatEncodeOptions): number[] {
    const pieces = [...(options?.allowedSpecial === "all" ? SPECIALS.keys() : []), ...PIECES.keys()];
    const ids: number[] = options?.addSpecialTokens === false ? [] : [128000];
    for (let at = 0; at < text.length; ) {
      const piece = pieces.filter((p) => text.startsWith(p, at)).sort((a, b) => b.length - a.length)[0];
      if (piece === undefined) throw new Error(`FixtureTokenizer: no known piece at ${JSON.stringify(text.slice(at))}`);
      ids.push(...(PIECES.get(piece) ?? [SPECIALS.get(piece) ?? -1]));
      at += piece.length;
    }
    return ids;
  }

  tokenToId(token: string): number | undefined {
    return SPECIALS.get(token);
  }
}

test("the built-in llama3 format assembles Meta's encode_message and encode_dialog_prompt ids", () => {
  assert.equal(checkBuiltinLlama3AgainstMeta(new FixtureTokenizer()), 2);
});

test("the Llama 3 Jinja template, tokenized the transformers way, assembles the same dialog ids", () => {
  assert.equal(checkLlama3TemplateAgainstMeta(new FixtureTokenizer()), 1);
});
