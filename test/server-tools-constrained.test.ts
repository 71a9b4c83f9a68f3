// tool_choice "required" and a named function on the real engine (the tiny random-weight model with
// the Llama 3.1 tokenizer and template): constrained decoding makes the reply a valid call whatever
// the weights say, so these tests check that the server's answer is one, for the allowed function,
// with arguments that validate against its parameter schema (ajv), streamed and not, at temperature 1.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import OpenAI from "openai";
import { MODEL_ID, type TestServer, startServer } from "./server-support.js";
import { llama31Tokenizer } from "./server-scripted-engine.js";

const tokenizer = llama31Tokenizer();
let s: TestServer;
let client: OpenAI;
before(async () => {
  const stopTokenIds = ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"].map((t) => tokenizer.tokenToId(t)!);
  s = await startServer({ tokenizer, stopTokenIds });
  client = new OpenAI({ baseURL: s.baseURL, apiKey: "none", maxRetries: 0 });
});
after(async () => {
  await s.close();
});

const WEATHER_PARAMS = {
  type: "object",
  properties: { city: { type: "string", enum: ["Paris", "Oslo"] }, days: { type: "integer" } },
  required: ["city", "days"],
  additionalProperties: false,
};
const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", parameters: WEATHER_PARAMS } },
  { type: "function", function: { name: "is_open", parameters: { type: "object", properties: { open: { type: "boolean" } }, required: ["open"], additionalProperties: false } } },
];
const ASK: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Paris for 2 days?" }];
const ajv = new Ajv({ strict: true });
const validators = new Map(TOOLS.map((t) => [t.type === "function" ? t.function.name : "", ajv.compile(t.type === "function" ? t.function.parameters! : {})]));

function checkCall(call: OpenAI.Chat.Completions.ChatCompletionMessageToolCall, names: readonly string[]): void {
  assert.ok(call.type === "function");
  assert.ok(names.includes(call.function.name), call.function.name);
  const args: unknown = JSON.parse(call.function.arguments);
  const validate = validators.get(call.function.name)!;
  assert.ok(validate(args), `${call.function.arguments}: ${JSON.stringify(validate.errors)}`);
}

test('tool_choice "required": a valid call of one of the tools, for several seeds at temperature 1', async () => {
  for (const seed of [1, 2, 3]) {
    const completion = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: TOOLS, tool_choice: "required", temperature: 1, seed, max_tokens: 200 });
    const choice = completion.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls", JSON.stringify(choice.message));
    assert.equal(choice.message.tool_calls!.length, 1);
    checkCall(choice.message.tool_calls![0]!, ["get_weather", "is_open"]);
  }
});

test("a named function: that function's call, not streamed and streamed (assembled by the client)", async () => {
  const named = { type: "function", function: { name: "get_weather" } } as const;
  const completion = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: TOOLS, tool_choice: named, temperature: 1, seed: 5, max_tokens: 200 });
  assert.equal(completion.choices[0]!.finish_reason, "tool_calls");
  checkCall(completion.choices[0]!.message.tool_calls![0]!, ["get_weather"]);
  const streamed = await client.chat.completions.stream({ model: MODEL_ID, messages: ASK, tools: TOOLS, tool_choice: named, temperature: 1, seed: 6, max_tokens: 200 }).finalChatCompletion();
  assert.equal(streamed.choices[0]!.finish_reason, "tool_calls");
  assert.equal(streamed.choices[0]!.message.tool_calls!.length, 1);
  checkCall(streamed.choices[0]!.message.tool_calls![0]!, ["get_weather"]);
});
