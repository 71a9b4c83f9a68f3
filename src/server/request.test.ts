// Unit tests of request.ts: OpenAI wire bodies to typed camelCase requests, table-driven.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError } from "./api-error.js";
import { parseChatRequest, parseCompletionRequest } from "./request.js";

const USER = [{ role: "user", content: "Hi" }];

test("chat bodies: defaults, snake_case fields and their camelCase meaning", () => {
  const plain = parseChatRequest({ messages: USER });
  assert.deepEqual(plain, {
    endpoint: "chat", model: undefined, maxTokens: undefined, temperature: undefined, topP: undefined, stop: [], seed: undefined, n: 1,
    presencePenalty: undefined, frequencyPenalty: undefined, topK: undefined, minP: undefined, repetitionPenalty: undefined,
    logprobs: false, topLogprobs: 0, stream: false, includeUsage: false, responseFormat: undefined, messages: [{ role: "user", content: "Hi" }], tools: undefined,
  });
  const full = parseChatRequest({
    model: "m", messages: USER, max_tokens: 3, max_completion_tokens: 9, temperature: null, stop: ["a", "b"], stream: true,
    stream_options: { include_usage: true }, logprobs: true, top_logprobs: 2, response_format: { type: "text" }, n: 4,
  });
  assert.deepEqual([full.model, full.maxTokens, full.temperature, full.stop, full.includeUsage, full.topLogprobs, full.n], ["m", 9, undefined, ["a", "b"], true, 2, 4]);
});

test("chat messages: OpenAI wire names become the chat module's (tool_calls, tool_call_id, developer)", () => {
  const { messages } = parseChatRequest({
    messages: [
      { role: "developer", content: "Rules" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"a":1}' } }] },
      { role: "tool", tool_call_id: "c1", content: [{ type: "text", text: "ok" }] },
      { role: "assistant", content: "Done", refusal: null },
    ],
  });
  assert.deepEqual(messages, [
    { role: "system", content: "Rules" },
    { role: "assistant", content: null, toolCalls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"a":1}' } }] },
    { role: "tool", content: [{ type: "text", text: "ok" }], toolCallId: "c1" },
    { role: "assistant", content: "Done" },
  ]);
});

test("completion prompts: string, strings, ids, lists of ids", () => {
  const prompts = (prompt: unknown): unknown => parseCompletionRequest({ prompt }).prompts;
  assert.deepEqual(prompts("x"), [{ kind: "text", text: "x" }]);
  assert.deepEqual(prompts(["x", "y"]), [{ kind: "text", text: "x" }, { kind: "text", text: "y" }]);
  assert.deepEqual(prompts([1, 2]), [{ kind: "ids", ids: [1, 2] }]);
  assert.deepEqual(prompts([[1], [2, 3]]), [{ kind: "ids", ids: [1] }, { kind: "ids", ids: [2, 3] }]);
  assert.equal(parseCompletionRequest({ prompt: "x", logprobs: 0 }).logprobs, true);
  assert.equal(parseCompletionRequest({ prompt: "x", best_of: 2, n: 2 }).n, 2);
});

test("response_format: json_schema and json_object become responseFormat; text is none", () => {
  const schema = { type: "object", properties: { a: { type: "integer" } }, required: ["a"], additionalProperties: false };
  const body = (format: unknown) => ({ messages: USER, response_format: format });
  assert.deepEqual(parseChatRequest(body({ type: "json_schema", json_schema: { name: "thing", strict: true, schema } })).responseFormat, { type: "json_schema", schema });
  assert.deepEqual(parseChatRequest(body({ type: "json_object" })).responseFormat, { type: "json_object" });
  assert.deepEqual(parseChatRequest(body({ type: "json_schema", json_schema: { name: "any" } })).responseFormat, { type: "json_object" });
  assert.equal(parseChatRequest(body({ type: "text" })).responseFormat, undefined);
  assert.deepEqual(parseCompletionRequest({ prompt: "Hi", response_format: { type: "json_object" } }).responseFormat, { type: "json_object" });
});

