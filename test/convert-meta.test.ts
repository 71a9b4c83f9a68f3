// Converting Meta's original checkpoints (../shared/fixtures/meta, written by real PyTorch) to the
// Hugging Face layout: the converted folder, loaded by our model, must reproduce the goldens Meta's
// own code computed on the original checkpoint (GOLDEN_TOLERANCE in support/golden.ts, as for every
// golden test); the 1-shard and 2-shard splits of the same weights must convert to byte-identical
// folders; and the version-dependent files (config, generation config, tokenizer files) must say
// what transformers' converter writes for each Llama release.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ArgumentError, FormatError } from "../src/errors.js";
import { convertMetaCheckpoint, type ConvertMetaOptions } from "../src/loader/convert-meta.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { parseHfConfig } from "../src/model/hf-config.js";
import { parseMetaParams } from "../src/model/meta-params.js";
import { LLAMA31_CHAT_TEMPLATE, LLAMA3_CHAT_TEMPLATE } from "../src/convert/chat-templates.js";
import { bf16ArrayToF32 } from "../src/tensor/float16.js";
import { Tokenizer } from "../src/tokenizer/tokenizer.js";
import { readAllTensors, tempDirsRemovedAfter, writeMetaCopy } from "./support/checkpoints.js";
import { checkAgainstGolden, readGolden } from "./support/golden.js";
import { fixturePath } from "./support/paths.js";

/** Temporary folders of this file, removed when it is done (converted tokenizers are 9 MB each). */
const tempDir = tempDirsRemovedAfter();

const META = (name: string): string => fixturePath("meta", name);

/** Convert into a fresh temp folder; returns the output folder and the warnings. */
async function convert(input: string, options: ConvertMetaOptions = {}): Promise<{ out: string; warnings: string[] }> {
  const warnings: string[] = [];
  const out = join(tempDir("convert"), "out");
  await convertMetaCheckpoint(input, out, { onWarning: (m) => warnings.push(m), ...options });
  return { out, warnings };
}

