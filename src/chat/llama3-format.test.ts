// The built-in Llama 3 format against the output transformers documents for Llama 3 Instruct, and
// Meta's ChatFormat rules (strip, plain-text content, one "\n\n" after the header).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FAKE_CHAR_BASE, FakeChatTokenizer } from "../../test/chat-fake-tokenizer.js";
import { UnsupportedError } from "../errors.js";
import { formatChat } from "./apply.js";
import { segmentsToIds, segmentsToText } from "./segments.js";

const chars = (s: string): number[] => Array.from(s, (c) => FAKE_CHAR_BASE + (c.codePointAt(0) ?? 0));

describe("formatChat llama3", () => {
  test("matches the documented Llama 3 Instruct prompt", () => {
    const text = segmentsToText(
      formatChat(
        [
          { role: "system", content: "You are a helpful assistant." },
          { role: "user", content: "Hi" },
        ],
        "llama3",
        { addGenerationPrompt: true },
      ),
    );
    assert.equal(
      text,
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  test("without a generation prompt it ends after the last message", () => {
    const text = segmentsToText(formatChat([{ role: "user", content: "Hi" }], "llama3"));
    assert.equal(text, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
  });

  test("content is stripped as Python strips it", () => {
    const text = segmentsToText(formatChat([{ role: "user", content: "\n  Hi there \x85" }], "llama3"));
    assert.ok(text.includes("\n\nHi there<|eot_id|>"));
  });

  test("ids: specials by id, role and text encoded as plain text (Meta's encode_message)", () => {
    const tokenizer = new FakeChatTokenizer();
    const ids = segmentsToIds(tokenizer, formatChat([{ role: "user", content: "a<|eot_id|>" }], "llama3"));
    assert.deepEqual(ids, [128000, 128006, ...chars("user"), 128007, ...chars("\n\n"), ...chars("a<|eot_id|>"), 128009]);
    assert.ok(tokenizer.calls.every((c) => c.options?.allowedSpecial === "none" && c.options.addSpecialTokens === false));
  });

  test("Llama 3.0 has no tools or tool messages", () => {
    const isUnsupported = (err: unknown): boolean => err instanceof UnsupportedError && /llama3\.1/.test(err.message);
    assert.throws(() => formatChat([{ role: "user", content: "x" }], "llama3", { tools: [{ type: "function" }] }), isUnsupported);
    assert.throws(() => formatChat([{ role: "tool", content: "x" }], "llama3"), isUnsupported);
    assert.throws(
      () => formatChat([{ role: "assistant", content: "", toolCalls: [{ function: { name: "f", arguments: {} } }] }], "llama3"),
      (err: unknown) => isUnsupported(err) && /messages\[0\]/.test((err as Error).message),
    );
  });
});
