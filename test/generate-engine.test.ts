// The generation engine and generate(): streaming equals awaiting, a batch (left-padded, with a
// mask) equals one prompt at a time, sequences joining a running batch get their solo results, stop
// ids / stop strings / length end sequences with the right reason, an AbortSignal or a broken-off
// iterator stops generation within a step, and logprobs describe the model's distribution.
//
// Equality is exact: the reference backend computes every row of a batched step with the same
// arithmetic as a step of one (see test/model-cache.test.ts), and each sequence samples from its
// own seeded generator.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError } from "../src/errors.js";
import { GenerationEngine } from "../src/generate/engine.js";
import { generate } from "../src/generate/generate.js";
import type { GenerationEvent } from "../src/generate/types.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { fixturePath } from "./support/paths.js";

const small = await LlamaForCausalLM.fromPretrained(fixturePath("hf", "tiny-v512-f32-untied-norope"));
const vocab = await LlamaForCausalLM.fromPretrained(fixturePath("hf", "tiny-v128256-f32-tied-norope"));
const tokenizer = await Tokenizer.bundled();
const PROMPTS = [[1, 5, 17, 42, 99], [7, 3], [300, 2, 8, 9, 10, 11, 250, 4]];

async function collect(events: AsyncIterable<GenerationEvent>): Promise<GenerationEvent[]> {
  const all: GenerationEvent[] = [];
  for await (const e of events) all.push(e);
  return all;
}

test("streaming events equal the awaited result: ids, text deltas, finish reason", async () => {
  const prompt = tokenizer.encode("The weather today");
  const options = { maxNewTokens: 12, stopTokenIds: [], tokenizer } as const;
  const awaited = await generate(vocab, prompt, options);
  const events = await collect(generate(vocab, prompt, options));
  const tokens = events.filter((e) => e.type === "token");
  const done = events.at(-1)!;
  assert.equal(done.type, "done");
  assert.deepEqual(tokens.map((e) => e.tokenId), awaited.outputs[0]!.tokenIds);
  assert.equal(tokens.map((e) => e.text).join(""), awaited.outputs[0]!.text);
  assert.equal(awaited.outputs[0]!.text, tokenizer.decode(awaited.outputs[0]!.tokenIds, { skipSpecialTokens: true }));
  assert.equal(done.type === "done" && done.finishReason, "length");
  assert.deepEqual(awaited.sequences[0], [...prompt, ...awaited.outputs[0]!.tokenIds]);
});

