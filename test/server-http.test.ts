// The HTTP layer against a scripted fake engine: how OpenAI request fields become GenerationOptions
// (snake_case wire to camelCase, seeds per choice, OpenAI's sampling semantics), and failures that a
// real model does not produce on demand (an engine error in the middle of a stream).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import type { GenerationEvent, GenerationOptions, SequenceOutput } from "../src/generate/types.js";
import type { ServerEngine, ServerRun } from "../src/server/index.js";
import { applyChatTemplate } from "../src/chat/index.js";
import { MODEL_ID, type TestServer, loadTiny, rawRequest, sseData, startServer } from "./server-support.js";

/** A run that yields `tokens` (ids with their text), then a done event, or throws `failAfter` tokens in. */
class ScriptedRun implements ServerRun {
  constructor(
    private readonly promptIds: readonly number[],
    private readonly tokens: readonly { id: number; text: string }[],
    private readonly failAfter?: number,
  ) {}

  private output(): SequenceOutput {
    return { tokenIds: this.tokens.map((t) => t.id), text: this.tokens.map((t) => t.text).join(""), finishReason: "length", promptTokens: this.promptIds.length };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GenerationEvent> {
    for (const [i, t] of this.tokens.entries()) {
      if (i === this.failAfter) throw new RangeError("engine exploded (internal detail)");
      yield { type: "token", sequence: 0, tokenId: t.id, text: t.text };
    }
    const out = this.output();
    yield { type: "done", sequence: 0, finishReason: out.finishReason, tokenIds: out.tokenIds, text: out.text, promptTokens: out.promptTokens };
  }

  then<A = SequenceOutput, B = never>(ok?: ((value: SequenceOutput) => A | PromiseLike<A>) | null, fail?: ((reason: unknown) => B | PromiseLike<B>) | null): PromiseLike<A | B> {
    const result = this.failAfter === undefined ? Promise.resolve(this.output()) : Promise.reject(new RangeError("engine exploded (internal detail)"));
    return result.then(ok, fail);
  }
}

class FakeEngine implements ServerEngine {
  readonly activeCount = 0;
  readonly queuedCount = 0;
  readonly submitted: { promptIds: readonly number[]; options: GenerationOptions }[] = [];
  failAfter: number | undefined;

