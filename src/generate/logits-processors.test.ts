// Logits processors with transformers' definitions and order, on small hand-made distributions.
// Sampling frequencies are checked against the exact renormalised probabilities with a bound of
// 4.5 standard errors of a proportion (sqrt(p(1-p)/n)): a wrong filter or order moves a frequency
// by far more, while a correct one fails with probability ~1e-5 per check (and the seeds are fixed,
// so a pass is repeatable).

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError } from "../errors.js";
import { Rng } from "../tensor/rng.js";
import { type ProcessorContext, buildProcessors, minNewTokens, minP, presenceFrequencyPenalty, repetitionPenalty, temperature, topK, topP } from "./logits-processors.js";
import { type ResolvedGeneration, resolveGeneration } from "./options.js";
import { argmax, sampleFromScores } from "./sampling.js";
import type { GenerationOptions } from "./types.js";

const NO_CONTEXT: ProcessorContext = { promptIds: [], generatedIds: [] };

function resolved(options: GenerationOptions): ResolvedGeneration {
  return resolveGeneration(options, { eosTokenIds: [3], vocabSize: 4, promptLength: 1 });
}

/** Scores after the processors of `options`. */
function processed(logits: readonly number[], options: GenerationOptions, context = NO_CONTEXT): Float32Array {
  const scores = Float32Array.from(logits);
  for (const p of buildProcessors(resolved(options))) p(scores, context);
  return scores;
}

/** Exact probabilities of the processed scores. */
function probabilities(scores: Float32Array): number[] {
  const max = Math.max(...scores);
  const e = Array.from(scores, (s) => (s === -Infinity ? 0 : Math.exp(s - max)));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

/** Draw n tokens with the processors of `options` and compare frequencies to the expected probabilities. */
function checkFrequencies(logits: readonly number[], options: GenerationOptions, expected: readonly number[], n = 20000): void {
  const rng = new Rng(options.seed ?? 1);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleFromScores(processed(logits, options), rng)]!++;
  expected.forEach((p, id) => {
    const bound = 4.5 * Math.sqrt((p * (1 - p)) / n);
    const f = counts[id]! / n;
    if (p === 0) assert.equal(counts[id], 0, `id ${id} must never be drawn`);
    else assert.ok(Math.abs(f - p) <= bound, `id ${id}: frequency ${f}, expected ${p} +- ${bound}`);
  });
}

const P = [0.5, 0.3, 0.15, 0.05];
const LOGITS = P.map(Math.log);

test("temperature divides the logits: frequencies follow softmax(logits / T)", () => {
  const logits = [0, 1, 2, -1];
  const expected = probabilities(Float32Array.from(logits, (l) => l / 0.5));
  assert.deepEqual(processed(logits, { doSample: true, temperature: 0.5, topK: 0 }), Float32Array.from(logits, (l) => l / 0.5));
  checkFrequencies(logits, { doSample: true, temperature: 0.5, topK: 0 }, expected);
});

test("top-k removes scores below the k-th largest and keeps ties with it", () => {
  const scores = Float32Array.from([1, 3, 3, 2]);
  topK(2)(scores, NO_CONTEXT);
  assert.deepEqual(Array.from(scores), [-Infinity, 3, 3, -Infinity]);
  const three = Float32Array.from([1, 3, 3, 2]);
  topK(3)(three, NO_CONTEXT);
  assert.deepEqual(Array.from(three), [-Infinity, 3, 3, 2]);
  checkFrequencies(LOGITS, { doSample: true, topK: 2 }, [0.5 / 0.8, 0.3 / 0.8, 0, 0]);
});

test("top-p removes tokens whose ascending cumulative probability is <= 1 - topP", () => {
  // Ascending cumulative sums: 0.05, 0.2, 0.5, 1.0.
  const kept = (p: number): number[] => {
    const s = Float32Array.from(LOGITS);
    topP(p)(s, NO_CONTEXT);
    return Array.from(s.keys()).filter((i) => s[i] !== -Infinity);
  };
  assert.deepEqual(kept(0.8), [0, 1]); // 1 - 0.8 = 0.2: 0.05 and 0.2 are <= 0.2
  assert.deepEqual(kept(0.81), [0, 1, 2]); // 0.19: only 0.05 goes
  assert.deepEqual(kept(0.4), [0]);
  assert.deepEqual(kept(0.01), [0]); // the most likely always stays
  assert.deepEqual(kept(1), [0, 1, 2, 3]);
  checkFrequencies(LOGITS, { doSample: true, topK: 0, topP: 0.8 }, [0.5 / 0.8, 0.3 / 0.8, 0, 0]);
});

test("min-p removes tokens below minP times the top probability", () => {
  const s = Float32Array.from(LOGITS);
  minP(0.2)(s, NO_CONTEXT); // threshold 0.1: only 0.05 goes
  assert.deepEqual(Array.from(s.keys()).filter((i) => s[i] !== -Infinity), [0, 1, 2]);
  checkFrequencies(LOGITS, { doSample: true, topK: 0, minP: 0.2 }, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]);
});