/** Every file of a folder, name -> bytes. */
function folderBytes(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

const ALL_GOLDENS = ["golden-small.json", "golden-long.json", "golden-vocab.json"];

async function checkGoldens(dir: string, goldenDir: string, files: readonly string[] = ALL_GOLDENS): Promise<number> {
  const model = await LlamaForCausalLM.fromPretrained(dir);
  let checked = 0;
  for (const file of files) {
    if (!existsSync(join(goldenDir, file))) continue;
    for (const [i, result] of readGolden(join(goldenDir, file)).entries()) {
      await checkAgainstGolden(model, result, `${dir} ${file}#${i}`);
      checked++;
    }
  }
  return checked;
}

for (const [name, options, goldens] of [
  ["meta-tiny-1shard", { llamaVersion: "3" }, ALL_GOLDENS],
  ["meta-tiny-2shard", { llamaVersion: "3" }, ALL_GOLDENS],
  // Meta's reference code (the goldens) uses rope factor 8, Llama 3.1's. Its long and full-vocabulary
  // goldens (10 s over 128256 logits per position) are model-golden.test.ts's job; the small ones
  // check this conversion's rope scaling, real-vocabulary embedding and q/k permutation.
  ["meta-tiny-scaled", { llamaVersion: "3.1", instruct: true }, ["golden-small.json"]],
] as const) {
  test(`converted ${name} reproduces the goldens of Meta's code on the original`, async () => {
    const { out, warnings } = await convert(META(name), options);
    assert.ok(await checkGoldens(out, META(name), goldens) >= 3);
    assert.ok(!warnings.some((w) => /Llama version/.test(w)), "no version warning when the version is given");
  });
}

test("the 1-shard and 2-shard checkpoints convert to byte-identical folders, also when the output is sharded", async () => {
  for (const maxShardBytes of [undefined, 100_000]) {
    const options = { llamaVersion: "3", ...(maxShardBytes === undefined ? {} : { maxShardBytes }) } as const;
    const one = folderBytes((await convert(META("meta-tiny-1shard"), options)).out);
    const two = folderBytes((await convert(META("meta-tiny-2shard"), options)).out);
    assert.deepEqual([...one.keys()], [...two.keys()]);
    for (const [file, bytes] of one) assert.ok(bytes.equals(two.get(file)!), `${file} differs (maxShardBytes ${maxShardBytes})`);
    if (maxShardBytes !== undefined) {
      // 352896 bytes of bf16 weights in shards of at most 100000 bytes (a bigger tensor alone).
      assert.ok(one.has("model.safetensors.index.json") && [...one.keys()].filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length >= 4);
    }
  }
});

test("the sharded output loads and reproduces the goldens too", async () => {
  const { out } = await convert(META("meta-tiny-2shard"), { llamaVersion: "3", maxShardBytes: 100_000 });
  assert.ok(await checkGoldens(out, META("meta-tiny-2shard")) >= 3);
});

test("config.json parses back to params.json's configuration with the version's facts", async () => {
  const { out } = await convert(META("meta-tiny-scaled"), { llamaVersion: "3.1" });
  const parsed = parseHfConfig(JSON.parse(readFileSync(join(out, "config.json"), "utf8")), "config.json");
  assert.deepEqual(parsed.unknownKeys, []);
  const params = parseMetaParams(JSON.parse(readFileSync(join(META("meta-tiny-scaled"), "params.json"), "utf8")), "params.json", { ropeFactor: 8 }).config;
  assert.deepEqual(parsed.config, { ...params, eosTokenIds: [128001], storedDType: "bf16" });
  const generation = JSON.parse(readFileSync(join(out, "generation_config.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual(generation, { bos_token_id: 128000, do_sample: true, eos_token_id: 128001, temperature: 0.6, top_p: 0.9 });

  const explicit = await convert(META("meta-tiny-scaled"), { llamaVersion: "3.1", ropeFactor: 16 });
  const factor = (JSON.parse(readFileSync(join(explicit.out, "config.json"), "utf8")) as { rope_scaling: { factor: number } }).rope_scaling.factor;
  assert.equal(factor, 16);
});

test("without a version it is guessed from params.json, with a warning", async () => {
  const unscaled = await convert(META("meta-tiny-1shard"));
  assert.ok(unscaled.warnings.some((w) => /converting as Llama 3 \(no use_scaled_rope\)/.test(w)), unscaled.warnings.join("\n"));
  const scaled = await convert(META("meta-tiny-scaled"));
  assert.ok(scaled.warnings.some((w) => /converting as Llama 3\.1 /.test(w)), scaled.warnings.join("\n"));
});

test("a version that contradicts params.json, or a rope factor without scaled rope, is refused before any output", async () => {
  for (const [input, options, pattern] of [
    [META("meta-tiny-1shard"), { llamaVersion: "3.1" }, /no use_scaled_rope: true/],
    [META("meta-tiny-scaled"), { llamaVersion: "3" }, /contradicts llama version 3/],
    [META("meta-tiny-1shard"), { ropeFactor: 8 }, /does not use scaled rope/],
    [META("meta-tiny-1shard"), { dtype: "q8_0" as "bf16" }, /dtype must be one of/],
    [META("meta-tiny-1shard"), { maxShardBytes: 0 }, /maxShardBytes/],
  ] as const) {
    const parent = tempDir("convert-refused");
    await assert.rejects(convertMetaCheckpoint(input, join(parent, "out"), options), (e: unknown) => e instanceof ArgumentError && pattern.test(e.message));
    assert.deepEqual(readdirSync(parent), []);
  }
});

test("f32 output holds the bf16 weights exactly; f16 output says float16", async () => {
  const bf16 = await readAllTensors((await convert(META("meta-tiny-1shard"), { llamaVersion: "3" })).out);
  const f32Out = (await convert(META("meta-tiny-1shard"), { llamaVersion: "3", dtype: "f32" })).out;
  const f32 = await readAllTensors(f32Out);
  assert.equal((JSON.parse(readFileSync(join(f32Out, "config.json"), "utf8")) as { torch_dtype: string }).torch_dtype, "float32");
  assert.deepEqual([...f32.keys()].sort(), [...bf16.keys()].sort());
  for (const [name, t] of bf16) {
    assert.equal(t.dtype, "bf16");
    assert.deepEqual(f32.get(name)!.data, bf16ArrayToF32(t.data as Uint16Array), name);
  }
  const f16Out = (await convert(META("meta-tiny-1shard"), { llamaVersion: "3", dtype: "f16" })).out;
  assert.equal((JSON.parse(readFileSync(join(f16Out, "config.json"), "utf8")) as { torch_dtype: string }).torch_dtype, "float16");
  assert.ok([...(await readAllTensors(f16Out)).values()].every((t) => t.dtype === "f16"));
});

test("Llama 3 Instruct: the 3.0 special-token names, the Llama 3 template, stop on <|eot_id|>", async () => {
  // The scaled fixture has the real tokenizer.model; its params say use_scaled_rope, so Llama 3 is
  // exercised on a copy with that key removed (the weights do not matter here).
  const input = tempDir("meta-llama3");
  const params = JSON.parse(readFileSync(join(META("meta-tiny-scaled"), "params.json"), "utf8")) as Record<string, unknown>;
  delete params["use_scaled_rope"];
  writeFileSync(join(input, "params.json"), JSON.stringify(params));
  for (const file of ["consolidated.00.pth", "tokenizer.model"]) writeFileSync(join(input, file), readFileSync(join(META("meta-tiny-scaled"), file)));
  const { out } = await convert(input, { llamaVersion: "3", instruct: true });
  const config = JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  assert.equal(config["chat_template"], LLAMA3_CHAT_TEMPLATE);
  assert.equal(config["eos_token"], "<|eot_id|>");
  assert.equal(config["model_max_length"], 8192);
  assert.equal((JSON.parse(readFileSync(join(out, "generation_config.json"), "utf8")) as { eos_token_id: number[] }).eos_token_id.join(), "128001,128009");
  const tokenizer = await Tokenizer.fromPretrained(out);
  assert.equal(tokenizer.tokenToId("<|reserved_special_token_4|>"), 128008);
  assert.equal(tokenizer.chatTemplate, LLAMA3_CHAT_TEMPLATE);
  assert.deepEqual(tokenizer.encode("hi"), [128000, 6151]);
});

test("Llama 3.1 Instruct: the 3.1 names and template, eos ids of HF's converter", async () => {
  const { out } = await convert(META("meta-tiny-scaled"), { llamaVersion: "3.1", instruct: true });
  const tokenizer = await Tokenizer.fromPretrained(out);
  assert.equal(tokenizer.tokenToId("<|eom_id|>"), 128008);
  assert.equal(tokenizer.chatTemplate, LLAMA31_CHAT_TEMPLATE);
  const model = await LlamaForCausalLM.fromPretrained(out);
  assert.deepEqual([...model.config.eosTokenIds].sort(), [128001, 128008, 128009]);
  const map = JSON.parse(readFileSync(join(out, "special_tokens_map.json"), "utf8")) as { eos_token: { content: string } };
  assert.equal(map.eos_token.content, "<|eot_id|>");
});

test("Llama 3.2 ties the output head to the embedding and refuses an output head that differs", async () => {
  const params = { dim: 64, n_layers: 2, n_heads: 4, n_kv_heads: 2, vocab_size: 128256, multiple_of: 256, norm_eps: 1e-5, rope_theta: 500000, use_scaled_rope: true };
  // writeMetaCopy writes output.weight = the embedding for a tied HF fixture, as Meta's 3.2 files hold it.
  const input = await writeMetaCopy(fixturePath("hf", "tiny-v128256-f32-tied-norope"), params);
  tempDir.adopt(input);
  const { out } = await convert(input, { llamaVersion: "3.2", dtype: "f32" });
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as { tie_word_embeddings: boolean; rope_scaling: { factor: number } };
  assert.equal(config.tie_word_embeddings, true);
  assert.equal(config.rope_scaling.factor, 32);
  const tensors = await readAllTensors(out);
  assert.ok(!tensors.has("lm_head.weight"));
  const original = await readAllTensors(fixturePath("hf", "tiny-v128256-f32-tied-norope"));
  // The HF fixture's q/k rows went to Meta's layout in writeMetaCopy and must come back exactly.
  for (const [name, t] of original) assert.deepEqual(tensors.get(name)!.data, t.data, name);

  const untied = await writeMetaCopy(fixturePath("hf", "tiny-v512-f32-untied-norope"), { ...params, vocab_size: 512 });
  tempDir.adopt(untied);
  const parent = tempDir("convert-untied");
  await assert.rejects(convertMetaCheckpoint(untied, join(parent, "out"), { llamaVersion: "3.2" }),
    (e: unknown) => e instanceof FormatError && /output\.weight differs from tok_embeddings\.weight/.test(e.message));
  assert.deepEqual(readdirSync(parent), [], "no output and no temporary folder left");
});

test("an existing non-empty output folder is refused unless overwrite; overwrite replaces it whole", async () => {
  const parent = tempDir("convert-existing");
  const out = join(parent, "out");
  await convertMetaCheckpoint(META("meta-tiny-1shard"), out, { llamaVersion: "3" });
  writeFileSync(join(out, "stale.txt"), "old");
  await assert.rejects(convertMetaCheckpoint(META("meta-tiny-1shard"), out, { llamaVersion: "3" }), (e: unknown) => e instanceof ArgumentError && /not empty/.test(e.message));
  assert.ok(existsSync(join(out, "stale.txt")), "the refused folder is untouched");
  await convertMetaCheckpoint(META("meta-tiny-1shard"), out, { llamaVersion: "3", overwrite: true });
  assert.ok(!existsSync(join(out, "stale.txt")), "replaced, not merged");
  assert.deepEqual(readdirSync(parent), ["out"]);
  await assert.rejects(convertMetaCheckpoint(out, parent, { overwrite: true }), (e: unknown) => e instanceof ArgumentError && /contains the input/.test(e.message));
});
