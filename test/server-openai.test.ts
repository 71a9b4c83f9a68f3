// The server as OpenAI clients see it: the official `openai` npm client against `llama3-ts`'s server
// on a loopback port, with the real engine and a tiny real-vocabulary model. Chat and completions,
// streaming and not; every answer is checked against the engine's own output for the same prompt.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { applyChatTemplate } from "../src/chat/index.js";
import type { GenerationOptions, SequenceOutput } from "../src/generate/types.js";
import { MODEL_ID, type TestServer, loadTiny, rawRequest, sseData, startServer } from "./server-support.js";

let s: TestServer;
let client: OpenAI;
let stopTokenIds: number[];

before(async () => {
  s = await startServer();
  client = new OpenAI({ baseURL: s.baseURL, apiKey: "none", maxRetries: 0 });
  const { model, tokenizer } = await loadTiny();
  stopTokenIds = [...new Set([...model.config.eosTokenIds, ...tokenizer.eosTokenIds])];
});
after(async () => {
  await s.close();
});

/** What the engine generates for `ids` on its own (the reference for the server's answers). */
async function direct(ids: readonly number[], options: GenerationOptions): Promise<SequenceOutput> {
  return await s.engine.submit(ids, { stopTokenIds, ...options });
}

async function chatIds(messages: { role: "system" | "user"; content: string }[]): Promise<number[]> {
  const { tokenizer } = await loadTiny();
  return applyChatTemplate(tokenizer, messages, { addGenerationPrompt: true }).ids;
}

const MESSAGES = [
  { role: "system" as const, content: "You are terse." },
  { role: "user" as const, content: "Name a llama." },
];

test("models.list names the served model; /health reports the engine", async () => {
  const models: OpenAI.Models.Model[] = [];
  for await (const m of client.models.list()) models.push(m);
  assert.deepEqual(models.map((m) => [m.id, m.object, m.owned_by]), [[MODEL_ID, "model", "llama3-ts"]]);
  assert.equal((await client.models.retrieve(MODEL_ID)).id, MODEL_ID);
  const health = JSON.parse((await rawRequest(s.address.url, "GET", "/health")).text) as Record<string, unknown>;
  assert.deepEqual([health["status"], health["model"], health["active"], health["queued"]], ["ok", MODEL_ID, 0, 0]);
});

test("chat completion (not streamed) equals the engine's greedy output for the templated prompt", async () => {
  const ids = await chatIds(MESSAGES);
  const expected = await direct(ids, { maxNewTokens: 8, doSample: false });
  const completion = await client.chat.completions.create({ model: MODEL_ID, messages: MESSAGES, max_tokens: 8, temperature: 0 });
  assert.equal(completion.object, "chat.completion");
  assert.match(completion.id, /^chatcmpl-/);
  assert.equal(completion.model, MODEL_ID);
  assert.equal(completion.choices.length, 1);
  const choice = completion.choices[0]!;
  assert.deepEqual(choice.message.role, "assistant");
  assert.equal(choice.message.content, expected.text);
  assert.ok(expected.text.length > 0);
  assert.equal(choice.finish_reason, expected.finishReason);
  assert.deepEqual(completion.usage, { prompt_tokens: ids.length, completion_tokens: expected.tokenIds.length, total_tokens: ids.length + expected.tokenIds.length });
});

test("chat completion streamed: role first, deltas that add up to the text, finish_reason, usage chunk, [DONE]", async () => {
  const ids = await chatIds(MESSAGES);
  const expected = await direct(ids, { maxNewTokens: 10, doSample: false });
  const stream = await client.chat.completions.create({
    model: MODEL_ID, messages: MESSAGES, max_completion_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length >= 3);
  assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0]!.id && c.model === MODEL_ID));
  assert.equal(chunks[0]!.choices[0]!.delta.role, "assistant");
  const content = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? "")).join("");
  assert.equal(content, expected.text);
  const finishes = chunks.flatMap((c) => c.choices.filter((ch) => ch.finish_reason !== null).map((ch) => ch.finish_reason));
  assert.deepEqual(finishes, [expected.finishReason]);
  const last = chunks.at(-1)!;
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, { prompt_tokens: ids.length, completion_tokens: expected.tokenIds.length, total_tokens: ids.length + expected.tokenIds.length });
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  // Without include_usage there is no usage chunk, and the raw stream ends with data: [DONE].
  const raw = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { model: MODEL_ID, messages: MESSAGES, max_tokens: 3, temperature: 0, stream: true });
  assert.match(String(raw.headers["content-type"]), /^text\/event-stream/);
  const data = sseData(raw.text);
  assert.equal(data.at(-1), "[DONE]");
  const parsed = data.slice(0, -1).map((d) => JSON.parse(d) as { choices: unknown[]; usage?: unknown });
  assert.ok(parsed.every((c) => c.choices.length === 1 && !("usage" in c)));
});