test("warpers run in transformers' order: temperature, then top-k, top-p, min-p", () => {
  // With temperature 2 first, the distribution flattens to softmax(log p / 2) ~ [0.36, 0.28, 0.20,
  // 0.11]; top-p 0.5 then keeps two tokens (0.36 < 0.5). Top-p before temperature would keep one
  // (0.5 >= 0.5).
  const s = processed(LOGITS, { doSample: true, temperature: 2, topK: 0, topP: 0.5 });
  assert.deepEqual(Array.from(s.keys()).filter((i) => s[i] !== -Infinity), [0, 1]);
  // min-p after temperature: at T = 0.5 the probabilities sharpen to ~[0.70, 0.25, 0.06, 0.007];
  // min-p 0.1 (threshold ~0.07) then removes ids 2 and 3; before temperature it would remove only id 3.
  const m = processed(LOGITS, { doSample: true, temperature: 0.5, topK: 0, minP: 0.1 });
  assert.deepEqual(Array.from(m.keys()).filter((i) => m[i] !== -Infinity), [0, 1]);
});

test("greedy decoding ignores the sampling warpers but applies penalties", () => {
  const greedy = processed(LOGITS, { doSample: false, temperature: 0.1, topK: 1, topP: 0.1, minP: 0.9 });
  assert.deepEqual(greedy, Float32Array.from(LOGITS));
  const penalised = processed([2, 1.9, 0, 0], { doSample: false, repetitionPenalty: 2 }, { promptIds: [0], generatedIds: [] });
  assert.equal(argmax(penalised), 1);
});

test("repetition penalty divides positive and multiplies negative scores of seen tokens, once each", () => {
  const s = Float32Array.from([2, -2, 2, -2]);
  repetitionPenalty(2)(s, { promptIds: [0, 1, 0], generatedIds: [1] });
  assert.deepEqual(Array.from(s), [1, -4, 2, -2]);
});

test("presence and frequency penalties count generated tokens only", () => {
  const s = Float32Array.from([1, 1, 1, 1]);
  presenceFrequencyPenalty(0.5, 0.25)(s, { promptIds: [3], generatedIds: [0, 0, 1] });
  assert.deepEqual(Array.from(s), [1 - 0.5 - 0.5, 1 - 0.25 - 0.5, 1, 1]);
});

test("min new tokens forbids the stop ids until enough tokens are generated", () => {
  const before = Float32Array.from([0, 0, 0, 5]);
  minNewTokens(2, [3])(before, { promptIds: [], generatedIds: [1] });
  assert.equal(before[3], -Infinity);
  const after = Float32Array.from([0, 0, 0, 5]);
  minNewTokens(2, [3])(after, { promptIds: [], generatedIds: [1, 2] });
  assert.equal(after[3], 5);
});

test("the same seed draws the same tokens; another seed draws others", () => {
  const draw = (seed: number): number[] => {
    const rng = new Rng(seed);
    return Array.from({ length: 64 }, () => sampleFromScores(Float32Array.from(LOGITS), rng));
  };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
});

test("bad options are ArgumentErrors naming the option", () => {
  for (const [options, name] of [
    [{ temperature: 0 }, "temperature"],
    [{ topK: -1 }, "topK"],
    [{ topP: 0 }, "topP"],
    [{ topP: 1.5 }, "topP"],
    [{ minP: 2 }, "minP"],
    [{ repetitionPenalty: 0 }, "repetitionPenalty"],
    [{ maxNewTokens: 1.5 }, "maxNewTokens"],
    [{ topLogprobs: 21 }, "topLogprobs"],
    [{ stopTokenIds: [4] }, "stopTokenIds"],
    [{ stopStrings: [""] }, "stopStrings"],
    [{ seed: 0.5 }, "seed"],
  ] as const) {
    assert.throws(() => resolved(options as GenerationOptions), (e: unknown) => e instanceof ArgumentError && e.message.startsWith(name), name);
  }
});

test("generation_config defaults apply under call options; max_length counts the prompt", () => {
  const context = { eosTokenIds: [3], vocabSize: 4, promptLength: 10, defaults: { eosTokenIds: [], doSample: true, temperature: 0.6, topP: 0.9, maxLength: 30 } };
  const r = resolveGeneration({}, context);
  assert.equal(r.doSample, true);
  assert.equal(r.temperature, 0.6);
  assert.equal(r.topP, 0.9);
  assert.equal(r.maxNewTokens, 20);
  const over = resolveGeneration({ temperature: 1.2, doSample: false, maxNewTokens: 5 }, context);
  assert.equal(over.temperature, 1.2);
  assert.equal(over.doSample, false);
  assert.equal(over.maxNewTokens, 5);
  assert.deepEqual(over.stopTokenIds, [3]);
});

test("temperature alone keeps the other processors out", () => {
  const scores = Float32Array.from([1, 2]);
  temperature(2)(scores, NO_CONTEXT);
  assert.deepEqual(Array.from(scores), [0.5, 1]);
});
