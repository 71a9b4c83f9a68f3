// Loading a model from a checkpoint folder: a Hugging Face folder (config.json + model.safetensors,
// or shards with model.safetensors.index.json) or a Meta original folder (params.json +
// consolidated.NN.pth). Ties the layers together: io reads tensors, convert names and merges them,
// model/ parses the config and runs. `LlamaForCausalLM.fromPretrained` is the public entry point.

import { existsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Backend } from "../backend/backend.js";
import { mergeMetaShards } from "../convert/meta-shards.js";
import { type NameScheme, weightNames } from "../convert/names.js";
import { ArgumentError, FormatError } from "../errors.js";
import { openPytorchCheckpoint } from "../io/pytorch/checkpoint.js";
import { openSafetensorsCheckpoint } from "../io/safetensors-checkpoint.js";
import type { TensorSource } from "../io/tensor-source.js";
import type { LlamaConfig } from "../model/config.js";
import { parseHfConfig } from "../model/hf-config.js";
import { LlamaModel } from "../model/llama.js";
import { parseMetaParams } from "../model/meta-params.js";
import type { FloatDType } from "../tensor/dtype.js";
import { readJsonFile } from "./json-file.js";
import { loadWeights } from "./load-weights.js";

/** Weight element types as transformers' `torch_dtype` names them. */
export type DTypeOption = "auto" | "float32" | "bfloat16" | "float16";

const DTYPE_OPTIONS: Readonly<Record<DTypeOption, FloatDType | "auto">> = {
  auto: "auto", float32: "f32", bfloat16: "bf16", float16: "f16",
};

export interface FromPretrainedOptions {
  /**
   * Element type of the weights in memory. "float32" (the default, as in transformers) widens
   * 16-bit checkpoints; "auto" keeps the stored type (2 bytes per parameter for bf16);
   * "bfloat16"/"float16" narrow. Activations are computed in float32 in every case.
   */
  readonly dtype?: DTypeOption;
  /** Kernels to run on (default: the reference backend). */
  readonly backend?: Backend;
  /** Receives non-fatal findings: unknown config keys, unused checkpoint tensors. */
  readonly onWarning?: (message: string) => void;
  /** Meta folders only: the llama3 rope scaling factor params.json cannot state (8 for 3.1, 32 for 3.2). */
  readonly metaRopeFactor?: number;
}

/** Which kind of checkpoint folder this is. */
export type CheckpointLayout = "hf" | "meta";

/** A Llama 3 causal language model loaded from a checkpoint folder. */
export class LlamaForCausalLM extends LlamaModel {
  /**
   * Load a model from a folder.
   * @param dir a Hugging Face checkpoint folder (config.json + safetensors) or a Meta one (params.json + consolidated.NN.pth)
   * @throws FormatError for unreadable or malformed files; ConfigError for a bad config key;
   *   ShapeError when a tensor does not fit the config; UnsupportedError for other architectures
   * @example
   * const model = await LlamaForCausalLM.fromPretrained("models/Llama-3.2-1B", { dtype: "auto" });
   * const logits = await model.forward([128000, 791, 6864], model.createKvCache());
   */
  static async fromPretrained(dir: string, options: FromPretrainedOptions = {}): Promise<LlamaForCausalLM> {
    const layout = await detectLayout(dir);
    const warn = options.onWarning ?? ((): void => {});
    const { config, source, scheme } = layout === "hf" ? await openHf(dir, warn) : await openMeta(dir, warn, options.metaRopeFactor);
    try {
      const dtype = DTYPE_OPTIONS[options.dtype ?? "float32"];
      if (dtype === undefined) throw new ArgumentError(`dtype must be one of ${Object.keys(DTYPE_OPTIONS).join(", ")}; got ${JSON.stringify(options.dtype)}`);
      const autoDType = dtype === "auto" && config.storedDType !== undefined ? config.storedDType : dtype;
      const { weights, unusedTensors } = await loadWeights(source, config, { scheme, dtype: autoDType, path: dir });
      if (unusedTensors.length > 0) warn(`${dir}: ${unusedTensors.length} checkpoint tensors are not used: ${unusedTensors.slice(0, 5).join(", ")}${unusedTensors.length > 5 ? ", ..." : ""}`);
      return new LlamaForCausalLM(config, weights, options.backend === undefined ? {} : { backend: options.backend });
    } finally {
      await source.close();
    }
  }
}

/** Tell a Hugging Face folder from a Meta one. */
export async function detectLayout(dir: string): Promise<CheckpointLayout> {
  let info;
  try {
    info = await stat(dir);
  } catch (error) {
    throw new FormatError(dir, "no such checkpoint folder", { cause: error });
  }
  if (!info.isDirectory()) throw new FormatError(dir, "not a folder (give the checkpoint folder, not a file in it)");
  if (existsSync(join(dir, "config.json"))) return "hf";
  if (existsSync(join(dir, "params.json"))) return "meta";
  throw new FormatError(dir, "neither config.json (Hugging Face layout) nor params.json (Meta layout) found");
}

interface OpenedCheckpoint {
  readonly config: LlamaConfig;
  readonly source: TensorSource;
  readonly scheme: NameScheme;
}

async function openHf(dir: string, warn: (message: string) => void): Promise<OpenedCheckpoint> {
  const path = join(dir, "config.json");
  const { config, unknownKeys } = parseHfConfig(await readJsonFile(path), path);
  if (unknownKeys.length > 0) warn(`${path}: unknown keys ignored: ${unknownKeys.join(", ")}`);
  return { config, source: await openSafetensorsCheckpoint(dir), scheme: "hf" };
}

async function openMeta(dir: string, warn: (message: string) => void, ropeFactor: number | undefined): Promise<OpenedCheckpoint> {
  const path = join(dir, "params.json");
  const { config, unknownKeys } = parseMetaParams(await readJsonFile(path), path, ropeFactor === undefined ? {} : { ropeFactor });
  if (unknownKeys.length > 0) warn(`${path}: unknown keys ignored: ${unknownKeys.join(", ")}`);
  const files = (await readdir(dir)).filter((f) => /^consolidated\.\d+\.pth$/.test(f)).sort();
  if (files.length === 0) throw new FormatError(dir, "params.json found but no consolidated.NN.pth checkpoint files");
  const shards: TensorSource[] = [];
  try {
    for (const file of files) shards.push(await openPytorchCheckpoint(join(dir, file)));
  } catch (error) {
    await Promise.all(shards.map((s) => s.close()));
    throw error;
  }
  const splits = new Map(weightNames(config.nLayers).map((w) => [w.meta, w.metaSplit]));
  return { config, source: mergeMetaShards(shards, (name) => splits.get(name) ?? "replicated"), scheme: "meta" };
}
