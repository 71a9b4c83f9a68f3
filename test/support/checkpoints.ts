// Writing variants of a fixture checkpoint for tests: the same weights in another dtype, sharded,
// renamed and permuted into Meta's layout, or with a tensor removed. Built with the project's own
// writers from the fixture's tensors, so every variant holds exactly the fixture's numbers.

import { after } from "node:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { halvesToInterleaved } from "../../src/convert/rope-layout.js";
import { weightNames } from "../../src/convert/names.js";
import { openSafetensorsCheckpoint } from "../../src/io/safetensors-checkpoint.js";
import { writeSafetensors } from "../../src/io/safetensors-writer.js";
import { writeShardedSafetensors } from "../../src/io/safetensors-sharded-writer.js";
import { writeTorchSave } from "../../src/io/pytorch/torch-save-writer.js";
import { castFloat } from "../../src/tensor/cast.js";
import type { FloatDType } from "../../src/tensor/dtype.js";
import type { FloatTensor, Tensor } from "../../src/tensor/tensor.js";

/** A new empty folder under the OS temp dir. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `llama3-ts-${prefix}-`));
}

/**
 * tempDir for one test file: every folder it makes (or is given with `adopt`) is removed when the
 * file's tests are done. Call once at the top level of the file.
 */
export function tempDirsRemovedAfter(): ((prefix: string) => string) & { adopt: (dir: string) => void } {
  const made: string[] = [];
  after(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  const make = (prefix: string): string => {
    const dir = tempDir(prefix);
    made.push(dir);
    return dir;
  };
  return Object.assign(make, { adopt: (dir: string) => void made.push(dir) });
}

/** All tensors of an HF checkpoint folder, in memory (tests use tiny models only). */
export async function readAllTensors(dir: string): Promise<Map<string, Tensor>> {
  const source = await openSafetensorsCheckpoint(dir);
  try {
    const tensors = new Map<string, Tensor>();
    for (const name of source.entries.keys()) tensors.set(name, await source.read(name));
    return tensors;
  } finally {
    await source.close();
  }
}

/** The parsed config.json of a folder. */
export function readConfigJson(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
}

/** Write an HF folder: config.json and one model.safetensors (or shards when maxShardBytes is given). */
export async function writeHfFolder(dir: string, config: Record<string, unknown>, tensors: ReadonlyMap<string, Tensor>, maxShardBytes?: number): Promise<void> {
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 1));
  if (maxShardBytes === undefined) await writeSafetensors(join(dir, "model.safetensors"), tensors, { metadata: { format: "pt" } });
  else await writeShardedSafetensors(dir, tensors, { maxShardBytes, metadata: { format: "pt" } });
}

/** A copy of an HF fixture with every float tensor cast to `dtype`. */
export async function writeCastCopy(fixture: string, dtype: FloatDType): Promise<string> {
  const dir = tempDir(`cast-${dtype}`);
  const tensors = new Map([...(await readAllTensors(fixture))].map(([name, t]) => [name, castFloat(t as FloatTensor, dtype) as Tensor]));
  const torchDType = { f32: "float32", bf16: "bfloat16", f16: "float16" }[dtype];
  await writeHfFolder(dir, { ...readConfigJson(fixture), torch_dtype: torchDType }, tensors);
  return dir;
}

/**
 * A Meta-layout folder (params.json + consolidated.00.pth, Meta names, q/k rows interleaved) holding
 * an HF fixture's weights: what Meta would have published for the same model.
 */
export async function writeMetaCopy(fixture: string, params: Record<string, unknown>): Promise<string> {
  const dir = tempDir("meta");
  const config = readConfigJson(fixture);
  const tensors = await readAllTensors(fixture);
  const nHeads = config["num_attention_heads"] as number;
  const nKvHeads = config["num_key_value_heads"] as number;
  const headDim = config["head_dim"] as number;
  const specs = weightNames(config["num_hidden_layers"] as number).flatMap((w, i) => {
    const t = tensors.get(w.hf) ?? (w.canonical === "output.weight" ? tensors.get("model.embed_tokens.weight") : undefined);
    if (t === undefined) return [];
    const data = w.rotary === "none" ? t.data : halvesToInterleaved(t.data as Float32Array | Uint16Array, w.rotary === "query" ? nHeads : nKvHeads, headDim);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return [{ name: w.meta, storage: { key: String(i), dtype: t.dtype, data: bytes }, shape: t.shape }];
  });
  writeFileSync(join(dir, "consolidated.00.pth"), writeTorchSave(specs, { archiveName: "consolidated" }));
  writeFileSync(join(dir, "params.json"), JSON.stringify(params));
  return dir;
}

/** A copy of an HF fixture folder with `config.json` replaced. */
export function writeConfigVariant(fixture: string, config: Record<string, unknown>): string {
  const dir = tempDir("config");
  copyFileSync(join(fixture, "model.safetensors"), join(dir, "model.safetensors"));
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}
