// The WebAssembly backend under the whole model: the Hugging Face fixtures of ../shared/fixtures
// loaded with `fromPretrained(dir, { backend })` (weights read straight into the backend's memory)
// match the golden outputs of Meta's reference code, and greedy decoding picks the same tokens as
// the reference backend. Also the thread lifecycle: close() ends the workers, and a program that
// never calls close() still exits.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LlamaForCausalLM } from "../../loader/pretrained.js";
import type { LlamaModel } from "../../model/llama.js";
import type { KvCache } from "../../model/kv-cache.js";
import { GOLDEN_TOLERANCE, checkAgainstGolden, greedyTokens, maxAbsDiff, readGolden } from "../../../test/support/golden.js";
import { fixturePath } from "../../../test/support/paths.js";
import { createWasmBackend } from "./index.js";

const MODELS = ["tiny-v512-f32-untied-norope", "tiny-v512-bf16-untied-llama3rope", "tiny-v128256-f32-tied-norope"];
const GREEDY_STEPS = 12;

const greedy = (model: LlamaModel, prompt: readonly number[], cache: KvCache): Promise<number[]> => greedyTokens(model, prompt, cache, GREEDY_STEPS);

for (const name of MODELS) {
  test(`wasm backend, whole model: golden logits and the reference backend's greedy tokens: ${name}`, async () => {
    const dir = fixturePath("hf", name);
    const backend = await createWasmBackend({ threads: 2 });
    try {
      const model = await LlamaForCausalLM.fromPretrained(dir, { backend });
      assert.notEqual(backend.arena.locate(model.weights.layers[0]!.attnQ.data), undefined, "weights were read into the backend's memory");
      const reference = await LlamaForCausalLM.fromPretrained(dir);
      let checked = 0;
      for (const file of ["golden.json", "golden-long.json"]) {
        if (!existsSync(join(dir, file))) continue;
        for (const [i, result] of readGolden(join(dir, file)).entries()) {
          await checkAgainstGolden(model, result, `${name}/${file}#${i}`);
          // The KV cache in the backend's memory (no copies) decodes the same tokens as the reference.
          const ours = await greedy(model, result.prompt, model.createKvCache({ allocator: backend }));
          assert.deepEqual(ours, await greedy(reference, result.prompt, reference.createKvCache()), `${name}/${file}#${i}: greedy tokens`);
          checked++;
        }
      }
      assert.ok(checked >= 1, `${name}: no golden prompts found`);
    } finally {
      await backend.close();
    }
  });
}

test("wasm backend, whole model spread over several small memories: golden logits", async () => {
  // A 4-page (256 KiB) memory cap puts this 0.6 MB model's weights into several memories, so
  // activations are staged into each weight's memory and back, and the KV cache lives in another.
  const dir = fixturePath("hf", "tiny-v512-f32-untied-norope");
  const backend = await createWasmBackend({ threads: 2, maxMemoryBytes: 4 * 65536 });
  try {
    const model = await LlamaForCausalLM.fromPretrained(dir, { backend });
    assert.ok(backend.arena.memories.length >= 3, `weights in ${backend.arena.memories.length} memories`);
    for (const [i, result] of readGolden(join(dir, "golden.json")).entries()) await checkAgainstGolden(model, result, `${dir}#${i} (small memories)`);
    const reference = await LlamaForCausalLM.fromPretrained(dir);
    const prompt = readGolden(join(dir, "golden.json"))[0]!.prompt;
    assert.deepEqual(await greedy(model, prompt, model.createKvCache({ allocator: backend })), await greedy(reference, prompt, reference.createKvCache()));
  } finally {
    await backend.close();
  }
});

test("wasm backend, forwardBatch: a prefill beside a decode step matches the reference backend", async () => {
  const dir = fixturePath("hf", "tiny-v512-bf16-untied-llama3rope");
  const backend = await createWasmBackend({ threads: 2 });
  try {
    const models = [await LlamaForCausalLM.fromPretrained(dir, { backend }), await LlamaForCausalLM.fromPretrained(dir)];
    const [ours, theirs] = await Promise.all(models.map(async (model) => {
      const decoding = model.createKvCache({ allocator: backend });
      await model.forward([1, 17, 300, 42], decoding);
      return model.forwardBatch([{ tokens: [5, 6, 7, 8, 9, 10, 11], cache: model.createKvCache() }, { tokens: [99], cache: decoding }]);
    }));
    // Float32 sums in another order than the reference's float64 ones: the golden tolerance.
    ours!.forEach((logits, i) => assert.ok(maxAbsDiff(logits, theirs![i]!) < GOLDEN_TOLERANCE, `sequence ${i}`));
  } finally {
    await backend.close();
  }
});

/** OS threads of this process (Linux). */
function threadCount(): number {
  return Number(/^Threads:\s+(\d+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1]);
}

test("close() ends the worker threads", { skip: process.platform !== "linux" && "counts threads through /proc" }, async () => {
  const before = threadCount();
  const backend = await createWasmBackend({ threads: 3 });
  assert.ok(threadCount() >= before + 2, "two workers started");
  await backend.close();
  // A worker's thread is joined by terminate(); allow a moment for the OS to reap it.
  for (let i = 0; i < 50 && threadCount() > before; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(threadCount(), before);
});

test("arrays from allocateFloat32 that the program drops are given back to the backend's memory", () => {
  // A child with --expose-gc: 64 MiB of dropped arrays, then a collection; the arena must shrink.
  const index = new URL("./index.js", import.meta.url).href;
  const script = `
    import { createWasmBackend } from ${JSON.stringify(index)};
    const b = await createWasmBackend({ threads: 1 });
    for (let i = 0; i < 64; i++) b.allocateFloat32(1 << 18);
    const held = b.arena.usedBytes();
    for (let i = 0; i < 5 && b.arena.usedBytes() > 0; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    console.log(JSON.stringify({ held, after: b.arena.usedBytes() }));
    await b.close();`;
  const output = execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
  const { held, after } = JSON.parse(output) as { held: number; after: number };
  assert.ok(held >= 64 << 20, `held ${held}`);
  assert.ok(after < held / 4, `after collection ${after} of ${held} bytes still allocated`);
});

test("a program that never calls close() still exits", () => {
  const index = new URL("./index.js", import.meta.url).href;
  const script = `
    import { createWasmBackend } from ${JSON.stringify(index)};
    const b = await createWasmBackend({ threads: 2 });
    const w = b.allocateWeight("f32", [64, 64]);
    const out = new Float32Array(64);
    b.matmul(out, new Float32Array(64).fill(1), w, 1);
    console.log("computed");`;
  const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
  assert.equal(output.trim(), "computed");
});
