// Tool calling over HTTP with the official `openai` client, against the server with the Llama 3.1
// tokenizer and template and a scripted engine (test/server-scripted-engine.ts): the tiny random model
// never writes a tool call, so each test scripts the reply the model would give (a JSON call, several,
// a <|python_tag|> built-in call, a malformed one) and checks the mechanics: the prompt the template
// made (tools in the user turn, the call and its result in the history), the parsed calls in
// OpenAI's shape, and the stream the client assembles.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { applyChatTemplate } from "../src/chat/index.js";
import { MODEL_ID, type TestServer, rawRequest, sseData, startServer } from "./server-support.js";
import { ScriptedEngine, llama31Tokenizer } from "./server-scripted-engine.js";

const tokenizer = llama31Tokenizer();
const CALL = '{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}';
let reply = CALL;
const engine = new ScriptedEngine(tokenizer, (r) => (r.promptText.includes("<|start_header_id|>ipython") ? "It is 21 C in Paris." : reply));
let s: TestServer;
let client: OpenAI;

before(async () => {
  const stopTokenIds = ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"].map((t) => tokenizer.tokenToId(t)!);
  s = await startServer({ engine, tokenizer, stopTokenIds });
  client = new OpenAI({ baseURL: s.baseURL, apiKey: "none", maxRetries: 0 });
});
after(async () => {
  await s.close();
});

const WEATHER: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city"] },
  },
};
const TIME: OpenAI.Chat.Completions.ChatCompletionTool = { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } };
const ASK: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Paris?" }];

test("a tool call: the prompt has the tools as the 3.1 template writes them; the reply is message.tool_calls", async () => {
  reply = CALL;
  const completion = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER] });
  const choice = completion.choices[0]!;
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, null);
  assert.equal(choice.message.tool_calls?.length, 1);
  const call = choice.message.tool_calls![0]!;
  assert.equal(call.type, "function");
  assert.match(call.id, /^call_[0-9a-f]{24}$/);
  assert.ok(call.type === "function");
  assert.equal(call.function.name, "get_weather");
  assert.equal(typeof call.function.arguments, "string");
  assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris", unit: "celsius" });
  // The prompt is what the library makes for the same chat and tool definitions.
  const expected = applyChatTemplate(tokenizer, [{ role: "user", content: "Weather in Paris?" }], { addGenerationPrompt: true, tools: [WEATHER as never] });
  assert.deepEqual(engine.requests.at(-1)!.promptIds, expected.ids);
  assert.ok(expected.text.includes("Environment: ipython\n") && expected.text.includes('"name": "get_weather"'));
  assert.ok(expected.text.includes("Given the following functions, please respond with a JSON for a function call"));
  // Token usage counts the call's tokens and the stop token.
  assert.equal(completion.usage!.completion_tokens, tokenizer.encode(CALL, { addSpecialTokens: false }).length + 1);
});

test("the round trip: content null + tool_calls and a tool message go back; the result is rendered as ipython", async () => {
  reply = CALL;
  const first = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER] });
  const message = first.choices[0]!.message;
  const call = message.tool_calls![0]!;
  const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    ...ASK,
    { role: "assistant", content: null, tool_calls: message.tool_calls! },
    { role: "tool", tool_call_id: call.id, content: '{"temperature": 21}' },
  ];
  const second = await client.chat.completions.create({ model: MODEL_ID, messages, tools: [WEATHER] });
  assert.equal(second.choices[0]!.finish_reason, "stop");
  assert.equal(second.choices[0]!.message.content, "It is 21 C in Paris.");
  assert.equal(second.choices[0]!.message.tool_calls, undefined);
  const prompt = engine.requests.at(-1)!.promptText;
  assert.ok(prompt.includes('<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}<|eot_id|>'), prompt);
  assert.ok(prompt.includes('<|start_header_id|>ipython<|end_header_id|>\n\n"{\\"temperature\\": 21}"<|eot_id|>'), prompt);
});

