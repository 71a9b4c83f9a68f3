// pipeline("text-generation"): transformers' return shapes for a string, a chat, a list of inputs
// and returnFullText false; the text equals what the engine generates for the same prompt ids; and
// AutoTokenizer / AutoModelForCausalLM load the same folder. Runs on the built-in model (written by
// the build) with the reference backend, whose results are exact.

import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceBackend } from "../src/backend/reference.js";
import { applyChatTemplate } from "../src/chat/index.js";
import { ArgumentError } from "../src/errors.js";
import { defaultModelDir } from "../src/loader/default-model.js";
import { AutoModelForCausalLM, AutoTokenizer } from "../src/pipelines/auto.js";
import { pipeline } from "../src/pipelines/text-generation.js";

const dir = defaultModelDir();
const generator = await pipeline("text-generation", dir, { dtype: "auto", backend: referenceBackend });
const OPTIONS = { maxNewTokens: 6, seed: 3 };

test("a string gives [{ generated_text: prompt + continuation }], or only the continuation", async () => {
  const expected = await generator.engine.submit(generator.tokenizer.encode("Hello"), OPTIONS);
  const full = await generator("Hello", OPTIONS);
  assert.deepEqual(full, [{ generated_text: `Hello${expected.text}` }]);
  const only = await generator("Hello", { ...OPTIONS, returnFullText: false });
  assert.deepEqual(only, [{ generated_text: expected.text }]);
});

test("a chat gives the conversation plus the assistant's message", async () => {
  const messages = [{ role: "system" as const, content: "Be brief." }, { role: "user" as const, content: "Hi" }];
  const ids = applyChatTemplate(generator.tokenizer, messages, { addGenerationPrompt: true }).ids;
  const expected = await generator.engine.submit(ids, OPTIONS);
  const [result] = await generator(messages, OPTIONS);
  assert.deepEqual(result, { generated_text: [...messages, { role: "assistant", content: expected.text }] });
  const [short] = await generator(messages, { ...OPTIONS, returnFullText: false });
  assert.deepEqual(short, { generated_text: expected.text });
});

test("a list of inputs gives one list per input, in order", async () => {
  const inputs = ["Hello", [{ role: "user" as const, content: "Hi" }], "Once upon"] as const;
  const batch = await generator([...inputs], OPTIONS);
  assert.equal(batch.length, 3);
  assert.deepEqual(batch[0], await generator("Hello", OPTIONS));
  assert.deepEqual(batch[1], await generator(inputs[1], OPTIONS));
  assert.deepEqual(batch[2], await generator("Once upon", OPTIONS));
});

test("stream() yields token events whose texts make the result", async () => {
  let text = "";
  let done: string | undefined;
  for await (const event of generator.stream("Hello", OPTIONS)) {
    if (event.type === "token") text += event.text;
    else done = event.text;
  }
  assert.equal(text, done);
  assert.deepEqual(await generator("Hello", { ...OPTIONS, returnFullText: false }), [{ generated_text: text }]);
});

test("bad input and unknown tasks are ArgumentErrors", async () => {
  await assert.rejects(generator("", OPTIONS), ArgumentError);
  await assert.rejects(generator([] as never, OPTIONS), ArgumentError);
  await assert.rejects(generator(42 as never, OPTIONS), ArgumentError);
  await assert.rejects(pipeline("summarization" as never, dir), /unknown pipeline task/);
});

test("AutoTokenizer and AutoModelForCausalLM load the folder's tokenizer and model", async () => {
  const tokenizer = await AutoTokenizer.fromPretrained(dir);
  const model = await AutoModelForCausalLM.fromPretrained(dir, { dtype: "auto" });
  assert.deepEqual(tokenizer.encode("Hello"), generator.tokenizer.encode("Hello"));
  assert.equal(model.config.vocabSize, generator.model.config.vocabSize);
  assert.equal(model.generationConfig.temperature, 0.6);
  const ids = tokenizer.encode("Hello");
  assert.deepEqual(await model.forward(ids, model.createKvCache()), await generator.model.forward(ids, generator.model.createKvCache()));
});
