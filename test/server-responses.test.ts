// The Responses API (`POST /v1/responses`) with the official `openai` client: `client.responses.create`
// whole and streamed (`client.responses.stream`, which assembles the events), input items, function
// calls and their outputs, text.format json_schema, and errors. Replies come from a scripted engine
// (test/server-scripted-engine.ts) with the Llama 3.1 tokenizer and template, for deterministic tool
// calls; one test runs the real engine and checks the text equals the chat completion's for the same
// conversation.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { MODEL_ID, type TestServer, rawRequest, startServer } from "./server-support.js";
import { ScriptedEngine, llama31Tokenizer } from "./server-scripted-engine.js";

const tokenizer = llama31Tokenizer();
const CALL = '{"name": "get_weather", "parameters": {"city": "Paris"}}';
let reply = "Hello there.";
const engine = new ScriptedEngine(tokenizer, (r) => (r.promptText.includes("<|start_header_id|>ipython") ? "It is 21 C." : reply));
let s: TestServer;
let real: TestServer;
let client: OpenAI;

before(async () => {
  const stopTokenIds = ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"].map((t) => tokenizer.tokenToId(t)!);
  s = await startServer({ engine, tokenizer, stopTokenIds });
  real = await startServer({ tokenizer, stopTokenIds });
  client = new OpenAI({ baseURL: s.baseURL, apiKey: "none", maxRetries: 0 });
});
after(async () => {
  await s.close();
  await real.close();
});

const WEATHER: OpenAI.Responses.FunctionTool = {
  type: "function", name: "get_weather", description: "Weather in a city", strict: true,
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
};

test("a text response: the response object, output_text, usage; instructions are the system message", async () => {
  reply = "Hello there.";
  const response = await client.responses.create({ model: MODEL_ID, input: "Hi!", instructions: "Be brief.", max_output_tokens: 50 });
  assert.equal(response.object, "response");
  assert.match(response.id, /^resp_/);
  assert.equal(response.status, "completed");
  assert.equal(response.model, MODEL_ID);
  assert.equal(response.output_text, "Hello there.");
  assert.equal(response.output.length, 1);
  const item = response.output[0]!;
  assert.ok(item.type === "message");
  assert.match(item.id, /^msg_/);
  assert.deepEqual([item.role, item.status, item.content.map((c) => c.type)], ["assistant", "completed", ["output_text"]]);
  const prompt = engine.requests.at(-1)!;
  assert.ok(prompt.promptText.includes("Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"), prompt.promptText);
  assert.equal(prompt.options.maxNewTokens, 50);
  const outputTokens = tokenizer.encode("Hello there.", { addSpecialTokens: false }).length + 1;
  assert.deepEqual(response.usage, {
    input_tokens: prompt.promptIds.length, input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: prompt.promptIds.length + outputTokens,
  });
  // Cut off by max_output_tokens: incomplete, with the reason.
  const cut = await client.responses.create({ model: MODEL_ID, input: "Hi!", max_output_tokens: 2 });
  assert.deepEqual([cut.status, cut.incomplete_details], ["incomplete", { reason: "max_output_tokens" }]);
});

