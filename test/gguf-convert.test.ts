// `llama3 convert --to gguf` and the GGUF loader's typed errors: the written file read back by our
// reader gives the same model as the folder (bit for bit, every type), Q8_0 from the F32 original
// is byte for byte llama.cpp's own Q8_0 file (tensors and tokenizer keys), the write is atomic, and
// a GGUF with the wrong architecture, a missing key, a type we lack, bad rope factors or a missing
// tensor fails with the typed error before any weight is read.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ArgumentError, ConfigError, FormatError, NumericalError, UnsupportedError } from "../src/errors.js";
import { type GgufValue, type GgufTensorToWrite, openGguf, writeGguf } from "../src/io/gguf/index.js";
import { convertToGguf } from "../src/loader/convert-gguf.js";
import { type DTypeOption, LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Tokenizer } from "../src/tokenizer/tokenizer.js";
import type { FloatTensor, Tensor } from "../src/tensor/tensor.js";
import { referenceBackend } from "../src/backend/reference.js";
import { applyChatTemplate } from "../src/chat/index.js";
import { pipeline } from "../src/pipelines/text-generation.js";
import { runCliCaptured } from "./support/cli.js";
import { readAllTensors, readConfigJson, tempDirsRemovedAfter, writeHfFolder } from "./support/checkpoints.js";
import { ggufSmall, ggufSmallUnavailable } from "./support/gguf-small.js";
import { fixturePath } from "./support/paths.js";

const tempDir = tempDirsRemovedAfter();

const CASES: readonly [string, string, "f32" | "bf16" | "f16" | "q8_0", DTypeOption][] = [
  ["hf", "tiny-v512-f32-untied-norope", "f32", "float32"],
  ["hf", "tiny-v512-bf16-untied-llama3rope", "bf16", "bfloat16"],
  ["hf", "tiny-v512-f32-untied-norope", "f16", "float16"],
  ["hf", "tiny-v128256-f32-tied-norope", "q8_0", "q8_0"],
  ["meta", "meta-tiny-1shard", "f32", "float32"],
];

for (const [kind, name, outType, dtype] of CASES) {
  test(`convert --to gguf ${kind}/${name} as ${outType}: read back, the same weights, config and logits as the folder loaded as ${dtype}`, async () => {
    const dir = fixturePath(kind, name);
    const out = join(tempDir("gguf-convert"), `${name}-${outType}.gguf`);
    const result = await runCliCaptured(["convert", "--to", "gguf", "--input", dir, "--output", out, "--dtype", outType]);
    assert.equal(result.code, 0, result.stderr);
    let fromFolder = await LlamaForCausalLM.fromPretrained(dir, { dtype });
    if (outType === "f16") {
      // GGUF keeps norms F32 (as llama.cpp's converter); the folder loaded as float16 rounds them.
      const f32 = (await LlamaForCausalLM.fromPretrained(dir, { dtype: "float32" })).weights;
      const w = fromFolder.weights;
      const layers = w.layers.map((l, i) => ({ ...l, attnNorm: f32.layers[i]!.attnNorm, ffnNorm: f32.layers[i]!.ffnNorm }));
      fromFolder = new LlamaForCausalLM(fromFolder.config, { ...w, layers, outputNorm: f32.outputNorm });
    }
    const fromGguf = await LlamaForCausalLM.fromPretrained(out);
    const { storedDType: _a, eosTokenIds: _b, padTokenId: _c, bosTokenId: _d, ...folderConfig } = fromFolder.config;
    const { storedDType: _e, eosTokenIds: _f, padTokenId: _g, bosTokenId: _h, ...ggufConfig } = fromGguf.config;
    assert.deepEqual(ggufConfig, { ...folderConfig, normEps: Math.fround(folderConfig.normEps), ropeTheta: Math.fround(folderConfig.ropeTheta) });
    assert.deepEqual(fromGguf.weights, fromFolder.weights);
    const ids = [1, 5, 9, 2];
    assert.deepEqual(await fromGguf.forward(ids, fromGguf.createKvCache()), await fromFolder.forward(ids, fromFolder.createKvCache()));
  });
}

