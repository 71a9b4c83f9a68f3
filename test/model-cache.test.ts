// The KV cache path: a prompt prefilled at once, in chunks, or one token at a time gives the same
// logits; the caller owns and can rewind the cache; bad inputs are refused with ArgumentError.
//
// Equality is exact: with the reference kernels every path runs the same per-row arithmetic in the
// same order (each token's matmul row, norm and attention row do not depend on how tokens are
// batched). A batched optimized backend may reorder sums; its own conformance tests bound that.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError } from "../src/errors.js";
import { KvCache } from "../src/model/kv-cache.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { fixturePath } from "./support/paths.js";

const PROMPT = [0, 5, 17, 42, 99, 3, 250, 7, 311, 64, 2, 480];

const modelPromise = LlamaForCausalLM.fromPretrained(fixturePath("hf", "tiny-v512-bf16-untied-llama3rope"));

test("prefill equals token-by-token decode at every position", async () => {
  const model = await modelPromise;
  const vocab = model.config.vocabSize;
  const full = await model.forward(PROMPT, model.createKvCache(), { allLogits: true });
  const cache = model.createKvCache();
  for (const [pos, id] of PROMPT.entries()) {
    const step = await model.forward([id], cache);
    assert.equal(cache.length, pos + 1);
    assert.deepEqual(step, full.subarray(pos * vocab, (pos + 1) * vocab), `position ${pos}`);
  }
});

test("chunked prefill equals one prefill; last-only logits equal the last row of all logits", async () => {
  const model = await modelPromise;
  const vocab = model.config.vocabSize;
  const full = await model.forward(PROMPT, model.createKvCache(), { allLogits: true });
  const last = await model.forward(PROMPT, model.createKvCache());
  assert.deepEqual(last, full.subarray((PROMPT.length - 1) * vocab));
  const cache = model.createKvCache();
  await model.forward(PROMPT.slice(0, 5), cache);
  const chunked = await model.forward(PROMPT.slice(5), cache);
  assert.deepEqual(chunked, last);
});

test("a truncated cache continues as if the dropped tokens were never seen", async () => {
  const model = await modelPromise;
  const cache = model.createKvCache();
  await model.forward(PROMPT, cache);
  cache.truncate(4);
  const rewound = await model.forward([123, 45], cache);
  const fresh = await model.forward([...PROMPT.slice(0, 4), 123, 45], model.createKvCache());
  assert.deepEqual(rewound, fresh);
  assert.equal(cache.length, 6);
});

test("a prompt longer than the internal chunk gives the same logits as a split prefill", async () => {
  const model = await modelPromise;
  const long = Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % model.config.vocabSize);
  const whole = await model.forward(long, model.createKvCache());
  const cache = model.createKvCache();
  await model.forward(long.slice(0, 100), cache);
  const split = await model.forward(long.slice(100), cache);
  assert.deepEqual(whole, split);
});

test("bad inputs are refused with ArgumentError naming the problem", async () => {
  const model = await modelPromise;
  await assert.rejects(model.forward([], model.createKvCache()), (e: unknown) => e instanceof ArgumentError && /at least one token/.test(e.message));
  await assert.rejects(model.forward([1, 512], model.createKvCache()), (e: unknown) => e instanceof ArgumentError && /token 1 is 512/.test(e.message));
  await assert.rejects(model.forward([1.5], model.createKvCache()), ArgumentError);
  await assert.rejects(model.forward([1, 2, 3], model.createKvCache({ maxSeqLen: 2 })), (e: unknown) => e instanceof ArgumentError && /maxSeqLen 2/.test(e.message));
  assert.throws(() => model.createKvCache({ maxSeqLen: 0 }), ArgumentError);
  const cache = model.createKvCache();
  await model.forward([1, 2], cache);
  assert.throws(() => cache.truncate(3), ArgumentError);
  assert.throws(() => cache.advance(-1), ArgumentError);
  assert.throws(() => cache.advance(1e6), ArgumentError);
  const otherShape = new KvCache({ ...model.config, nKvHeads: 1 });
  await assert.rejects(model.forward([1], otherShape), (e: unknown) => e instanceof ArgumentError && /another shape/.test(e.message));
});

test("forwardBatch equals separate forward calls, for mixed prefill and decode rows", async () => {
  const model = await modelPromise;
  const vocab = model.config.vocabSize;
  // Sequence A decodes one token after a 5-token prefix; B prefills 7 tokens; C prefills 300
  // tokens, more than one pass (256 rows), so it spans passes shared with A and B.
  const long = Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % vocab);
  const cacheA = model.createKvCache();
  await model.forward(PROMPT.slice(0, 5), cacheA);
  const soloA = model.createKvCache();
  await model.forward(PROMPT.slice(0, 5), soloA);
  const [a, b, c] = await model.forwardBatch(
    [
      { tokens: [PROMPT[5]!], cache: cacheA },
      { tokens: PROMPT.slice(0, 7), cache: model.createKvCache() },
      { tokens: long, cache: model.createKvCache() },
    ],
    { allLogits: true },
  );
  assert.deepEqual(a, await model.forward([PROMPT[5]!], soloA, { allLogits: true }));
  assert.deepEqual(b, await model.forward(PROMPT.slice(0, 7), model.createKvCache(), { allLogits: true }));
  assert.deepEqual(c, await model.forward(long, model.createKvCache(), { allLogits: true }));
  assert.equal(cacheA.length, 6);
  const [lastOnly] = await model.forwardBatch([{ tokens: PROMPT, cache: model.createKvCache() }]);
  assert.deepEqual(lastOnly, await model.forward(PROMPT, model.createKvCache()));
});

test("forwardBatch refuses a shared cache and names the bad sequence", async () => {
  const model = await modelPromise;
  const cache = model.createKvCache();
  await assert.rejects(model.forwardBatch([{ tokens: [1], cache }, { tokens: [2], cache }]), ArgumentError);
  await assert.rejects(model.forwardBatch([{ tokens: [1], cache }, { tokens: [1e9], cache: model.createKvCache() }]), /sequence 1: token 0/);
  await assert.rejects(model.forwardBatch([]), ArgumentError);
});
