// One model, many checkpoints: the same weights stored as BF16 or F32, in one file or sharded, in
// the Hugging Face or Meta layout, must give the same logits; dtype options behave as transformers'
// torch_dtype; broken checkpoints are refused with typed errors naming the tensor or key.
//
// "Identical" means bit-identical here, not close: bf16 -> f32 widening is exact, shards and row
// permutations only move bytes, and the kernels then do the same float32 arithmetic in the same order.

import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ArgumentError, ConfigError, FormatError, NumericalError, ShapeError, UnsupportedError } from "../src/errors.js";
import { generate } from "../src/generate/generate.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { weightBytes } from "../src/model/weights.js";
import { bf16ToF32, f32ToBf16 } from "../src/tensor/float16.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { readAllTensors, readConfigJson, tempDir, writeCastCopy, writeConfigVariant, writeHfFolder, writeMetaCopy } from "./support/checkpoints.js";
import { maxAbsDiff } from "./support/golden.js";
import { fixturePath } from "./support/paths.js";

const BF16_FIXTURE = fixturePath("hf", "tiny-v512-bf16-untied-llama3rope");
const F32_FIXTURE = fixturePath("hf", "tiny-v512-f32-untied-norope");
const PROMPT = [0, 5, 17, 42, 99, 3, 250, 7];

async function logitsOf(dir: string, dtype: "auto" | "float32" | "bfloat16" | "float16" = "float32"): Promise<Float32Array> {
  const model = await LlamaForCausalLM.fromPretrained(dir, { dtype });
  return model.forward(PROMPT, model.createKvCache(), { allLogits: true });
}

test("BF16 and F32 checkpoints of the same weights give identical logits", async () => {
  const f32Copy = await writeCastCopy(BF16_FIXTURE, "f32");
  try {
    const fromBf16 = await logitsOf(BF16_FIXTURE);
    assert.deepEqual(await logitsOf(f32Copy), fromBf16);
    // dtype "auto" keeps bf16 weights and widens inside the kernels: still the same numbers.
    assert.deepEqual(await logitsOf(BF16_FIXTURE, "auto"), fromBf16);
  } finally {
    rmSync(f32Copy, { recursive: true });
  }
});