test("a left-padded batch with an attention mask equals each prompt alone (greedy and seeded sampling)", async () => {
  const PAD = 0;
  const width = Math.max(...PROMPTS.map((p) => p.length));
  const inputIds = PROMPTS.map((p) => [...new Array<number>(width - p.length).fill(PAD), ...p]);
  const attentionMask = PROMPTS.map((p) => [...new Array<number>(width - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
  for (const sampling of [{ doSample: false }, { doSample: true, temperature: 1.3, topK: 0, seed: 11 }]) {
    const options = { maxNewTokens: 9, stopTokenIds: [], ...sampling };
    const batch = await generate(small, inputIds, { ...options, attentionMask, padTokenId: PAD });
    for (const [i, prompt] of PROMPTS.entries()) {
      const solo = await generate(small, prompt, options);
      assert.deepEqual(batch.outputs[i]!.tokenIds, solo.outputs[0]!.tokenIds, `prompt ${i}, ${JSON.stringify(sampling)}`);
      assert.deepEqual(batch.sequences[i], [...inputIds[i]!, ...solo.outputs[0]!.tokenIds]);
    }
  }
});

test("rows that finish early are right-padded; stop ids end a sequence with reason stop", async () => {
  const solo = await generate(small, PROMPTS[0]!, { maxNewTokens: 6, stopTokenIds: [] });
  const stopId = solo.outputs[0]!.tokenIds[2]!;
  const firstAt = solo.outputs[0]!.tokenIds.indexOf(stopId);
  const r = await generate(small, [PROMPTS[0]!, PROMPTS[1]!], { maxNewTokens: 6, stopTokenIds: [stopId], padTokenId: 509 });
  assert.deepEqual(r.outputs[0]!.tokenIds, solo.outputs[0]!.tokenIds.slice(0, firstAt + 1));
  assert.equal(r.outputs[0]!.finishReason, "stop");
  assert.equal(r.outputs[0]!.stoppedBy, stopId);
  const length = Math.max(...r.sequences.map((s) => s.length));
  assert.ok(r.sequences.every((s) => s.length === length));
  assert.deepEqual(r.sequences[0]!.slice(PROMPTS[0]!.length + firstAt + 1), new Array<number>(length - PROMPTS[0]!.length - firstAt - 1).fill(509));
  // minNewTokens forbids the stop id until enough tokens exist.
  const late = await generate(small, PROMPTS[0]!, { maxNewTokens: 6, stopTokenIds: [stopId], minNewTokens: 6 });
  assert.ok(!late.outputs[0]!.tokenIds.includes(stopId));
});

test("a stop string spanning two tokens cuts the text before it and stops", async () => {
  const prompt = tokenizer.encode("Once upon a time");
  const free = await generate(vocab, prompt, { maxNewTokens: 16, stopTokenIds: [], tokenizer });
  // Take the boundary between two tokens with text: the last character of one and the first of the next.
  const texts = free.outputs[0]!.tokenIds.map((id) => tokenizer.decode([id]));
  const k = texts.findIndex((t, i) => i > 0 && t.length > 0 && texts[i - 1]!.length > 0 && !texts[i - 1]!.includes("\uFFFD") && !t.includes("\uFFFD"));
  assert.ok(k > 0, "the random model produced two adjacent tokens with text");
  const stop = texts[k - 1]!.slice(-1) + texts[k]!.slice(0, 1);
  const full = free.outputs[0]!.text;
  const events = await collect(generate(vocab, prompt, { maxNewTokens: 16, stopTokenIds: [], tokenizer, stopStrings: [stop] }));
  const done = events.at(-1)!;
  assert.ok(done.type === "done");
  assert.equal(done.finishReason, "stop");
  assert.equal(done.stoppedBy, stop);
  assert.equal(done.text, full.slice(0, full.indexOf(stop)));
  assert.equal(events.flatMap((e) => (e.type === "token" ? [e.text] : [])).join(""), done.text);
  assert.ok(done.tokenIds.length <= k + 1);
});

test("sequences joining a running batch get their solo results", async () => {
  const engine = new GenerationEngine(small, { maxBatch: 2 });
  const options = { maxNewTokens: 8, stopTokenIds: [] };
  const first = engine.submit(PROMPTS[0]!, options);
  const events: GenerationEvent[] = [];
  let later: Promise<unknown> | undefined;
  const runs: Promise<unknown>[] = [];
  for await (const e of first) {
    events.push(e);
    if (events.length === 3) {
      // Arrive mid-generation: one joins the batch, one waits in the queue (maxBatch 2).
      runs.push(engine.submit(PROMPTS[1]!, options).result, engine.submit(PROMPTS[2]!, options).result);
      assert.equal(engine.queuedCount + engine.activeCount, 3);
      later = Promise.all(runs);
    }
  }
  const outputs = (await later) as { tokenIds: number[] }[];
  for (const [i, prompt] of PROMPTS.slice(1).entries()) {
    assert.deepEqual(outputs[i]!.tokenIds, (await generate(small, prompt, options)).outputs[0]!.tokenIds);
  }
  assert.equal(engine.activeCount + engine.queuedCount, 0);
});

test("an AbortSignal stops generation within a step and rejects with its reason", async () => {
  const engine = new GenerationEngine(small);
  const controller = new AbortController();
  const run = engine.submit(PROMPTS[0]!, { maxNewTokens: 5000, stopTokenIds: [], signal: controller.signal });
  let tokens = 0;
  let afterAbort = 0;
  await assert.rejects(
    (async () => {
      for await (const e of run) {
        if (e.type !== "token") continue;
        if (controller.signal.aborted) afterAbort++;
        if (++tokens === 3) controller.abort();
      }
    })(),
    (e: unknown) => e instanceof Error && e.name === "AbortError",
  );
  assert.ok(afterAbort <= 1, `${afterAbort} tokens after abort`);
  await assert.rejects(run.result, (e: unknown) => e instanceof Error && e.name === "AbortError");
  assert.equal(engine.activeCount, 0);
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(engine.submit(PROMPTS[0]!, { signal: aborted.signal }).result, (e: unknown) => e instanceof Error && e.name === "AbortError");
});

test("leaving the event loop early cancels the sequence and frees its slot", async () => {
  const engine = new GenerationEngine(small, { maxBatch: 1 });
  const run = engine.submit(PROMPTS[0]!, { maxNewTokens: 5000, stopTokenIds: [] });
  for await (const e of run) if (e.type === "token") break;
  await assert.rejects(run.result, ArgumentError);
  const next = await engine.submit(PROMPTS[1]!, { maxNewTokens: 2, stopTokenIds: [] });
  assert.equal(next.tokenIds.length, 2);
  assert.equal(engine.activeCount, 0);
});

test("logprobs: the chosen token's log-probability and the top alternatives under the raw logits", async () => {
  const out = await generate(small, PROMPTS[0]!, { maxNewTokens: 3, stopTokenIds: [], logprobs: true, topLogprobs: 3 });
  const cache = small.createKvCache();
  let logits = await small.forward(PROMPTS[0]!, cache);
  for (const [step, entry] of out.outputs[0]!.logprobs!.entries()) {
    const max = Math.max(...logits);
    const logZ = max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
    // Both sides compute the same float64 expression from the same float32 logits; 1e-9 covers summation order.
    assert.ok(Math.abs(entry.logprob - (logits[entry.tokenId]! - logZ)) < 1e-9);
    assert.equal(entry.topLogprobs![0]!.tokenId, entry.tokenId, `step ${step}: greedy picks the most likely`);
    assert.ok(entry.topLogprobs!.every((t, i, all) => i === 0 || t.logprob <= all[i - 1]!.logprob));
    logits = await small.forward([entry.tokenId], cache);
  }
});

test("bad input is refused synchronously with an ArgumentError", () => {
  const engine = new GenerationEngine(small);
  assert.throws(() => engine.submit([]), ArgumentError);
  assert.throws(() => engine.submit([512]), /prompt token 0 is 512/);
  assert.throws(() => engine.submit([1], { stopStrings: ["x"] }), /need a tokenizer/);
  assert.throws(() => engine.submit(new Array<number>(small.config.maxPositionEmbeddings).fill(1)), /context/);
  assert.throws(() => generate(small, [[0, 1], [1, 2]], { attentionMask: [[1, 0], [1, 1]] }), /padding must be on the left/);
  assert.throws(() => new GenerationEngine(small, { maxBatch: 0 }), ArgumentError);
});