  submit(promptIds: readonly number[], options: GenerationOptions): ServerRun {
    this.submitted.push({ promptIds, options });
    return new ScriptedRun(promptIds, [{ id: 9906, text: "Hello" }, { id: 1917, text: " world" }], this.failAfter);
  }
}

const engine = new FakeEngine();
let s: TestServer;
before(async () => {
  s = await startServer({ engine, randomSeed: () => 777, onError: () => {} });
});
after(async () => {
  await s.close();
});

/** The options of the sequences one request submitted (without the signal and the queue-time callback). */
async function optionsOf(path: string, body: object): Promise<Omit<GenerationOptions, "signal" | "onStart">[]> {
  engine.submitted.length = 0;
  const response = await rawRequest(s.address.url, "POST", path, { model: MODEL_ID, ...body });
  assert.equal(response.status, 200, response.text);
  return engine.submitted.map(({ options }) => {
    assert.ok(options.signal instanceof AbortSignal);
    assert.equal(typeof options.onStart, "function");
    const { signal: _signal, onStart: _onStart, stopTokenIds, ...rest } = options;
    assert.ok(stopTokenIds !== undefined && stopTokenIds.includes(128009), "chat turns stop at <|eot_id|>");
    return rest;
  });
}

const CHAT = { messages: [{ role: "user", content: "Hi" }] };

test("OpenAI fields map to generation options", async () => {
  assert.deepEqual(await optionsOf("/v1/chat/completions", { ...CHAT, max_tokens: 5 }), [{ maxNewTokens: 5, seed: 777 }]);
  assert.deepEqual(
    await optionsOf("/v1/chat/completions", {
      ...CHAT, max_tokens: 5, max_completion_tokens: 7, temperature: 0.5, top_p: 0.9, seed: 3, n: 2, stop: "END",
      presence_penalty: 0.5, frequency_penalty: -0.25, logprobs: true, top_logprobs: 4,
    }),
    [0, 1].map((i) => ({
      maxNewTokens: 7, doSample: true, temperature: 0.5, topK: 0, topP: 0.9, presencePenalty: 0.5, frequencyPenalty: -0.25,
      seed: 3 + i, stopStrings: ["END"], logprobs: true, topLogprobs: 4,
    })),
  );
  // temperature 0 is greedy, and sampling-only fields are then left out.
  assert.deepEqual(await optionsOf("/v1/chat/completions", { ...CHAT, temperature: 0, top_p: 0.5, top_k: 5, max_tokens: 1 }), [{ maxNewTokens: 1, doSample: false, seed: 777 }]);
  // Extensions as vLLM takes them: top_k (-1 is off), min_p, repetition_penalty.
  assert.deepEqual(
    await optionsOf("/v1/completions", { prompt: [1, 2, 3], temperature: 1, top_k: -1, min_p: 0.1, repetition_penalty: 1.2, seed: -1 }),
    [{ maxNewTokens: 16, doSample: true, temperature: 1, topK: 0, minP: 0.1, repetitionPenalty: 1.2, seed: 2 ** 32 - 1 }],
  );
  // Completions: logprobs N is logprobs with N alternatives; a list of prompts gives n sequences each.
  const multi = await optionsOf("/v1/completions", { prompt: ["a", "b"], n: 2, logprobs: 3, max_tokens: 2, seed: 10 });
  assert.deepEqual(multi.map((o) => [o.seed, o.logprobs, o.topLogprobs]), [[10, true, 3], [11, true, 3], [10, true, 3], [11, true, 3]]);
  assert.deepEqual(engine.submitted.map((r) => r.promptIds.length), [2, 2, 2, 2]); // BOS + one token each
});

test("messages in OpenAI's wire form reach the chat template (developer as system, text parts joined)", async () => {
  const messages = [
    { role: "developer", content: "Be brief." },
    { role: "user", content: [{ type: "text", text: "What is " }, { type: "text", text: "2+2?" }] },
  ];
  const response = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { model: MODEL_ID, messages, max_tokens: 2 });
  assert.equal(response.status, 200, response.text);
  const body = JSON.parse(response.text) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number } };
  assert.equal(body.choices[0]!.message.content, "Hello world");
  const { tokenizer } = await loadTiny();
  const expected = applyChatTemplate(tokenizer, [{ role: "system", content: "Be brief." }, { role: "user", content: "What is 2+2?" }], { addGenerationPrompt: true }).ids;
  assert.deepEqual(engine.submitted.at(-1)!.promptIds, expected);
  assert.equal(body.usage.prompt_tokens, expected.length);
  // A tool history renders with the Llama 3 template too: the call becomes JSON text (the template
  // alone fails on its null content), the result keeps its tool header.
  const history = await rawRequest(s.address.url, "POST", "/v1/chat/completions", {
    model: MODEL_ID,
    messages: [
      { role: "user", content: "2+2?" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "calc", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "c1", content: "4" },
    ],
  });
  assert.equal(history.status, 200, history.text);
  const polyfilled = applyChatTemplate(tokenizer, [
    { role: "user", content: "2+2?" },
    { role: "assistant", content: null, toolCalls: [{ id: "c1", function: { name: "calc", arguments: {} } }] },
    { role: "tool", toolCallId: "c1", content: "4" },
  ], { addGenerationPrompt: true });
  assert.ok(polyfilled.text.includes('"name": "calc"') && polyfilled.text.includes("<|start_header_id|>tool<|end_header_id|>\n\n4<|eot_id|>"));
  assert.deepEqual(engine.submitted.at(-1)!.promptIds, polyfilled.ids);
  // A malformed message is still the client's 400, naming the field.
  const rejected = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { model: MODEL_ID, messages: [{ role: "tool", content: [{ type: "text", text: 1 }] }] });
  assert.equal(rejected.status, 400, rejected.text);
  assert.equal((JSON.parse(rejected.text) as { error: { param: string } }).error.param, "messages[0].content[0].text");
});

test("an engine failure mid-stream ends the stream with an error event the openai client raises", async () => {
  engine.failAfter = 1;
  try {
    const raw = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { model: MODEL_ID, ...CHAT, stream: true });
    assert.equal(raw.status, 200);
    const data = sseData(raw.text);
    assert.notEqual(data.at(-1), "[DONE]");
    const last = JSON.parse(data.at(-1)!) as { error: { type: string; message: string } };
    assert.equal(last.error.type, "server_error");
    assert.doesNotMatch(raw.text, /exploded|RangeError/);
    const client = new OpenAI({ baseURL: s.baseURL, apiKey: "none", maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: "user", content: "Hi" }], stream: true });
    await assert.rejects(async () => {
      for await (const _chunk of stream);
    }, OpenAI.APIError);
    assert.ok(s.logs.some((line) => /^POST \/v1\/chat\/completions 500 /.test(line)));
  } finally {
    engine.failAfter = undefined;
  }
});
