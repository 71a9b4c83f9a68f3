// Samplers: greedy, temperature, top-k (ties kept, as transformers), top-p, seeded repeatability.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError } from "../errors.js";
import { Rng } from "../tensor/rng.js";
import { argmax, sampleToken, topKIds } from "./sampling.js";

test("argmax takes the first of equal maxima, as torch.argmax", () => {
  assert.equal(argmax(new Float32Array([1, 3, 3, 2])), 1);
});

test("topKIds agrees with a full sort for small and large k, ties by lower id", () => {
  const rng = new Rng(7);
  const logits = new Float32Array(1000).map(() => Math.round(rng.normal() * 4) / 2); // many ties
  const sorted = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
  for (const k of [1, 5, 10, 64, 65, 1000]) assert.deepEqual(topKIds(logits, k), sorted.slice(0, k), `k=${k}`);
});

test("sampling with top-k 1 is greedy; low temperature concentrates; seeds repeat", () => {
  const logits = new Float32Array([0.1, 2.0, 1.9, -1]);
  const rng = new Rng(1);
  for (let i = 0; i < 20; i++) assert.equal(sampleToken(logits, { kind: "sample", temperature: 1, topK: 1, rng }), 1);
  const draw = (seed: number): number[] => {
    const r = new Rng(seed);
    return Array.from({ length: 50 }, () => sampleToken(logits, { kind: "sample", temperature: 1, rng: r }));
  };
  assert.deepEqual(draw(3), draw(3));
  const counts = [0, 0, 0, 0];
  const r = new Rng(5);
  for (let i = 0; i < 4000; i++) counts[sampleToken(logits, { kind: "sample", temperature: 1, rng: r })]!++;
  // Expected probabilities softmax([0.1, 2.0, 1.9, -1]) = [0.0711, 0.4752, 0.4300, 0.0237]; 0.03 is ~4 standard deviations of a proportion over 4000 draws.
  const expected = [0.0711, 0.4752, 0.43, 0.0237];
  counts.forEach((c, i) => assert.ok(Math.abs(c / 4000 - expected[i]!) < 0.03, `id ${i}: ${c / 4000}`));
});

test("top-p keeps the smallest set reaching the mass", () => {
  const logits = new Float32Array([0.1, 2.0, 1.9, -1]);
  const r = new Rng(9);
  const seen = new Set<number>();
  // p(1) = 0.4752 < 0.5, so ids 1 and 2 are kept; never 0 or 3.
  for (let i = 0; i < 500; i++) seen.add(sampleToken(logits, { kind: "sample", temperature: 1, topP: 0.5, rng: r }));
  assert.deepEqual([...seen].sort(), [1, 2]);
});

test("top-k keeps every id tied with the k-th logit, as transformers' TopKLogitsWarper", () => {
  const logits = new Float32Array([2, 2, 1]);
  const r = new Rng(11);
  const counts = [0, 0, 0];
  for (let i = 0; i < 2000; i++) counts[sampleToken(logits, { kind: "sample", temperature: 1, topK: 1, rng: r })]!++;
  // Both ids with logit 2 survive top-k 1 and share the mass evenly (0.5 each, 4 sd = 0.045).
  assert.equal(counts[2], 0);
  assert.ok(Math.abs(counts[0]! / 2000 - 0.5) < 0.045, `${counts}`);
});

test("top-k then top-p: top-p's mass is measured within the top-k survivors", () => {
  // softmax over the top-2 [2.0, 1.9] is [0.525, 0.475]: top-p 0.5 keeps only id 1.
  const logits = new Float32Array([0.1, 2.0, 1.9, -1]);
  const r = new Rng(12);
  for (let i = 0; i < 200; i++) assert.equal(sampleToken(logits, { kind: "sample", temperature: 1, topK: 2, topP: 0.5, rng: r }), 1);
});

test("sampleToken refuses bad sampler parameters", () => {
  const logits = new Float32Array([0, 1]);
  for (const bad of [{ temperature: 0 }, { temperature: -1 }, { temperature: 1, topK: -1 }, { temperature: 1, topP: 0 }, { temperature: 1, topP: 1.5 }]) {
    assert.throws(() => sampleToken(logits, { kind: "sample", rng: new Rng(0), ...bad }), ArgumentError, JSON.stringify(bad));
  }
});
