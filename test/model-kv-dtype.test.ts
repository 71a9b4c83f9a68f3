// A compact KV cache (f16 or bf16 rows) under the whole model, on the ../shared fixtures loaded
// with `fromPretrained(dir, { backend })`: its logits stay within a bound set by the storage
// format's rounding of the f32 cache's, greedy decoding picks the same tokens, and the wasm backend
// (reading the 16-bit rows in place) agrees with the reference backend on the same cache dtype
// (within that rounding: their float32 keys may round to neighbouring 16-bit values).
// Also the user-facing switches: the engine's kvCacheDType and their typed errors.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { ArgumentError } from "../src/errors.js";
import { GenerationEngine } from "../src/generate/engine.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import type { KvCache, KvDType } from "../src/model/kv-cache.js";
import type { LlamaModel } from "../src/model/llama.js";
import { greedyTokens, maxAbsDiff } from "./support/golden.js";
import { fixturePath } from "./support/paths.js";

const MODELS = ["tiny-v512-f32-untied-norope", "tiny-v512-bf16-untied-llama3rope", "tiny-v128256-f32-tied-norope"];
const GREEDY_STEPS = 12;
/** Unit roundoff of each storage format: half an ulp of 1 (10 and 7 stored mantissa bits). */
const UNIT_ROUNDOFF: Readonly<Record<KvDType, number>> = { f32: 2 ** -24, f16: 2 ** -11, bf16: 2 ** -8 };
/**
 * Logits with a 16-bit cache may differ from the f32 cache's by LOGIT_FACTOR x u x max|logit|.
 * Rounding each key and value by at most u moves every attention output by O(u) of the values'
 * scale (weights by e^(u |score|), values by u), and the fixtures' two layers carry that to the
 * logits: measured 3 to 4.3 u max|logit| for both formats over the three fixtures (the f16/bf16
 * ratio is 2^3, the ratio of their roundoffs, as it must be if the error is the rounding's), so 16
 * leaves a 4x margin. A wrong cache (rows at the wrong position, half bits read as bfloat16) moves
 * logits by O(1) of max|logit|.
 */
const LOGIT_FACTOR = 16;

const greedy = (model: LlamaModel, prompt: readonly number[], cache: KvCache): Promise<number[]> => greedyTokens(model, prompt, cache, GREEDY_STEPS);

for (const name of MODELS) {
  test(`f16 and bf16 KV caches stay within their rounding of the f32 cache: ${name}`, async () => {
    const dir = fixturePath("hf", name);
    const backend = await createWasmBackend({ threads: 2 });
    try {
      const model = await LlamaForCausalLM.fromPretrained(dir, { backend });
      const reference = await LlamaForCausalLM.fromPretrained(dir);
      const vocab = model.config.vocabSize;
      const prompt = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % vocab);
      const exact = await model.forward(prompt, model.createKvCache(), { allLogits: true });
      const scale = exact.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      const exactTokens = await greedy(model, prompt, model.createKvCache());
      for (const dtype of ["f16", "bf16"] as const) {
        const cache = model.createKvCache({ dtype });
        assert.notEqual(backend.arena.locate(cache.keys(0).data), undefined, `${dtype} rows live in the backend's memory`);
        const logits = await model.forward(prompt, cache, { allLogits: true });
        const diff = maxAbsDiff(logits, exact);
        assert.ok(diff <= LOGIT_FACTOR * UNIT_ROUNDOFF[dtype] * scale, `${name} ${dtype}: logits moved by ${diff} (max|logit| ${scale})`);
        assert.ok(diff > 0, `${name} ${dtype}: the cache was not rounded`);
        assert.deepEqual(await greedy(model, prompt, model.createKvCache({ dtype })), exactTokens, `${name} ${dtype}: greedy tokens`);
        // The backends' float32 keys differ by reassociation, so a row may round to the neighbouring
        // 16-bit value: the two 16-bit caches are within the same rounding bound of each other.
        const referenceLogits = await reference.forward(prompt, reference.createKvCache({ dtype }), { allLogits: true });
        const across = maxAbsDiff(logits, referenceLogits);
        assert.ok(across <= LOGIT_FACTOR * UNIT_ROUNDOFF[dtype] * scale, `${name} ${dtype}: wasm vs reference backend moved by ${across}`);
        assert.deepEqual(await greedy(reference, prompt, reference.createKvCache({ dtype })), exactTokens, `${name} ${dtype}: reference greedy tokens`);
      }
    } finally {
      await backend.close();
    }
  });
}

test("the engine's kvCacheDType: a bf16 cache generates the f32 cache's greedy tokens; unknown dtypes are refused", async () => {
  const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", "tiny-v512-f32-untied-norope"));
  const prompt = [1, 5, 17, 42, 99, 3];
  const run = async (kvCacheDType: KvDType): Promise<readonly number[]> =>
    (await new GenerationEngine(model, { kvCacheDType }).submit(prompt, { maxNewTokens: 8, doSample: false, stopTokenIds: [] })).tokenIds;
  assert.deepEqual(await run("bf16"), await run("f32"));
  assert.throws(() => new GenerationEngine(model, { kvCacheDType: "f8" as KvDType }), ArgumentError);
  assert.throws(() => model.createKvCache({ dtype: "int8" as KvDType }), ArgumentError);
});