test("completions, plain and streamed, equal the engine's output; a list of prompts gives a choice each", async () => {
  const { tokenizer } = await loadTiny();
  const prompts = ["Once upon a time", "The llama"];
  const expected = await Promise.all(prompts.map((p) => direct(tokenizer.encode(p), { maxNewTokens: 6, doSample: false })));
  const completion = await client.completions.create({ model: MODEL_ID, prompt: prompts, max_tokens: 6, temperature: 0 });
  assert.equal(completion.object, "text_completion");
  assert.deepEqual(completion.choices.map((c) => [c.index, c.text, c.finish_reason]), expected.map((e, i) => [i, e.text, e.finishReason]));
  const promptTokens = prompts.reduce((n, p) => n + tokenizer.encode(p).length, 0);
  assert.equal(completion.usage?.prompt_tokens, promptTokens);

  const stream = await client.completions.create({ model: MODEL_ID, prompt: prompts[0]!, max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let finish: string | null = null;
  let usage;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "text_completion");
    for (const c of chunk.choices) {
      text += c.text;
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, expected[0]!.text);
  assert.equal(finish, expected[0]!.finishReason);
  assert.equal(usage?.completion_tokens, expected[0]!.tokenIds.length);
  // Token ids as the prompt are used as given (no BOS added).
  const byIds = await client.completions.create({ model: MODEL_ID, prompt: tokenizer.encode(prompts[1]!), max_tokens: 6, temperature: 0 });
  assert.equal(byIds.choices[0]!.text, expected[1]!.text);
});

test("n choices with a seed: reproducible, choice i sampled with seed + i", async () => {
  const request = { model: MODEL_ID, messages: MESSAGES, max_tokens: 6, temperature: 1.5, n: 3, seed: 41 };
  const a = await client.chat.completions.create(request);
  const b = await client.chat.completions.create(request);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
  const single = await client.chat.completions.create({ ...request, n: 1, seed: 43 });
  assert.equal(single.choices[0]!.message.content, a.choices[2]!.message.content);
  // Different seeds sample differently (at temperature 1.5 over 128256 tokens, a collision of all three is not credible).
  assert.ok(new Set(a.choices.map((c) => c.message.content)).size > 1);
  assert.equal(a.usage?.completion_tokens, 18);
  // Streamed, the choices' chunks interleave, each with its index; together they give the same texts.
  const stream = await client.chat.completions.create({ ...request, stream: true });
  const texts = ["", "", ""];
  const finished: number[] = [];
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      texts[choice.index] += choice.delta.content ?? "";
      if (choice.finish_reason !== null) finished.push(choice.index);
    }
  }
  assert.deepEqual(texts, a.choices.map((c) => c.message.content));
  assert.deepEqual(finished.sort(), [0, 1, 2]);
});

test("logprobs and top_logprobs (chat) and logprobs N (completions)", async () => {
  const ids = await chatIds(MESSAGES);
  const expected = await direct(ids, { maxNewTokens: 4, doSample: false, logprobs: true, topLogprobs: 3 });
  const completion = await client.chat.completions.create({ model: MODEL_ID, messages: MESSAGES, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = completion.choices[0]!.logprobs!.content!;
  assert.equal(content.length, expected.tokenIds.length);
  const { tokenizer } = await loadTiny();
  content.forEach((entry, i) => {
    const id = expected.tokenIds[i]!;
    assert.equal(entry.token, tokenizer.decode([id]));
    assert.deepEqual(entry.bytes, Array.from(tokenizer.idToBytes(id)!));
    assert.equal(entry.logprob, expected.logprobs![i]!.logprob);
    assert.equal(entry.top_logprobs.length, 3);
    // Greedy: the chosen token is the most likely one.
    assert.equal(entry.top_logprobs[0]!.logprob, entry.logprob);
    assert.ok(entry.top_logprobs[1]!.logprob <= entry.top_logprobs[0]!.logprob);
  });
  const plain = await client.completions.create({ model: MODEL_ID, prompt: "Hello", max_tokens: 3, temperature: 0, logprobs: 2 });
  const lp = plain.choices[0]!.logprobs!;
  assert.equal(lp.tokens!.length, 3);
  assert.equal(lp.tokens!.join(""), plain.choices[0]!.text);
  assert.deepEqual(lp.text_offset, [0, lp.tokens![0]!.length, lp.tokens![0]!.length + lp.tokens![1]!.length]);
  assert.ok(lp.top_logprobs!.every((alternatives) => Object.keys(alternatives).length <= 2 && Object.keys(alternatives).length >= 1));
  assert.ok(lp.token_logprobs!.every((x) => x <= 0));
});

test("stop strings cut the text before the match, with finish_reason stop", async () => {
  const ids = await chatIds(MESSAGES);
  const full = await direct(ids, { maxNewTokens: 12, doSample: false });
  // A stop string taken from the middle of the greedy answer.
  const cut = Math.floor(full.text.length / 2);
  const stop = full.text.slice(cut, cut + 3);
  const stopAt = full.text.indexOf(stop);
  const completion = await client.chat.completions.create({ model: MODEL_ID, messages: MESSAGES, max_tokens: 12, temperature: 0, stop: [stop, "never-appears"] });
  assert.equal(completion.choices[0]!.message.content, full.text.slice(0, stopAt));
  assert.equal(completion.choices[0]!.finish_reason, "stop");
});

test("errors reach the client as typed OpenAI errors with status, param and code", async () => {
  await assert.rejects(client.chat.completions.create({ model: MODEL_ID, messages: MESSAGES, temperature: 9 }), (error: unknown) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.status, 400);
    assert.equal(error.param, "temperature");
    return true;
  });
  await assert.rejects(client.completions.create({ model: "nope", prompt: "x" }), (error: unknown) => {
    assert.ok(error instanceof OpenAI.NotFoundError);
    assert.equal(error.code, "model_not_found");
    return true;
  });
  // The request log has one line per request: method, path, status, tokens, time queued, duration.
  assert.ok(s.logs.some((line) => /^POST \/v1\/chat\/completions 200 prompt_tokens=\d+ completion_tokens=\d+ queue_ms=\d+ \d+ms$/.test(line)), s.logs.join("\n"));
  assert.ok(s.logs.some((line) => /^POST \/v1\/completions 404 \d+ms$/.test(line)));
});
