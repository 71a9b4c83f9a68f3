// Segments and the special-token names they use: src/chat names the tokens src/tokenizer defines
// through src/tokenizer/special-tokens.ts, so the two cannot drift apart.

import assert from "node:assert/strict";
import { test } from "node:test";
import * as specialTokens from "../tokenizer/special-tokens.js";
import { formatChat } from "./apply.js";
import * as segments from "./segments.js";

test("segments.ts defines no special-token string that the tokenizer already exports", () => {
  const tokenizerStrings = new Set<unknown>(Object.values(specialTokens).filter((v) => typeof v === "string"));
  const duplicated = Object.entries(segments)
    .filter(([, value]) => typeof value === "string" && tokenizerStrings.has(value))
    .map(([name]) => name);
  assert.deepEqual(duplicated, []);
});

test("the built-in formats write the tokenizer's BEGIN_OF_TEXT, END_OF_TURN and END_OF_MESSAGE", () => {
  const chat = formatChat(
    [
      { role: "user", content: "q" },
      { role: "assistant", toolCalls: [{ function: { name: "brave_search", arguments: { query: "x" } } }] },
    ],
    "llama3.1",
    { builtinTools: ["brave_search"], dateString: "26 Jul 2024" },
  );
  const specials = chat.flatMap((s) => (s.kind === "special" ? [s.token] : []));
  assert.equal(specials[0], specialTokens.BEGIN_OF_TEXT);
  assert.ok(specials.includes(specialTokens.END_OF_TURN));
  assert.equal(specials.at(-1), specialTokens.END_OF_MESSAGE);
});
