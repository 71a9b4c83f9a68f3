// The KV cache's storage: float32 by default, or 16-bit rows rounded to nearest even as they are
// written; growth keeps the rows; 16-bit rows come from the float32 allocator (half the length) so
// a backend's kernels read them in place; bad options and writes get ArgumentError.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ArgumentError } from "../errors.js";
import { f32ToBf16, f32ToF16 } from "../tensor/float16.js";
import { type LlamaConfig, kvDim } from "./config.js";
import { KvCache, type KvDType } from "./kv-cache.js";

// Only the fields the cache reads: layers and the kv width (2 kv heads of 4).
const CONFIG = { nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 4, dim: 16, maxPositionEmbeddings: 1024 } as LlamaConfig;
const WIDTH = kvDim(CONFIG); // 8

/** The bits (or float32 value) a cache of `dtype` stores for x. */
const stored = (dtype: KvDType, x: number): number => (dtype === "f32" ? Math.fround(x) : dtype === "f16" ? f32ToF16(x) : f32ToBf16(x));

test("rows are written rounded to the cache's dtype and kept when the cache grows", () => {
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    const cache = new KvCache(CONFIG, { dtype });
    assert.equal(cache.dtype, dtype);
    const k = Float32Array.from({ length: 3 * WIDTH }, (_, i) => 1 / (i + 3)); // not exact in 16 bits
    const v = k.map((x) => -x);
    cache.reserve(3);
    cache.write(1, 0, k, v);
    cache.advance(3);
    cache.reserve(1000); // grows (capacity 256 -> 1000): rows are copied into the new storage
    const keys = cache.keys(1);
    const values = cache.values(1);
    assert.equal(keys.dtype, dtype);
    assert.equal(keys.data.length, 1000 * WIDTH);
    for (let i = 0; i < k.length; i++) {
      assert.equal(keys.data[i], stored(dtype, k[i]!), `${dtype} key ${i}`);
      assert.equal(values.data[i], stored(dtype, v[i]!), `${dtype} value ${i}`);
    }
  }
});

test("a 16-bit cache takes half the bytes of a float32 one", () => {
  const f32 = new KvCache(CONFIG, { maxSeqLen: 100 });
  const bf16 = new KvCache(CONFIG, { maxSeqLen: 100, dtype: "bf16" });
  assert.equal(f32.byteLength, 2 * CONFIG.nLayers * 100 * WIDTH * 4);
  assert.equal(bf16.byteLength, f32.byteLength / 2);
});

test("16-bit rows are views of float32 arrays from the allocator, given back on release", () => {
  const live = new Set<Float32Array>();
  const allocator = {
    allocateFloat32: (n: number) => { const a = new Float32Array(n); live.add(a); return a; },
    freeFloat32: (a: Float32Array) => assert.ok(live.delete(a), "freed an array the allocator did not hand out"),
  };
  const cache = new KvCache(CONFIG, { maxSeqLen: 10, dtype: "f16", allocator });
  assert.equal(live.size, 2 * CONFIG.nLayers);
  const keys = cache.keys(0);
  assert.ok([...live].some((a) => a.buffer === keys.data.buffer && a.byteOffset === keys.data.byteOffset && a.length === Math.ceil(keys.data.length / 2)));
  cache.release();
  assert.equal(live.size, 0);
});

test("bad dtypes and writes are refused with ArgumentError", () => {
  assert.throws(() => new KvCache(CONFIG, { dtype: "f8" as KvDType }), ArgumentError);
  const cache = new KvCache(CONFIG, { maxSeqLen: 4 });
  const row = new Float32Array(WIDTH);
  assert.throws(() => cache.write(0, 4, row, row), ArgumentError); // past the capacity
  assert.throws(() => cache.write(0, 0, row.subarray(1), row.subarray(1)), ArgumentError); // not whole rows
  assert.throws(() => cache.write(0, 0, row, new Float32Array(2 * WIDTH)), ArgumentError); // k and v differ
});
