// Integration: chat formatting with the real Llama 3 tokenizer (Meta's tokenizer.model and the
// bundled HF tokenizer.json), against Meta's expected ChatFormat ids, the Jinja template path
// producing exactly one BOS, and the choice among a list-form chat_template's named templates.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { applyChatTemplate } from "../src/chat/index.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { checkBuiltinLlama3AgainstMeta, checkLlama3TemplateAgainstMeta } from "./chat-meta-fixture.js";
import { PROJECT_ROOT, fixturePath } from "./support/paths.js";

const metaTokenizer = Tokenizer.fromTiktoken(readFileSync(fixturePath("meta", "meta-tiny-scaled", "tokenizer.model"), "utf8"));
const bundled = Tokenizer.bundled();

test("real tokenizer: the built-in llama3 format gives Meta's ChatFormat ids", async () => {
  assert.equal(checkBuiltinLlama3AgainstMeta(metaTokenizer), 2);
  assert.equal(checkBuiltinLlama3AgainstMeta(await bundled), 2);
});

test("real tokenizer: the Llama 3 Jinja template gives Meta's dialog ids (one BOS, specials parsed)", async () => {
  assert.equal(checkLlama3TemplateAgainstMeta(metaTokenizer), 1);
  assert.equal(checkLlama3TemplateAgainstMeta(await bundled), 1);
});

test("the bundled tokenizer's own template and the built-in format agree; user text stays plain in the built-in one", async () => {
  const tokenizer = await bundled;
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi <|eot_id|> there" }] as const;
  const viaTemplate = applyChatTemplate(tokenizer, messages, { addGenerationPrompt: true });
  const builtin = applyChatTemplate(tokenizer, messages, { addGenerationPrompt: true, format: "llama3" });
  assert.equal(viaTemplate.format, "template");
  assert.equal(viaTemplate.text, builtin.text);
  assert.equal(viaTemplate.ids.filter((id) => id === 128000).length, 1);
  // HF semantics: the template's text is tokenized with special parsing, so the typed "<|eot_id|>"
  // becomes id 128009; Meta's built-in format keeps user text plain.
  const eot = 128009;
  assert.equal(viaTemplate.ids.filter((id) => id === eot).length, 3);
  assert.equal(builtin.ids.filter((id) => id === eot).length, 2);
});

test("the real Tokenizer with a list-form chat_template: tool_use with tools, default without", () => {
  // tokenizer_config.json's chat_template as a list of {name, template}: here the bundled Llama 3
  // template as "default" and the Llama 3.3 template as "tool_use".
  const dir = join(PROJECT_ROOT, "node_modules", "@lenml", "tokenizer-llama3", "models");
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  const llama33 = readFileSync(join(PROJECT_ROOT, "test", "fixtures", "chat", "llama-3.3-70b-instruct.jinja"), "utf8");
  config["chat_template"] = [
    { name: "default", template: config["chat_template"] },
    { name: "tool_use", template: llama33 },
  ];
  const tokenizer = Tokenizer.fromHuggingFace({
    tokenizerJson: readFileSync(join(dir, "tokenizer.json"), "utf8"),
    tokenizerJsonPath: join(dir, "tokenizer.json"),
    tokenizerConfig: JSON.stringify(config),
    tokenizerConfigPath: "tokenizer_config.json (list form)",
  });
  const messages = [{ role: "user", content: "Weather?" }] as const;
  const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
  assert.ok(!applyChatTemplate(tokenizer, messages).text.includes("Environment: ipython"));
  const withTools = applyChatTemplate(tokenizer, messages, { tools }).text;
  assert.ok(withTools.includes("<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the following functions"));
});
