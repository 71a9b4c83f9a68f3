// argmax and the top-k listing (sampling itself is tested with the processors).

import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.js";
import { argmax, topKIds } from "./sampling.js";

test("argmax takes the first of equal maxima, as torch.argmax", () => {
  assert.equal(argmax(new Float32Array([1, 3, 3, 2])), 1);
});

test("topKIds agrees with a full sort for small and large k, ties by lower id", () => {
  const rng = new Rng(7);
  const logits = new Float32Array(1000).map(() => Math.round(rng.normal() * 4) / 2); // many ties
  const sorted = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
  for (const k of [1, 5, 10, 64, 65, 1000]) assert.deepEqual(topKIds(logits, k), sorted.slice(0, k), `k=${k}`);
});