test("convert --to gguf q8_0 of the F32 original is llama.cpp's Q8_0 file: every tensor and the tokenizer keys byte for byte", async (t) => {
  const why = ggufSmallUnavailable();
  if (why !== undefined) return t.skip(why);
  const out = join(tempDir("gguf-q8"), "ours.gguf");
  await convertToGguf(ggufSmall().hfDir, out, { outType: "q8_0" });
  const [ours, theirs] = await Promise.all([openGguf(out), openGguf(fixturePath("gguf", "gguf-small-q8_0.gguf"))]);
  try {
    assert.deepEqual([...ours.tensors.keys()].sort(), [...theirs.tensors.keys()].sort());
    for (const [name, info] of theirs.tensors) {
      assert.equal(ours.tensor(name).ggmlType.name, info.ggmlType.name, name);
      assert.deepEqual(await ours.readBytes(name), await theirs.readBytes(name), name);
    }
    for (const [key, value] of theirs.metadata) {
      if (key.startsWith("general.")) continue; // name, size label: descriptive
      assert.deepEqual(ours.metadata.get(key), value, key);
    }
  } finally {
    await Promise.all([ours.close(), theirs.close()]);
  }
  const tok = await Tokenizer.fromPretrained(out);
  assert.deepEqual(tok.encode("Hello world"), [128000, 9906, 1917]);
});

test("convert --to gguf is atomic: an existing output is refused, a failure leaves nothing behind", async () => {
  const dir = tempDir("gguf-atomic");
  const out = join(dir, "model.gguf");
  writeFileSync(out, "keep");
  const input = fixturePath("hf", "tiny-v512-f32-untied-norope");
  await assert.rejects(convertToGguf(input, out, { outType: "f32" }), ArgumentError);
  await assert.rejects(convertToGguf(input, dir, { outType: "f32" }), ArgumentError);
  // A NaN in the last layer's down projection fails q8_0 quantization partway through the file.
  const tensors = new Map(await readAllTensors(input));
  const down = tensors.get("model.layers.1.mlp.down_proj.weight") as FloatTensor;
  const poisoned = new Float32Array(down.data as Float32Array);
  poisoned[7] = Number.NaN;
  tensors.set("model.layers.1.mlp.down_proj.weight", { ...down, data: poisoned } as Tensor);
  const bad = tempDir("gguf-nan");
  await writeHfFolder(bad, readConfigJson(input), tensors);
  const fresh = join(dir, "fresh.gguf");
  await assert.rejects(convertToGguf(bad, fresh, { outType: "q8_0" }), NumericalError);
  assert.deepEqual(readdirSync(dir).sort(), ["model.gguf"], "no partial output, no temporary file");
  assert.equal(existsSync(fresh), false);
});

/** The tiny F32 model as a GGUF, its metadata and tensors edited by `edit`, written to a new file. */
async function editedGguf(edit: (metadata: Map<string, GgufValue>, tensors: GgufTensorToWrite[]) => void): Promise<string> {
  const dir = tempDir("gguf-edit");
  const base = join(dir, "base.gguf");
  await convertToGguf(fixturePath("hf", "tiny-v512-bf16-untied-llama3rope"), base, { outType: "f32" });
  const file = await openGguf(base);
  const metadata = new Map(file.metadata);
  const tensors: GgufTensorToWrite[] = [];
  for (const info of file.tensors.values()) {
    const bytes = await file.readBytes(info.name);
    tensors.push({ name: info.name, ggmlType: info.ggmlType.id, shape: info.shape, bytes: () => bytes });
  }
  await file.close();
  edit(metadata, tensors);
  const path = join(dir, "edited.gguf");
  await writeGguf(path, metadata, tensors);
  return path;
}