test("streamed: the role, then delta.tool_calls (index, id, type, name, then argument fragments), finish_reason tool_calls", async () => {
  reply = CALL;
  const response = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { model: MODEL_ID, messages: ASK, tools: [WEATHER], stream: true });
  const data = sseData(response.text);
  assert.equal(data.at(-1), "[DONE]");
  const deltas = data.slice(0, -1).map((d) => (JSON.parse(d) as { choices: { delta: Record<string, unknown>; finish_reason: string | null }[] }).choices[0]!);
  assert.deepEqual(deltas[0]!.delta, { role: "assistant", content: "" });
  const head = deltas[1]!.delta["tool_calls"] as { index: number; id: string; type: string; function: { name: string; arguments: string } }[];
  assert.equal(head.length, 1);
  assert.deepEqual([head[0]!.index, head[0]!.type, head[0]!.function], [0, "function", { name: "get_weather", arguments: "" }]);
  assert.match(head[0]!.id, /^call_/);
  const fragments = deltas.slice(2, -1).map((d) => {
    const [entry, ...more] = d.delta["tool_calls"] as { index: number; id?: string; function: { name?: string; arguments: string } }[];
    assert.equal(more.length, 0);
    assert.deepEqual([entry!.index, entry!.id, entry!.function.name], [0, undefined, undefined]);
    return entry!.function.arguments;
  });
  assert.ok(fragments.length > 1, "arguments arrive in several fragments");
  assert.deepEqual(JSON.parse(fragments.join("")), { city: "Paris", unit: "celsius" });
  assert.deepEqual([deltas.at(-1)!.delta, deltas.at(-1)!.finish_reason], [{}, "tool_calls"]);
  assert.ok(deltas.slice(0, -1).every((d) => d.finish_reason === null));
});

test("streamed: the openai client's stream helper assembles the calls (two of them, parallel)", async () => {
  reply = `${CALL}; {"name": "get_time", "parameters": {}}`;
  const stream = client.chat.completions.stream({ model: MODEL_ID, messages: ASK, tools: [WEATHER, TIME] });
  const final = await stream.finalChatCompletion();
  const calls = final.choices[0]!.message.tool_calls!;
  assert.equal(final.choices[0]!.finish_reason, "tool_calls");
  assert.deepEqual(calls.map((c) => (c.type === "function" ? [c.function.name, JSON.parse(c.function.arguments)] : [])), [
    ["get_weather", { city: "Paris", unit: "celsius" }],
    ["get_time", {}],
  ]);
  assert.equal(new Set(calls.map((c) => c.id)).size, 2);
  // The two calls go back in one assistant message, as OpenAI clients send them; each becomes its own turn.
  const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    ...ASK,
    { role: "assistant", content: null, tool_calls: calls },
    ...calls.map((c, i) => ({ role: "tool" as const, tool_call_id: c.id, content: `result ${i}` })),
  ];
  const answer = await client.chat.completions.create({ model: MODEL_ID, messages: history, tools: [WEATHER, TIME] });
  assert.equal(answer.choices[0]!.message.content, "It is 21 C in Paris.");
  const prompt = engine.requests.at(-1)!.promptText;
  const turn = (call: string): string => `<|start_header_id|>assistant<|end_header_id|>\n\n${call}<|eot_id|>`;
  assert.ok(prompt.includes(turn(CALL) + turn('{"name": "get_time", "parameters": {}}') + '<|start_header_id|>ipython<|end_header_id|>\n\n"result 0"'), prompt);
  // parallel_tool_calls false: one call per reply.
  const single = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER, TIME], parallel_tool_calls: false });
  assert.deepEqual(single.choices[0]!.message.tool_calls!.map((c) => (c.type === "function" ? c.function.name : "")), ["get_weather"]);
});

test("a built-in tool call after <|python_tag|> (ending with <|eom_id|>) is a call too", async () => {
  reply = '<|python_tag|>brave_search.call(query="Paris weather")';
  const completion = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER] });
  const call = completion.choices[0]!.message.tool_calls![0]!;
  assert.ok(call.type === "function");
  assert.deepEqual([call.function.name, JSON.parse(call.function.arguments)], ["brave_search", { query: "Paris weather" }]);
  const streamed = await client.chat.completions.stream({ model: MODEL_ID, messages: ASK, tools: [WEATHER] }).finalChatCompletion();
  const again = streamed.choices[0]!.message.tool_calls![0]!;
  assert.ok(again.type === "function");
  assert.equal(again.function.arguments, call.function.arguments);
});

