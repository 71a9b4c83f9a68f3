// The library's tool calling end to end: `pipeline` with `tools` (rendered by Meta's 3.1 template) and
// a forced call (`constraint: toolCallGrammar(tools, { name })`) on the tiny random model with the
// Llama 3.1 tokenizer: the reply comes back as an assistant message with toolCalls whose arguments
// validate against the function's schema (ajv), and feeding the call and a result back renders them.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import { applyChatTemplate, type ChatMessage, type ToolDefinition } from "../src/chat/index.js";
import { toolCallGrammar } from "../src/generate/tool-call-grammar.js";
import { textGenerationPipeline } from "../src/pipelines/text-generation.js";
import { loadTiny } from "./server-support.js";
import { llama31Tokenizer } from "./server-scripted-engine.js";

const PARAMS = { type: "object", properties: { city: { type: "string", enum: ["Paris", "Oslo"] } }, required: ["city"], additionalProperties: false };
const TOOLS: ToolDefinition[] = [
  { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: PARAMS } },
  { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } },
];

test("pipeline with tools and a forced call: an assistant message with toolCalls; the call renders back", async () => {
  const { model } = await loadTiny();
  const tokenizer = llama31Tokenizer();
  const generator = textGenerationPipeline(model, tokenizer);
  const chat: ChatMessage[] = [{ role: "user", content: "Weather in Paris?" }];
  const [result] = await generator(chat, {
    tools: TOOLS, constraint: toolCallGrammar(TOOLS as never, { name: "get_weather" }), maxNewTokens: 200, doSample: true, temperature: 1, seed: 3,
    stopTokenIds: [tokenizer.tokenToId("<|eot_id|>")!, tokenizer.tokenToId("<|eom_id|>")!],
  });
  const conversation = result.generated_text as ChatMessage[];
  assert.equal(conversation.length, 2);
  const reply = conversation[1]!;
  assert.ok(reply.role === "assistant" && reply.toolCalls !== undefined, JSON.stringify(reply));
  assert.equal(reply.content, null);
  assert.equal(reply.toolCalls.length, 1);
  const call = reply.toolCalls[0]!;
  assert.equal(call.function.name, "get_weather");
  assert.ok(new Ajv().validate(PARAMS, call.function.arguments), JSON.stringify(call.function.arguments));
  // The conversation goes back with the call and a result, as the 3.1 template writes them.
  const next = applyChatTemplate(tokenizer, [...conversation, { role: "tool", content: "21 C" }], { tools: TOOLS, addGenerationPrompt: true });
  assert.ok(next.text.includes(`{"name": "get_weather", "parameters": ${JSON.stringify(call.function.arguments).replace(/":/g, '": ')}}<|eot_id|>`), next.text);
  assert.ok(next.text.includes('<|start_header_id|>ipython<|end_header_id|>\n\n"21 C"<|eot_id|>'));
});
