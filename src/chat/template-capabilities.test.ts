// Tests of template capabilities and the tool polyfills on Meta's real templates: the Llama 3 Instruct
// template (no tools; it fails on an assistant tool call's null content, a Jinja NullValue error,
// unless the call is rewritten as text) and the Llama 3.1 / 3.2 / 3.3 templates, which render tool
// conversations natively and so are left alone.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FakeChatTokenizer } from "../../test/chat-fake-tokenizer.js";
import { PROJECT_ROOT } from "../../test/support/paths.js";
import { LLAMA3_CHAT_TEMPLATE } from "../convert/chat-templates.js";
import { applyChatTemplate, chatFormatTakesTools, formatChat, renderChatTemplate } from "./apply.js";
import type { ChatMessage } from "./messages.js";
import { segmentsToText } from "./segments.js";
import { renderJinja } from "./jinja.js";
import { ChatTemplateError } from "./template-error.js";
import { splitToolCalls, templateCapabilities } from "./template-capabilities.js";

const fixture = (name: string): string => readFileSync(join(PROJECT_ROOT, "test", "fixtures", "chat", name), "utf8");
const LLAMA33 = fixture("llama-3.3-70b-instruct.jinja");
const LLAMA32 = fixture("llama-3.2-3b-instruct.jinja");

// A tool conversation in the shape an OpenAI client sends it (arguments as JSON text, content null).
const HISTORY: ChatMessage[] = [
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: null, toolCalls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } }] },
  { role: "tool", toolCallId: "call_1", content: "21 C" },
];

test("capabilities: the Llama 3 template has no tools and fails on tool calls; 3.1 / 3.2 / 3.3 have all", () => {
  assert.deepEqual(templateCapabilities(LLAMA3_CHAT_TEMPLATE), { tools: false, toolCalls: false, toolResponses: true, parallelToolCalls: false });
  assert.deepEqual(templateCapabilities(LLAMA33), { tools: true, toolCalls: true, toolResponses: true, parallelToolCalls: false });
  assert.deepEqual(templateCapabilities(LLAMA32), { tools: true, toolCalls: true, toolResponses: true, parallelToolCalls: false });
  const all = "{% for m in messages %}{{ m.content }}{% for c in m.tool_calls or [] %}{{ c.function.name }}{% endfor %}{% endfor %}";
  assert.deepEqual(templateCapabilities(all), { tools: false, toolCalls: true, toolResponses: true, parallelToolCalls: true });
  assert.deepEqual(templateCapabilities("{% for m in messages %}{{ m.role }}{% endfor %}"), { tools: false, toolCalls: false, toolResponses: false, parallelToolCalls: false });
});

test("without the polyfill the Llama 3 template fails on a tool call's null content (what the server did before)", () => {
  const wire = [{ role: "user", content: "Hi" }, { role: "assistant", content: null, tool_calls: [] }];
  assert.throws(() => renderJinja(LLAMA3_CHAT_TEMPLATE, { messages: wire, bos_token: "" }, new Date()), ChatTemplateError);
});

test("the Llama 3 template renders a tool history with the call as JSON text and the result under its tool header", () => {
  const text = renderChatTemplate(LLAMA3_CHAT_TEMPLATE, HISTORY, { bosToken: "<|begin_of_text|>" });
  const call = JSON.stringify({ tool_calls: [{ name: "get_weather", arguments: { city: "Paris" }, id: "call_1" }] }, null, 2);
  assert.equal(
    text,
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>" +
      `<|start_header_id|>assistant<|end_header_id|>\n\n${call}<|eot_id|>` +
      "<|start_header_id|>tool<|end_header_id|>\n\n21 C<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
  );
});

test("a template that drops tool results gets them as user messages", () => {
  const template = "{% for m in messages %}[{{ m.role }}:{% if m.role != 'tool' %}{{ m.content or '' }}{% endif %}]{% endfor %}";
  const text = renderChatTemplate(template, HISTORY);
  const call = JSON.stringify({ tool_calls: [{ name: "get_weather", arguments: { city: "Paris" }, id: "call_1" }] }, null, 2);
  const result = JSON.stringify({ tool_response: { content: "21 C", tool_call_id: "call_1" } }, null, 2);
  assert.equal(text, `[user:Weather in Paris?][assistant:${call}][user:${result}]`);
});

test("the 3.1 template is not rewritten: a tool history renders as the built-in 3.1 format does", () => {
  const options = { tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }], dateString: "26 Jul 2024" };
  const viaTemplate = renderChatTemplate(LLAMA33, HISTORY, { ...options, bosToken: "<|begin_of_text|>", addGenerationPrompt: true });
  assert.equal(viaTemplate, segmentsToText(formatChat(HISTORY, "llama3.1", { ...options, addGenerationPrompt: true })));
  assert.ok(viaTemplate.includes('<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>'));
  assert.ok(viaTemplate.includes('<|start_header_id|>ipython<|end_header_id|>\n\n"21 C"<|eot_id|>'));
});

test("two calls in one message: split into one assistant turn each, rendered alike by the 3.1 template and the built-in format", () => {
  const two: ChatMessage[] = [
    { role: "user", content: "Paris and Oslo?" },
    {
      role: "assistant", content: null, toolCalls: [
        { id: "a", function: { name: "get_weather", arguments: { city: "Paris" } } },
        { id: "b", function: { name: "get_weather", arguments: { city: "Oslo" } } },
      ],
    },
    { role: "tool", toolCallId: "a", content: "21" },
    { role: "tool", toolCallId: "b", content: "5" },
  ];
  assert.throws(() => renderChatTemplate(LLAMA33, two), ChatTemplateError);
  const split = splitToolCalls(two);
  assert.equal(split.length, 5);
  const viaTemplate = renderChatTemplate(LLAMA33, split, { bosToken: "<|begin_of_text|>", dateString: "26 Jul 2024" });
  assert.equal(viaTemplate, segmentsToText(formatChat(split, "llama3.1", { dateString: "26 Jul 2024" })));
  const turn = (city: string): string => `<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "${city}"}}<|eot_id|>`;
  assert.ok(viaTemplate.includes(turn("Paris") + turn("Oslo") + '<|start_header_id|>ipython<|end_header_id|>\n\n"21"<|eot_id|>'), viaTemplate);
});

test("chatFormatTakesTools: per format and template", () => {
  assert.equal(chatFormatTakesTools(new FakeChatTokenizer({ chatTemplate: LLAMA3_CHAT_TEMPLATE })), false);
  assert.equal(chatFormatTakesTools(new FakeChatTokenizer({ chatTemplate: LLAMA33 })), true);
  assert.equal(chatFormatTakesTools(new FakeChatTokenizer({ chatTemplate: LLAMA3_CHAT_TEMPLATE }), { chatTemplate: LLAMA32 }), true);
  assert.equal(chatFormatTakesTools(new FakeChatTokenizer(), { format: "llama3" }), false);
  assert.equal(chatFormatTakesTools(new FakeChatTokenizer(), { format: "llama3.1" }), true);
  // applyChatTemplate itself keeps transformers' behaviour: tools a template does not read are ignored.
  const tok = new FakeChatTokenizer({ chatTemplate: LLAMA3_CHAT_TEMPLATE });
  assert.equal(applyChatTemplate(tok, HISTORY, { tools: [{ type: "function" }] }).text, applyChatTemplate(tok, HISTORY).text);
});
