// LoRA at inference against PyTorch: the PEFT adapter that ../shared/fixtures/train trained
// (lora-qv-*/final/), read from its PEFT folder and applied in LlamaModel.linear(), gives the
// fixture's probe logits; merging it into the weights gives the same logits; writing and reading a
// PEFT folder round-trips exactly; adapters that do not fit are typed errors.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, FormatError, ShapeError, UnsupportedError } from "../src/errors.js";
import { writeSafetensors } from "../src/io/safetensors-writer.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import type { LoraAdapter } from "../src/model/lora.js";
import { readPeftAdapter, writePeftAdapter } from "../src/train/peft.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";
import { fixturePath } from "./support/paths.js";

const tempDir = tempDirsRemovedAfter();
const NAME = "tiny-v512-bf16-untied-llama3rope";
const FIXTURE = JSON.parse(readFileSync(fixturePath("train", `lora-qv-${NAME}.json`), "utf8")) as {
  probe_ids: number[];
  probe_logits_last: { shape: number[]; base64: string };
  checks: { probe_logits_max_abs_f32_minus_f64: number };
};
const ADAPTER_DIR = fixturePath("train", `lora-qv-${NAME}`, "final");
const BASE_DIR = fixturePath("hf", NAME);

function decode(b64: string): Float32Array {
  const bytes = Buffer.from(b64, "base64");
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
const expected = decode(FIXTURE.probe_logits_last.base64); // (vocabSize) from PyTorch float64

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

// PyTorch's own float32 run of these logits is 7.6e-6 from its float64 run (checks); ours is a
// different float32 summation order of the same math, so allow 4x that scale of honest float32 error.
const TOLERANCE = 4 * FIXTURE.checks.probe_logits_max_abs_f32_minus_f64;

async function probeLogits(model: LlamaForCausalLM): Promise<Float32Array> {
  return model.forward(FIXTURE.probe_ids, model.createKvCache({ maxSeqLen: FIXTURE.probe_ids.length }));
}

test("the fixture's final PEFT adapter on the base model gives PyTorch's probe logits", async () => {
  const { adapter, dropout, baseModelNameOrPath } = await readPeftAdapter(ADAPTER_DIR);
  assert.deepEqual([adapter.rank, adapter.alpha, adapter.scale, dropout, baseModelNameOrPath], [4, 8, 2, 0, NAME]);
  assert.deepEqual(adapter.targetModules, ["q_proj", "v_proj"]);
  const model = await LlamaForCausalLM.fromPretrained(BASE_DIR);
  const base = await probeLogits(model);
  assert.ok(maxAbsDiff(base, expected) > 100 * TOLERANCE, "the adapter changes the logits (so this test can fail)");
  model.setAdapter(adapter);
  const adapted = await probeLogits(model);
  const diff = maxAbsDiff(adapted, expected);
  assert.ok(diff <= TOLERANCE, `max |logit - PyTorch| = ${diff} > ${TOLERANCE}`);
  model.setAdapter(undefined);
  assert.deepEqual(await probeLogits(model), base, "removing the adapter restores the base model exactly");
});

test("merging the adapter into float32 weights gives the same logits as applying it", async () => {
  const { adapter } = await readPeftAdapter(ADAPTER_DIR);
  const model = await LlamaForCausalLM.fromPretrained(BASE_DIR, { dtype: "float32" });
  model.mergeAdapter(adapter);
  assert.equal(model.adapter, undefined);
  const diff = maxAbsDiff(await probeLogits(model), expected);
  assert.ok(diff <= TOLERANCE, `merged: max |logit - PyTorch| = ${diff} > ${TOLERANCE}`);
});

test("writePeftAdapter then readPeftAdapter gives the same adapter, under PEFT's names and config keys", async () => {
  const { adapter } = await readPeftAdapter(ADAPTER_DIR);
  const out = join(tempDir("peft"), "adapter");
  await writePeftAdapter(out, adapter, { dropout: 0.05, baseModelNameOrPath: "base" });
  const back = await readPeftAdapter(out);
  assert.deepEqual(back.adapter, adapter);
  assert.equal(back.dropout, 0.05);
  const config = JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual([config["peft_type"], config["r"], config["lora_alpha"], config["target_modules"], config["task_type"], config["use_rslora"]], ["LORA", 4, 8, ["q_proj", "v_proj"], "CAUSAL_LM", false]);
  const fixtureKeys = Object.keys(JSON.parse(readFileSync(join(ADAPTER_DIR, "adapter_config.json"), "utf8")) as object);
  for (const key of fixtureKeys) assert.ok(key in config, `adapter_config.json has ${key}`);
  await assert.rejects(writePeftAdapter(out, adapter), /not empty/, "an existing adapter is not replaced unless asked");
});

/** A copy of the fixture adapter folder with its config and/or tensors changed. */
async function variant(edit: { config?: (c: Record<string, unknown>) => void; adapter?: (a: LoraAdapter) => LoraAdapter; extraTensor?: string }): Promise<string> {
  const { adapter } = await readPeftAdapter(ADAPTER_DIR);
  const dir = join(tempDir("peft-bad"), "adapter");
  await writePeftAdapter(dir, edit.adapter?.(adapter) ?? adapter);
  const configPath = join(dir, "adapter_config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  edit.config?.(config);
  writeFileSync(configPath, JSON.stringify(config));
  if (edit.extraTensor !== undefined) {
    await writeSafetensors(join(dir, "adapter_model.safetensors"), [{ name: edit.extraTensor, dtype: "f32", shape: [4, 64], data: { dtype: "f32", shape: [4, 64], data: new Float32Array(256) } }]);
  }
  return dir;
}

test("bad adapters are typed errors naming what is wrong", async () => {
  await assert.rejects(readPeftAdapter(await variant({ config: (c) => void (c["peft_type"] = "IA3") })), (e: unknown) => e instanceof ConfigError && e.key === "peft_type");
  await assert.rejects(readPeftAdapter(await variant({ config: (c) => void (c["r"] = 0) })), (e: unknown) => e instanceof ConfigError && e.key === "r");
  await assert.rejects(readPeftAdapter(await variant({ config: (c) => void (c["r"] = 8) })), (e: unknown) => e instanceof ShapeError && /q_proj\.lora_A/.test(e.tensor));
  await assert.rejects(readPeftAdapter(await variant({ config: (c) => void (c["use_dora"] = true) })), UnsupportedError);
  await assert.rejects(readPeftAdapter(await variant({ config: (c) => void (c["target_modules"] = ["q_proj", "lm_head"]) })), (e: unknown) => e instanceof UnsupportedError && /lm_head/.test(e.message));
  await assert.rejects(readPeftAdapter(await variant({ config: (c) => void (c["target_modules"] = ["q_proj"]) })), (e: unknown) => e instanceof ConfigError && /v_proj/.test(e.message));
  await assert.rejects(readPeftAdapter(await variant({ extraTensor: "base_model.model.model.embed_tokens.lora_A.weight" })), FormatError);
  await assert.rejects(readPeftAdapter(await variant({ extraTensor: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" })), (e: unknown) => e instanceof FormatError && /lora_B\.weight is missing/.test(e.message));
  await assert.rejects(readPeftAdapter(tempDir("empty")), (e: unknown) => e instanceof FormatError && /adapter_config\.json/.test(e.message));

  const model = await LlamaForCausalLM.fromPretrained(BASE_DIR);
  const { adapter } = await readPeftAdapter(ADAPTER_DIR);
  const narrow = await readPeftAdapter(await variant({ adapter: (a) => ({ ...a, layers: a.layers.map((l) => ({ q_proj: { ...l.q_proj!, a: l.q_proj!.a.slice(0, 4 * 32), inFeatures: 32 } })) }) }));
  assert.throws(() => model.setAdapter(narrow.adapter), (e: unknown) => e instanceof ShapeError && e.tensor === "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  const deep = { ...adapter, layers: [...adapter.layers, ...adapter.layers] };
  assert.throws(() => model.setAdapter(deep), (e: unknown) => e instanceof ShapeError && /more layers/.test(e.message));
  assert.equal(model.adapter, undefined, "a failed setAdapter leaves the model as it was");
});
