// Agent frameworks against the server, as their users call them: the Vercel AI SDK (`generateText`
// with `tools` running a tool loop to a final answer, through the chat-completions provider and its
// default provider, which calls /v1/responses) and LangChain JS (`ChatOpenAI.bindTools`, on chat
// completions and with `useResponsesApi`). Most tests use a scripted engine (a tool call first, the
// answer once the tool result is in the prompt; test/server-scripted-engine.ts) with the Llama 3.1
// tokenizer and template; the last runs the real tiny model, where constrained decoding
// (toolChoice "required") forces the call and the random weights write the rest.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createOpenAI } from "@ai-sdk/openai";
import { ToolMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, stepCountIs, tool } from "ai";
import { z } from "zod";
import { MODEL_ID, type TestServer, startServer } from "./server-support.js";
import { ScriptedEngine, llama31Tokenizer } from "./server-scripted-engine.js";

const tokenizer = llama31Tokenizer();
const ANSWER = "It is 21 C in Paris.";
const engine = new ScriptedEngine(tokenizer, (r) =>
  r.promptText.includes("<|start_header_id|>ipython") ? ANSWER : '{"name": "get_weather", "parameters": {"city": "Paris"}}',
);
let s: TestServer;
let real: TestServer;

before(async () => {
  const stopTokenIds = ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"].map((t) => tokenizer.tokenToId(t)!);
  s = await startServer({ engine, tokenizer, stopTokenIds });
  real = await startServer({ tokenizer, stopTokenIds });
});
after(async () => {
  await s.close();
  await real.close();
});

function weatherTool(calls: unknown[]) {
  return tool({
    description: "The weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      calls.push(city);
      return { city, celsius: 21 };
    },
  });
}

for (const [name, api] of [["chat completions", "chat"], ["the default provider (/v1/responses)", "responses"]] as const) {
  test(`AI SDK generateText with tools runs the loop to a final answer: ${name}`, async () => {
    const provider = createOpenAI({ baseURL: s.baseURL, apiKey: "none" });
    const model = api === "chat" ? provider.chat(MODEL_ID) : provider(MODEL_ID);
    const calls: unknown[] = [];
    const before = engine.requests.length;
    const result = await generateText({ model, tools: { get_weather: weatherTool(calls) }, stopWhen: stepCountIs(4), prompt: "Weather in Paris?", maxRetries: 0 });
    assert.deepEqual(calls, ["Paris"]);
    assert.equal(result.steps.length, 2);
    assert.equal(result.steps[0]!.finishReason, "tool-calls");
    assert.deepEqual(result.steps[0]!.toolCalls.map((c) => [c.toolName, c.input]), [["get_weather", { city: "Paris" }]]);
    assert.equal(result.text, ANSWER);
    assert.equal(result.finishReason, "stop");
    // The second request carried the call and its result back: the prompt has the ipython turn.
    assert.equal(engine.requests.length - before, 2);
    const second = engine.requests.at(-1)!.promptText;
    assert.ok(second.includes('{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>'), second);
    assert.ok(second.includes('\\"celsius\\":21'), second);
  });
}

for (const useResponsesApi of [false, true]) {
  test(`LangChain bindTools: tool_calls on the AIMessage, a ToolMessage back, the answer (useResponsesApi: ${useResponsesApi})`, async () => {
    const llm = new ChatOpenAI({ model: MODEL_ID, apiKey: "none", configuration: { baseURL: s.baseURL }, maxRetries: 0, useResponsesApi });
    const withTools = llm.bindTools([{ type: "function", function: { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }]);
    const first = await withTools.invoke("Weather in Paris?");
    assert.equal(first.tool_calls?.length, 1);
    const call = first.tool_calls![0]!;
    assert.deepEqual([call.name, call.args], ["get_weather", { city: "Paris" }]);
    assert.match(call.id!, /^call_/);
    const second = await withTools.invoke(["Weather in Paris?", first, new ToolMessage({ tool_call_id: call.id!, content: "21 C" })]);
    assert.equal(second.text, ANSWER);
    assert.deepEqual(second.tool_calls ?? [], []);
  });
}

test("the real model with the AI SDK: toolChoice required forces a valid call on step 1, the answer comes on step 2", async () => {
  const provider = createOpenAI({ baseURL: real.baseURL, apiKey: "none" });
  const calls: unknown[] = [];
  // An enum keeps the random model's string argument short (a free string runs to the token limit).
  const weather = tool({
    description: "The weather in a city",
    inputSchema: z.object({ city: z.enum(["Paris", "Oslo"]) }),
    execute: async ({ city }) => {
      calls.push(city);
      return { city, celsius: 21 };
    },
  });
  const result = await generateText({
    model: provider(MODEL_ID),
    tools: { get_weather: weather },
    stopWhen: stepCountIs(2),
    // The constraint makes step 1 a call whatever the weights; step 2 may not call again.
    prepareStep: ({ stepNumber }) => ({ toolChoice: stepNumber === 0 ? "required" : "none" }),
    prompt: "Weather in Paris?",
    maxOutputTokens: 200,
    temperature: 1,
    maxRetries: 0,
  });
  assert.equal(calls.length, 1);
  assert.ok(calls[0] === "Paris" || calls[0] === "Oslo");
  assert.equal(result.steps.length, 2);
  assert.equal(result.steps[0]!.finishReason, "tool-calls");
  assert.equal(result.steps[1]!.toolCalls.length, 0);
  assert.ok(["stop", "length"].includes(result.finishReason));
});