test("streamed: OpenAI's event order with sequence numbers; the client's stream helper assembles the text", async () => {
  reply = "Hello there, friend.";
  const raw = await rawRequest(s.address.url, "POST", "/v1/responses", { model: MODEL_ID, input: "Hi!", stream: true });
  const events = raw.text.split("\n\n").filter((e) => e !== "" && !e.startsWith(":")).map((e) => {
    const [eventLine, dataLine] = e.split("\n");
    const data = JSON.parse(dataLine!.slice("data: ".length)) as { type: string; sequence_number: number; delta?: string };
    assert.equal(eventLine, `event: ${data.type}`);
    return data;
  });
  const types = events.map((e) => e.type);
  const deltas = types.filter((t) => t === "response.output_text.delta").length;
  assert.ok(deltas > 1);
  assert.deepEqual(types, [
    "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
    ...Array<string>(deltas).fill("response.output_text.delta"),
    "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
  ]);
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  assert.equal(events.filter((e) => e.delta !== undefined).map((e) => e.delta).join(""), reply);
  assert.ok(!raw.text.includes("[DONE]"));

  const stream = client.responses.stream({ model: MODEL_ID, input: [{ role: "user", content: [{ type: "input_text", text: "Hi!" }] }] });
  let seen = "";
  stream.on("response.output_text.delta", (e) => { seen += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(final.output_text, reply);
  assert.equal(seen, reply);
  assert.equal(final.status, "completed");
});

test("function calls: a function_call item, then function_call_output back; streamed calls too", async () => {
  reply = CALL;
  const first = await client.responses.create({ model: MODEL_ID, input: "Weather in Paris?", tools: [WEATHER] });
  const call = first.output[0]!;
  assert.ok(call.type === "function_call");
  assert.deepEqual([call.name, JSON.parse(call.arguments), call.status], ["get_weather", { city: "Paris" }, "completed"]);
  assert.match(call.call_id, /^call_/);
  assert.match(call.id!, /^fc_/);
  const second = await client.responses.create({
    model: MODEL_ID, tools: [WEATHER],
    input: [
      { role: "user", content: "Weather in Paris?" },
      { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: "function_call_output", call_id: call.call_id, output: "21 C" },
    ],
  });
  assert.equal(second.output_text, "It is 21 C.");
  const prompt = engine.requests.at(-1)!.promptText;
  assert.ok(prompt.includes(`<|start_header_id|>assistant<|end_header_id|>\n\n${CALL}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n"21 C"<|eot_id|>`), prompt);

  const stream = client.responses.stream({ model: MODEL_ID, input: "Weather in Paris?", tools: [WEATHER] });
  const types: string[] = [];
  stream.on("event", (e) => types.push(e.type));
  const final = await stream.finalResponse();
  const streamed = final.output[0]!;
  assert.ok(streamed.type === "function_call");
  assert.deepEqual([streamed.name, JSON.parse(streamed.arguments)], ["get_weather", { city: "Paris" }]);
  assert.deepEqual(types, [
    "response.created", "response.in_progress", "response.output_item.added", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.output_item.done", "response.completed",
  ]);
});

test("item_reference names an output item of an earlier response", async () => {
  reply = "Stored answer.";
  const first = await client.responses.create({ model: MODEL_ID, input: "Hi!" });
  reply = "Next.";
  await client.responses.create({ model: MODEL_ID, input: [{ role: "user", content: "Hi!" }, { type: "item_reference", id: first.output[0]!.id! }, { role: "user", content: "More?" }] });
  assert.ok(engine.requests.at(-1)!.promptText.includes("<|start_header_id|>assistant<|end_header_id|>\n\nStored answer.<|eot_id|><|start_header_id|>user"));
  const missing = await rawRequest(s.address.url, "POST", "/v1/responses", { model: MODEL_ID, input: [{ type: "item_reference", id: "msg_nope" }] });
  assert.equal(missing.status, 400);
  assert.equal((JSON.parse(missing.text) as { error: { param: string } }).error.param, "input[0].id");
});

test("text.format json_schema becomes the responseFormat constraint; unsupported fields are 400s naming them", async () => {
  reply = '{"a": 1}';
  const schema = { type: "object", properties: { a: { type: "integer" } }, required: ["a"], additionalProperties: false };
  await client.responses.create({ model: MODEL_ID, input: "JSON please", text: { format: { type: "json_schema", name: "thing", schema, strict: true } } });
  assert.deepEqual(engine.requests.at(-1)!.options.responseFormat, { type: "json_schema", schema });
  // A named function in the Responses API's flat tool_choice shape constrains decoding as on chat completions.
  reply = CALL;
  const named = await client.responses.create({ model: MODEL_ID, input: "Weather?", tools: [WEATHER], tool_choice: { type: "function", name: "get_weather" } });
  assert.ok(engine.requests.at(-1)!.options.constraint !== undefined);
  assert.equal(named.output[0]!.type, "function_call");
  assert.deepEqual(named.tool_choice, { type: "function", name: "get_weather" });
  const cases: [object, string][] = [
    [{ previous_response_id: "resp_1" }, "previous_response_id"],
    [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "x" }] }] }, "input[0].content[0].type"],
    [{ input: [{ type: "reasoning", summary: [] }] }, "input[0].type"],
    [{ input: 3 }, "input"],
    [{ tools: [{ type: "web_search" }] }, "tools[0].type"],
    [{ text: { format: { type: "json_schema", name: "x", schema: { type: "object", patternProperties: {} } } } }, "text.format.schema"],
    [{ text: { format: { type: "yaml" } } }, "text.format.type"],
    [{ max_output_tokens: 0 }, "max_output_tokens"],
    [{ include: ["reasoning.encrypted_content"] }, "include"],
    [{ tools: [WEATHER], tool_choice: { type: "function", name: "nope" } }, "tool_choice.name"],
  ];
  for (const [fields, param] of cases) {
    const response = await rawRequest(s.address.url, "POST", "/v1/responses", { model: MODEL_ID, input: "Hi", ...fields });
    assert.equal(response.status, 400, `${JSON.stringify(fields)}: ${response.text}`);
    const error = (JSON.parse(response.text) as { error: { param: string; type: string } }).error;
    assert.deepEqual([error.param, error.type], [param, "invalid_request_error"], response.text);
  }
  await assert.rejects(client.responses.create({ model: "other-model", input: "Hi" }), (e: unknown) => e instanceof OpenAI.NotFoundError);
});

test("on the real engine, a response's text is the chat completion's for the same conversation (greedy)", async () => {
  const realClient = new OpenAI({ baseURL: real.baseURL, apiKey: "none", maxRetries: 0 });
  const chat = await realClient.chat.completions.create({ model: MODEL_ID, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi!" }], max_tokens: 8, temperature: 0 });
  const response = await realClient.responses.create({ model: MODEL_ID, instructions: "Be brief.", input: "Hi!", max_output_tokens: 8, temperature: 0 });
  assert.equal(response.output_text, chat.choices[0]!.message.content);
  assert.equal(response.usage!.output_tokens, chat.usage!.completion_tokens);
  assert.equal(response.usage!.input_tokens, chat.usage!.prompt_tokens);
});