test("a malformed call comes back as text with finish_reason stop, streamed or not; text replies are untouched", async () => {
  reply = '{"name": "get_weather", "parameters": {"city": Paris}}';
  const completion = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER] });
  assert.deepEqual([completion.choices[0]!.message.content, completion.choices[0]!.finish_reason, completion.choices[0]!.message.tool_calls], [reply, "stop", undefined]);
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER], stream: true })) chunks.push(chunk);
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), reply);
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, "stop");
  assert.ok(chunks.every((c) => c.choices[0]?.delta.tool_calls === undefined));
  // A reply cut off by max_tokens in the middle of a call: its text, finish_reason length.
  reply = CALL;
  const cut = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER], max_tokens: 4 });
  assert.equal(cut.choices[0]!.finish_reason, "length");
  assert.ok(CALL.startsWith(cut.choices[0]!.message.content!));
  // Plain text streams as text.
  reply = "Sunny.";
  const text = await client.chat.completions.stream({ model: MODEL_ID, messages: ASK, tools: [WEATHER] }).finalChatCompletion();
  assert.deepEqual([text.choices[0]!.message.content, text.choices[0]!.finish_reason], ["Sunny.", "stop"]);
});

test('tool_choice "none": no tools in the prompt and the reply is text; "required" and a named function constrain decoding', async () => {
  reply = CALL;
  const none = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER], tool_choice: "none" });
  assert.deepEqual([none.choices[0]!.message.content, none.choices[0]!.finish_reason], [CALL, "stop"]);
  assert.ok(!engine.requests.at(-1)!.promptText.includes("get_weather"));
  assert.equal(engine.requests.at(-1)!.options.constraint, undefined);
  await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER] });
  assert.equal(engine.requests.at(-1)!.options.constraint, undefined);
  // The constraint itself is tested on the real model in server-tools-constrained.test.ts.
  const grammars: unknown[] = [];
  for (const tool_choice of ["required", { type: "function", function: { name: "get_weather" } }, "required"] as const) {
    const completion: OpenAI.Chat.Completions.ChatCompletion = await client.chat.completions.create({ model: MODEL_ID, messages: ASK, tools: [WEATHER, TIME], tool_choice });
    assert.equal(completion.choices[0]!.finish_reason, "tool_calls");
    grammars.push(engine.requests.at(-1)!.options.constraint);
  }
  assert.ok(grammars.every((g) => g !== undefined));
  assert.notEqual(grammars[0], grammars[1]);
  assert.equal(grammars[0], grammars[2], "the grammar of the same tools and choice is reused");
});

test("malformed tool fields are 400s naming the field", async () => {
  const cases: [object, string][] = [
    [{ tools: [{ type: "function", function: { name: "bad name" } }] }, "tools[0].function.name"],
    [{ tools: [{ type: "code_interpreter" }] }, "tools[0].type"],
    [{ tools: [{ type: "function", function: { name: "f", parameters: [] } }] }, "tools[0].function.parameters"],
    [{ tools: [WEATHER, WEATHER] }, "tools[1]"],
    [{ tools: [WEATHER], tool_choice: "sometimes" }, "tool_choice"],
    [{ tools: [WEATHER], tool_choice: { type: "function", function: { name: "nope" } } }, "tool_choice.function.name"],
    [{ tool_choice: "required" }, "tool_choice"],
    [{ tools: [WEATHER], parallel_tool_calls: "yes" }, "parallel_tool_calls"],
    [{ functions: [{ name: "f" }] }, "functions"],
    [{ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", patternProperties: {} } } }], tool_choice: "required" }, "tools"],
  ];
  for (const [fields, param] of cases) {
    const response = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { model: MODEL_ID, messages: ASK, ...fields });
    assert.equal(response.status, 400, response.text);
    assert.equal((JSON.parse(response.text) as { error: { param: string } }).error.param, param, response.text);
  }
});