test("a sharded copy gives the same logits as the single file", async () => {
  const dir = tempDir("sharded");
  try {
    await writeHfFolder(dir, readConfigJson(BF16_FIXTURE), await readAllTensors(BF16_FIXTURE), 64 * 1024);
    const model = await LlamaForCausalLM.fromPretrained(dir);
    assert.ok(model.config.nLayers === 2);
    assert.deepEqual(await logitsOf(dir), await logitsOf(BF16_FIXTURE));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("a Meta-layout copy (interleaved q/k rows, Meta names, .pth) gives the same logits as the HF layout", async () => {
  // The HF fixture's MLP width is 256: Meta's rule gives 256 from dim 64 with multiple_of 256.
  const params = { dim: 64, n_layers: 2, n_heads: 4, n_kv_heads: 2, vocab_size: 512, multiple_of: 256, norm_eps: 1e-5, rope_theta: 500000.0, use_scaled_rope: true };
  const dir = await writeMetaCopy(BF16_FIXTURE, params);
  try {
    assert.deepEqual(await logitsOf(dir), await logitsOf(BF16_FIXTURE));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("dtype: auto (default) keeps the stored width, float32 widens, bfloat16/float16 narrow", async () => {
  const bf16Auto = await LlamaForCausalLM.fromPretrained(BF16_FIXTURE, { dtype: "auto" });
  const bf16Default = await LlamaForCausalLM.fromPretrained(BF16_FIXTURE);
  const bf16Wide = await LlamaForCausalLM.fromPretrained(BF16_FIXTURE, { dtype: "float32" });
  assert.equal(bf16Auto.weights.layers[0]!.attnQ.dtype, "bf16");
  assert.equal(bf16Default.weights.layers[0]!.attnQ.dtype, "bf16");
  assert.equal(bf16Wide.weights.layers[0]!.attnQ.dtype, "f32");
  // 2 bytes per matrix parameter resident with auto, 4 with float32 (norms are float32 in both).
  const c = bf16Auto.config;
  const matrixParams = 2 * c.vocabSize * c.dim + c.nLayers * (c.dim * c.dim * 2 + 2 * c.dim * c.nKvHeads * c.headDim + 3 * c.dim * c.hiddenDim);
  const normBytes = (2 * c.nLayers + 1) * c.dim * 4;
  assert.equal(weightBytes(bf16Auto.weights), matrixParams * 2 + normBytes);
  assert.equal(weightBytes(bf16Default.weights), matrixParams * 2 + normBytes);
  assert.equal(weightBytes(bf16Wide.weights), matrixParams * 4 + normBytes);

  const narrowed = await LlamaForCausalLM.fromPretrained(F32_FIXTURE, { dtype: "bfloat16" });
  const original = await LlamaForCausalLM.fromPretrained(F32_FIXTURE, { dtype: "auto" });
  const q = narrowed.weights.layers[1]!.attnK;
  const q32 = original.weights.layers[1]!.attnK;
  assert.equal(q.dtype, "bf16");
  assert.equal(q32.dtype, "f32");
  for (let i = 0; i < q.data.length; i += 97) assert.equal(q.data[i], f32ToBf16(q32.data[i]! as number));
  // Norms are rounded to the dtype, then held as float32.
  const n = narrowed.weights.layers[0]!.ffnNorm[3]!;
  assert.equal(n, bf16ToF32(f32ToBf16(original.weights.layers[0]!.ffnNorm[3]!)));
  const half = await LlamaForCausalLM.fromPretrained(F32_FIXTURE, { dtype: "float16" });
  assert.equal(half.weights.output.dtype, "f16");
  // Narrowed weights change logits only slightly (bf16 keeps 8 bits of mantissa).
  const a = await original.forward(PROMPT, original.createKvCache());
  const b = await narrowed.forward(PROMPT, narrowed.createKvCache());
  assert.ok(maxAbsDiff(a, b) > 0 && maxAbsDiff(a, b) < 0.5);
});

test("tied embeddings: the output head is the embedding, and no lm_head.weight is needed", async () => {
  const model = await LlamaForCausalLM.fromPretrained(fixturePath("hf", "tiny-v128256-f32-tied-norope"), { dtype: "auto" });
  assert.equal(model.weights.output, model.weights.tokenEmbedding);
});

test("broken checkpoints are refused with a typed error naming what is wrong", async () => {
  const config = readConfigJson(F32_FIXTURE);
  const tensors = await readAllTensors(F32_FIXTURE);
  const variants: [string, () => Promise<string>, (e: unknown) => boolean][] = [
    ["missing tensor", async () => {
      const dir = tempDir("missing");
      const fewer = new Map(tensors);
      fewer.delete("model.layers.1.mlp.up_proj.weight");
      await writeHfFolder(dir, config, fewer);
      return dir;
    }, (e) => e instanceof FormatError && /missing tensor "model\.layers\.1\.mlp\.up_proj\.weight"/.test(e.message)],
    ["untied config without lm_head", async () => {
      const dir = tempDir("nohead");
      const fewer = new Map(tensors);
      fewer.delete("lm_head.weight");
      await writeHfFolder(dir, config, fewer);
      return dir;
    }, (e) => e instanceof FormatError && /lm_head\.weight/.test(e.message) && /tie_word_embeddings/.test(e.message)],
    ["shape that does not fit the config", async () => writeConfigVariant(F32_FIXTURE, { ...config, intermediate_size: 128 }),
      (e) => e instanceof ShapeError && e.tensor === "model.layers.0.mlp.gate_proj.weight" && /\[256, 64\], expected \[128, 64\]/.test(e.message)],
    ["integer weights", async () => {
      const dir = tempDir("int");
      const ints = new Map(tensors);
      const norm = tensors.get("model.norm.weight")!;
      ints.set("model.norm.weight", { dtype: "i32", shape: norm.shape, data: new Int32Array(norm.data.length) } as Tensor);
      await writeHfFolder(dir, config, ints);
      return dir;
    }, (e) => e instanceof UnsupportedError && /model\.norm\.weight/.test(e.message) && /i32/.test(e.message)],
    ["bad config value", async () => writeConfigVariant(F32_FIXTURE, { ...config, rms_norm_eps: "small" }),
      (e) => e instanceof ConfigError && e.key === "rms_norm_eps"],
    ["folder without config", async () => tempDir("empty"),
      (e) => e instanceof FormatError && /neither config\.json/.test(e.message)],
  ];
  for (const [what, make, matches] of variants) {
    const dir = await make();
    try {
      await assert.rejects(LlamaForCausalLM.fromPretrained(dir), matches, what);
    } finally {
      rmSync(dir, { recursive: true });
    }
  }
  await assert.rejects(LlamaForCausalLM.fromPretrained(join(F32_FIXTURE, "nope")), (e: unknown) => e instanceof FormatError && /no such checkpoint folder/.test(e.message));
  await assert.rejects(LlamaForCausalLM.fromPretrained(join(F32_FIXTURE, "config.json")), (e: unknown) => e instanceof FormatError && /not a folder/.test(e.message));
});

test("unused checkpoint tensors and unknown config keys are reported as warnings", async () => {
  const dir = tempDir("extra");
  try {
    const tensors = new Map(await readAllTensors(F32_FIXTURE));
    tensors.set("model.extra.weight", tensors.get("model.norm.weight")!);
    await writeHfFolder(dir, { ...readConfigJson(F32_FIXTURE), my_new_key: true }, tensors);
    const warnings: string[] = [];
    await LlamaForCausalLM.fromPretrained(dir, { onWarning: (m) => warnings.push(m) });
    assert.ok(warnings.some((w) => /my_new_key/.test(w)), warnings.join("\n"));
    assert.ok(warnings.some((w) => /model\.extra\.weight/.test(w)), warnings.join("\n"));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("generation_config.json's eos ids stop generation too (Instruct models list <|eot_id|> there)", async () => {
  const model = await LlamaForCausalLM.fromPretrained(F32_FIXTURE);
  const first = (await generate(model, PROMPT, { maxNewTokens: 1, stopTokenIds: [] })).outputs[0]!.tokenIds[0]!;
  const dir = writeConfigVariant(F32_FIXTURE, readConfigJson(F32_FIXTURE));
  try {
    writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: 0, eos_token_id: [first, 1] }));
    const withGeneration = await LlamaForCausalLM.fromPretrained(dir);
    assert.deepEqual([...withGeneration.config.eosTokenIds].sort((a, b) => a - b), [...new Set([1, first])].sort((a, b) => a - b));
    const { outputs } = await generate(withGeneration, PROMPT, { maxNewTokens: 5 });
    assert.deepEqual(outputs[0]!.tokenIds, [first]);
    assert.equal(outputs[0]!.finishReason, "stop");
    writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: "x" }));
    await assert.rejects(LlamaForCausalLM.fromPretrained(dir), (e: unknown) => e instanceof ConfigError && e.key === "eos_token_id");
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("non-finite logits stop generation with a NumericalError instead of emitting token 0", async () => {
  const dir = tempDir("nan");
  try {
    const tensors = new Map(await readAllTensors(F32_FIXTURE));
    const norm = tensors.get("model.norm.weight")!;
    tensors.set("model.norm.weight", { dtype: "f32", shape: norm.shape, data: new Float32Array(norm.data.length).fill(Number.NaN) } as Tensor);
    await writeHfFolder(dir, readConfigJson(F32_FIXTURE), tensors);
    const model = await LlamaForCausalLM.fromPretrained(dir);
    await assert.rejects(generate(model, PROMPT, { maxNewTokens: 3 }).result, (e: unknown) => e instanceof NumericalError && /step 0/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("Meta folders: a missing model-parallel shard is named; the assumed rope factor is reported", async () => {
  const dir = tempDir("meta-shard");
  try {
    const source = fixturePath("meta", "meta-tiny-2shard");
    copyFileSync(join(source, "params.json"), join(dir, "params.json"));
    copyFileSync(join(source, "consolidated.01.pth"), join(dir, "consolidated.01.pth"));
    await assert.rejects(LlamaForCausalLM.fromPretrained(dir), (e: unknown) => e instanceof FormatError && /shard 0 of 1 \(consolidated\.00\.pth\) is missing/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true });
  }
  const warnings: string[] = [];
  const scaled = await LlamaForCausalLM.fromPretrained(fixturePath("meta", "meta-tiny-scaled"), { onWarning: (m) => warnings.push(m) });
  assert.ok(warnings.some((w) => /assuming rope factor 8/.test(w)), warnings.join("\n"));
  assert.equal(scaled.config.ropeScaling.kind === "llama3" && scaled.config.ropeScaling.factor, 8);
  const explicit = await LlamaForCausalLM.fromPretrained(fixturePath("meta", "meta-tiny-scaled"), { metaRopeFactor: 32 });
  assert.equal(explicit.config.ropeScaling.kind === "llama3" && explicit.config.ropeScaling.factor, 32);
  await assert.rejects(LlamaForCausalLM.fromPretrained(fixturePath("meta", "meta-tiny-scaled"), { metaRopeFactor: 0 }), ArgumentError);
  await assert.rejects(LlamaForCausalLM.fromPretrained(F32_FIXTURE, { dtype: "constructor" as "auto" }), ArgumentError);
});