async function rejectsBeforeReading(path: string, type: typeof ConfigError | typeof UnsupportedError | typeof FormatError, pattern: RegExp): Promise<void> {
  let progressCalls = 0;
  await assert.rejects(LlamaForCausalLM.fromPretrained(path, { onProgress: () => progressCalls++ }), (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.match((error as Error).message, pattern);
    return true;
  });
  assert.equal(progressCalls, 0, "no weight was read");
}

test("GGUF loader: wrong architecture is an UnsupportedError", async () => {
  const path = await editedGguf((m) => m.set("general.architecture", { type: "string", value: "qwen2" }));
  await rejectsBeforeReading(path, UnsupportedError, /general.architecture is "qwen2"/);
});

test("GGUF loader: a missing required key is a ConfigError naming it", async () => {
  const path = await editedGguf((m) => m.delete("llama.attention.layer_norm_rms_epsilon"));
  await rejectsBeforeReading(path, ConfigError, /config key "llama.attention.layer_norm_rms_epsilon": missing/);
  const mistyped = await editedGguf((m) => m.set("llama.block_count", { type: "string", value: "2" }));
  await rejectsBeforeReading(mistyped, ConfigError, /"llama.block_count": must be an integer/);
});

test("GGUF loader: a tensor type we lack is an UnsupportedError naming tensor and type, before any weight is read", async () => {
  // The last tensor becomes IQ4_NL (ggml type 20: 18 bytes per 32 weights), bytes of the right size.
  const path = await editedGguf((_, tensors) => {
    const last = tensors.findIndex((t) => t.name === "blk.1.ffn_down.weight");
    const t = tensors[last]!;
    tensors[last] = { ...t, ggmlType: 20, bytes: () => new Uint8Array((t.shape[0]! * t.shape[1]! / 32) * 18) };
  });
  await rejectsBeforeReading(path, UnsupportedError, /tensor "blk.1.ffn_down.weight" has type IQ4_NL/);
});

test("GGUF loader: rope_freqs.weight that is not a llama3 scaling is refused; a missing tensor is a FormatError", async () => {
  const path = await editedGguf((_, tensors) => {
    const i = tensors.findIndex((t) => t.name === "rope_freqs.weight");
    const n = tensors[i]!.shape[0]!;
    tensors[i] = { ...tensors[i]!, bytes: () => new Uint8Array(new Float32Array(n).fill(2).buffer) };
  });
  await rejectsBeforeReading(path, UnsupportedError, /rope_freqs.weight\[0\] is 2/);
  const missing = await editedGguf((_, tensors) => void tensors.splice(tensors.findIndex((t) => t.name === "blk.0.attn_k.weight"), 1));
  await rejectsBeforeReading(missing, FormatError, /missing tensor "blk.0.attn_k.weight"/);
});

test("pipeline() on a GGUF file: the tokenizer, chat template and stop ids come from the file", async () => {
  const path = fixturePath("gguf", "gguf-small-q8_0.gguf");
  const generator = await pipeline("text-generation", path, { backend: referenceBackend });
  const file = await openGguf(path);
  const template = file.metadata.get("tokenizer.chat_template")!.value;
  await file.close();
  assert.equal(generator.tokenizer.chatTemplate, template);
  assert.deepEqual(generator.model.config.eosTokenIds, [128001]);
  const messages = [{ role: "user" as const, content: "Hi" }];
  const ids = applyChatTemplate(generator.tokenizer, messages, { addGenerationPrompt: true }).ids;
  assert.deepEqual(ids.slice(0, 4), [128000, 128006, 882, 128007]); // <|begin_of_text|><|start_header_id|>user<|end_header_id|>
  const expected = await generator.engine.submit(ids, { maxNewTokens: 3, doSample: false });
  const result = await generator(messages, { maxNewTokens: 3, doSample: false });
  assert.deepEqual(result, [{ generated_text: [...messages, { role: "assistant", content: expected.text }] }]);
});
