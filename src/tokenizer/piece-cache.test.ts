import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../tensor/rng.js";
import { PieceCache } from "./piece-cache.js";
import { hashChars } from "./text-index.js";

test("the piece cache returns what was stored, forgets only old generations, and grows", () => {
  // Model: a Map of everything stored; the cache must never return a wrong value, must hold the
  // pieces of the last `capacity` - 1 lookups (arenas large enough that the count is the limit),
  // and may forget older ones. 2048 starts below the maximum, so the tables grow and rehash.
  for (const [capacity, distinct] of [[8, 40], [2048, 3000]] as const) {
    const cache = new PieceCache(capacity, 16, 4);
    const rng = new Rng(capacity);
    const stored = new Map<string, number[]>();
    const lastSeen = new Map<string, number>();
    for (let i = 0; i < 20000; i++) {
      const piece = "ab😀c".slice(0, 1 + rng.int(5)) + String(rng.int(distinct));
      const text = `xx${piece}yy`; // the piece is looked up inside a larger string
      const [start, end] = [2, 2 + piece.length];
      const hash = hashChars(text, start, end);
      const out = [7];
      if (cache.get(text, start, end, hash, out)) {
        assert.deepEqual(out.slice(1), stored.get(piece), piece);
      } else {
        assert.ok((lastSeen.get(piece) ?? -Infinity) < i - capacity + 1, `${piece} forgotten too early`);
        const ids = Array.from({ length: 1 + rng.int(3) }, () => rng.int(1000));
        stored.set(piece, ids);
        cache.set(text, start, end, hash, [99, ...ids], 1);
      }
      lastSeen.set(piece, i);
    }
  }
});

test("pieces larger than an arena are not cached", () => {
  const cache = new PieceCache(2, 4, 2);
  const text = "a long piece of text";
  const hash = hashChars(text, 0, text.length);
  cache.set(text, 0, text.length, hash, [1, 2, 3], 0);
  assert.equal(cache.get(text, 0, text.length, hash, []), false);
});