test("bad fields are 400s naming the field, with its path", () => {
  const cases: readonly [() => unknown, string, RegExp][] = [
    [() => parseChatRequest({ messages: "Hi" }), "messages", /expected an array/],
    [() => parseChatRequest({ messages: [] }), "messages", /empty/],
    [() => parseChatRequest({ messages: [null] }), "messages[0]", /got null/],
    [() => parseChatRequest({ messages: [{ role: "user" }] }), "messages[0].content", /got undefined/],
    [() => parseChatRequest({ messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] }), "messages[0].content[0].text", /a string/],
    [() => parseChatRequest({ messages: [{ role: "assistant", tool_calls: [{ function: { name: "" } }] }] }), "messages[0].tool_calls[0].function.name", /non-empty/],
    [() => parseChatRequest({ messages: USER, stream_options: { include_usage: true } }), "stream_options", /stream is true/],
    [() => parseChatRequest({ messages: USER, stream: true, stream_options: { include_usage: "yes" } }), "stream_options.include_usage", /a boolean/],
    [() => parseChatRequest({ messages: USER, response_format: { type: "xml" } }), "response_format.type", /"xml"/],
    [() => parseChatRequest({ messages: USER, response_format: { type: "json_schema" } }), "response_format.json_schema", /required/],
    [() => parseChatRequest({ messages: USER, response_format: { type: "json_schema", json_schema: {} } }), "response_format.json_schema.name", /required/],
    [() => parseChatRequest({ messages: USER, response_format: { type: "json_schema", json_schema: { name: "a b", schema: {} } } }), "response_format.json_schema.name", /letters/],
    [() => parseChatRequest({ messages: USER, response_format: { type: "json_schema", json_schema: { name: "x", schema: [] } } }), "response_format.json_schema.schema", /an object/],
    [() => parseChatRequest({ messages: USER, response_format: { type: "json_schema", json_schema: { name: "x", strict: "yes", schema: {} } } }), "response_format.json_schema.strict", /a boolean/],
    [() => parseChatRequest({ messages: USER, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { a: { type: "number", multipleOf: 3 } } } } } }), "response_format.json_schema.schema", /#\/properties\/a\/multipleOf: the keyword "multipleOf" is not supported/],
    [() => parseCompletionRequest({ prompt: "Hi", response_format: { type: "json_schema", json_schema: { name: "x", schema: { oneOf: [] } } } }), "response_format.json_schema.schema", /"oneOf"/],
    [() => parseChatRequest({ messages: USER, logit_bias: { "50256": -100 } }), "logit_bias", /not supported/],
    [() => parseChatRequest({ messages: USER, top_p: 0 }), "top_p", /above 0/],
    [() => parseChatRequest({ messages: USER, n: 17 }), "n", /between 1 and 16/],
    [() => parseChatRequest({ messages: USER, stop: Array(17).fill("x") }), "stop", /at most 16/],
    [() => parseChatRequest({ messages: USER, seed: 1.5 }), "seed", /an integer/],
    [() => parseChatRequest({ messages: USER, temperature: Number.NaN }), "temperature", /a number/],
    [() => parseCompletionRequest({}), "prompt", /required/],
    [() => parseCompletionRequest({ prompt: [] }), "prompt", /empty/],
    [() => parseCompletionRequest({ prompt: [[1], [-1]] }), "prompt[1][0]", /a token id/],
    [() => parseCompletionRequest({ prompt: [1, "a"] }), "prompt[1]", /a token id/],
    [() => parseCompletionRequest({ prompt: ["a", 1] }), "prompt[1]", /a string or a non-empty array/],
    [() => parseCompletionRequest({ prompt: "x", suffix: "y" }), "suffix", /not supported/],
    [() => parseCompletionRequest({ prompt: "x", best_of: 3 }), "best_of", /not supported/],
    [() => parseCompletionRequest({ prompt: "x", logprobs: 21 }), "logprobs", /between 0 and 20/],
  ];
  for (const [parse, param, message] of cases) {
    assert.throws(parse, (error: unknown) => {
      assert.ok(error instanceof ApiError, String(error));
      assert.equal(error.status, 400);
      assert.equal(error.param, param, error.message);
      assert.match(error.message, message);
      assert.ok(error.message.startsWith(`${param}: `), error.message);
      return true;
    });
  }
});
