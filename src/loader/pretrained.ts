// Loading a model from a checkpoint folder: a Hugging Face folder (config.json + model.safetensors,
// or shards with model.safetensors.index.json) or a Meta original folder (params.json +
// consolidated.NN.pth), or from a GGUF file (loader/gguf.ts). Ties the layers together: io reads tensors, convert names and merges them,
// model/ parses the config and runs. `LlamaForCausalLM.fromPretrained` is the public entry point.

import { existsSync, join, readdir, stat } from "#platform";
import type { Backend } from "../backend/backend.js";
import { mergeMetaShards } from "../convert/meta-shards.js";
import { type NameScheme, weightNames } from "../convert/names.js";
import { ArgumentError, FormatError } from "../errors.js";
import { type GenerationDefaults, parseGenerationConfig } from "../model/generation-config.js";
import { openPytorchCheckpoint } from "../io/pytorch/checkpoint.js";
import { openSafetensorsCheckpoint } from "../io/safetensors-checkpoint.js";
import type { TensorSource } from "../io/tensor-source.js";
import type { LlamaConfig } from "../model/config.js";
import { type ParsedConfig, parseHfConfig } from "../model/hf-config.js";
import { LlamaModel } from "../model/llama.js";
import { parseMetaParams } from "../model/meta-params.js";
import { TORCH_FLOAT_DTYPES } from "../tensor/dtype.js";
import { QUANT_TYPES, type QuantType, isQuantType } from "../tensor/quant-formats.js";
import { readJsonFile } from "../json.js";
import { loadWeights } from "./load-weights.js";
import { loadGgufWeights, openGgufModel } from "./gguf.js";
import { findGgufFile } from "../io/gguf/gguf-path.js";
import type { GenerationRun } from "../generate/engine.js";
import { type GenerateOptions, type GenerateOutput, generate } from "../generate/generate.js";
import { readPeftAdapter } from "../train/peft.js";

/** Weight element types as transformers' `torch_dtype` names them, and llama.cpp's block formats ("q8_0", ...). */
export type DTypeOption = "auto" | "float32" | "bfloat16" | "float16" | QuantType;

/** Every DTypeOption, for validation and help texts. */
export const DTYPE_OPTIONS: readonly DTypeOption[] = ["auto", "float32", "bfloat16", "float16", ...QUANT_TYPES];

/** Meta shard files: consolidated.00.pth, consolidated.01.pth, ... */
const META_SHARD_FILE = /^consolidated\.(\d+)\.pth$/;

export interface FromPretrainedOptions {
  /**
   * Element type of the weights in memory. "auto" (the default, as in transformers 5) keeps the
   * checkpoint's width: the config's torch_dtype, or the stored type when the config names none
   * (2 bytes per parameter for a bf16 model); "float32" widens 16-bit checkpoints;
   * "bfloat16"/"float16" narrow. A block format ("q8_0", ...) quantizes every weight matrix to
   * llama.cpp's blocks as it is read (q8_0: 34 bytes per 32 parameters; norms stay float32), and
   * matrix products then quantize activations too, as llama.cpp does. Activations are otherwise
   * computed in float32 in every case.
   */
  readonly dtype?: DTypeOption;
  /** Kernels to run on (default: the reference backend). */
  readonly backend?: Backend;
  /** Receives non-fatal findings: unknown config keys, unused checkpoint tensors. */
  readonly onWarning?: (message: string) => void;
  /**
   * Meta folders only: the llama3 rope scaling factor, which params.json cannot state (Llama 3.1
   * uses 8, 3.2 uses 32). Default: 32 for the 3.2 1B/3B shapes, else 8, with a warning.
   */
  readonly metaRopeFactor?: number;
  /** Called as weights load, with the checkpoint bytes read so far and in all (for a progress bar). */
  readonly onProgress?: (loadedBytes: number, totalBytes: number) => void;
  /** A PEFT LoRA adapter folder to apply at inference (model.setAdapter; train/peft.ts reads it). */
  readonly adapter?: string;
}

/** Which kind of checkpoint this is: a Hugging Face or Meta folder, or a GGUF file. */
export type CheckpointLayout = "hf" | "meta" | "gguf";

/** A Llama 3 causal language model loaded from a checkpoint folder. */
export class LlamaForCausalLM extends LlamaModel {
  /** generation_config.json's values (sampling defaults, stop ids); empty when the folder has none. */
  generationConfig: GenerationDefaults = { eosTokenIds: [] };
  /** The folder it was loaded from (transformers' name_or_path); "" when built in memory. */
  nameOrPath = "";

  /**
   * Generate after one prompt or a left-padded batch, with generation_config.json's defaults
   * (transformers' `model.generate`).
   * @param inputIds a prompt's token ids, or rows of them (with `attentionMask` when padded)
   * @returns a run: `await` it for { sequences, outputs }, or `for await` its token/done events
   * @throws ArgumentError for bad ids or options
   * @example
   * const { sequences } = await model.generate(tokenizer.encode("The capital of France is"), { maxNewTokens: 10 });
   * for await (const event of model.generate(ids, { maxNewTokens: 50, tokenizer })) if (event.type === "token") process.stdout.write(event.text);
   */
  generate(inputIds: readonly number[] | readonly (readonly number[])[], options: GenerateOptions = {}): GenerationRun<GenerateOutput> {
    return generate(this, inputIds, { generationConfig: this.generationConfig, ...options });
  }

  /**
   * Load a model from a folder or a GGUF file.
   * @param dir a Hugging Face checkpoint folder (config.json + safetensors), a Meta one (params.json +
   *   consolidated.NN.pth), or a GGUF file (or a folder holding one .gguf; see loader/gguf.ts)
   * @throws FormatError for unreadable or malformed files; ConfigError for a bad config key;
   *   ShapeError when a tensor does not fit the config; UnsupportedError for other architectures
   * @example
   * const model = await LlamaForCausalLM.fromPretrained("models/Llama-3.2-1B", { dtype: "auto" });
   * const logits = await model.forward([128000, 791, 6864], model.createKvCache());
   */
  static async fromPretrained(dir: string, options: FromPretrainedOptions = {}): Promise<LlamaForCausalLM> {
    const layout = await detectLayout(dir);
    const warn = options.onWarning ?? ((): void => {});
    const dtypeOption = options.dtype ?? "auto";
    if (!DTYPE_OPTIONS.includes(dtypeOption)) throw new ArgumentError(`dtype must be one of ${DTYPE_OPTIONS.join(", ")}; got ${JSON.stringify(dtypeOption)}`);
    if (layout === "gguf") return withAdapter(await fromGguf(findGgufFile(dir)!, dir, dtypeOption, options, warn), options.adapter, warn);
    const { config, generationConfig, source, scheme } = layout === "hf" ? await openHf(dir, warn) : await openMeta(dir, warn, options.metaRopeFactor);
    try {
      // "auto" is the config's torch_dtype when it names one (as transformers), else the stored dtype.
      const dtype = dtypeOption === "auto" ? config.storedDType ?? "auto" : isQuantType(dtypeOption) ? dtypeOption : TORCH_FLOAT_DTYPES.get(dtypeOption)!;
      const { weights, unusedTensors } = await loadWeights(source, config, {
        scheme,
        dtype,
        path: dir,
        ...(options.backend === undefined ? {} : { backend: options.backend }),
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      });
      if (unusedTensors.length > 0) warn(`${dir}: ${unusedTensors.length} checkpoint tensors are not used: ${unusedTensors.slice(0, 5).join(", ")}${unusedTensors.length > 5 ? ", ..." : ""}`);
      const model = new LlamaForCausalLM(config, weights, options.backend === undefined ? {} : { backend: options.backend });
      model.generationConfig = generationConfig;
      model.nameOrPath = dir;
      return await withAdapter(model, options.adapter, warn);
    } finally {
      await source.close();
    }
  }
}

/** The model with the PEFT adapter folder `dir` applied, when one is given. */
async function withAdapter(model: LlamaForCausalLM, dir: string | undefined, warn: (message: string) => void): Promise<LlamaForCausalLM> {
  if (dir === undefined) return model;
  const { adapter, warnings } = await readPeftAdapter(dir);
  warnings.forEach(warn);
  model.setAdapter(adapter);
  return model;
}

/** Tell a Hugging Face folder from a Meta one and from a GGUF file (or a folder holding one). */
export async function detectLayout(dir: string): Promise<CheckpointLayout> {
  let info;
  try {
    info = await stat(dir);
  } catch (error) {
    throw new FormatError(dir, "no such checkpoint folder", { cause: error });
  }
  if (info.isFile() && findGgufFile(dir) !== undefined) return "gguf";
  if (!info.isDirectory()) throw new FormatError(dir, "not a folder or a .gguf file (give the checkpoint folder, not a file in it)");
  if (existsSync(join(dir, "config.json"))) return "hf";
  if (existsSync(join(dir, "params.json"))) return "meta";
  if (findGgufFile(dir) !== undefined) return "gguf";
  throw new FormatError(dir, "neither config.json (Hugging Face layout), params.json (Meta layout) nor a .gguf file found");
}

/** fromPretrained for a GGUF file (loader/gguf.ts): "auto" keeps each tensor's stored type. */
async function fromGguf(file: string, dir: string, dtypeOption: DTypeOption, options: FromPretrainedOptions, warn: (message: string) => void): Promise<LlamaForCausalLM> {
  const { file: gguf, parsed } = await openGgufModel(file);
  try {
    const config = reportParsed(parsed, file, warn);
    const dtype = dtypeOption === "auto" || isQuantType(dtypeOption) ? dtypeOption : TORCH_FLOAT_DTYPES.get(dtypeOption)!;
    const { weights, unusedTensors } = await loadGgufWeights(gguf, config, {
      dtype,
      ...(options.backend === undefined ? {} : { backend: options.backend }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    if (unusedTensors.length > 0) warn(`${file}: ${unusedTensors.length} tensors are not used: ${unusedTensors.slice(0, 5).join(", ")}`);
    const model = new LlamaForCausalLM(config, weights, options.backend === undefined ? {} : { backend: options.backend });
    model.generationConfig = { eosTokenIds: config.eosTokenIds };
    model.nameOrPath = dir;
    return model;
  } finally {
    await gguf.close();
  }
}

export interface OpenedCheckpoint {
  readonly config: LlamaConfig;
  readonly generationConfig: GenerationDefaults;
  readonly source: TensorSource;
  readonly scheme: NameScheme;
}

export function reportParsed(parsed: ParsedConfig, path: string, warn: (message: string) => void): LlamaConfig {
  if (parsed.unknownKeys.length > 0) warn(`${path}: unknown keys ignored: ${parsed.unknownKeys.join(", ")}`);
  parsed.warnings.forEach(warn);
  return parsed.config;
}

export async function openHf(dir: string, warn: (message: string) => void): Promise<OpenedCheckpoint> {
  const path = join(dir, "config.json");
  let config = reportParsed(parseHfConfig(await readJsonFile(path), path), path, warn);
  // generate() stops on generation_config.json's eos ids too (Instruct models list <|eot_id|> there).
  const generationPath = join(dir, "generation_config.json");
  let generationConfig: GenerationDefaults = { eosTokenIds: [] };
  if (existsSync(generationPath)) {
    generationConfig = parseGenerationConfig(await readJsonFile(generationPath), generationPath);
    config = { ...config, eosTokenIds: [...new Set([...config.eosTokenIds, ...generationConfig.eosTokenIds])] };
  }
  return { config, generationConfig, source: await openSafetensorsCheckpoint(dir), scheme: "hf" };
}

export async function openMeta(dir: string, warn: (message: string) => void, ropeFactor: number | undefined): Promise<OpenedCheckpoint> {
  const path = join(dir, "params.json");
  const config = reportParsed(parseMetaParams(await readJsonFile(path), path, ropeFactor === undefined ? {} : { ropeFactor }), path, warn);
  const files = await metaShardFiles(dir);
  const shards: TensorSource[] = [];
  const splits = new Map(weightNames(config.nLayers).map((w) => [w.meta, w.metaSplit]));
  try {
    for (const file of files) shards.push(await openPytorchCheckpoint(join(dir, file)));
    return { config, generationConfig: { eosTokenIds: config.eosTokenIds }, source: mergeMetaShards(shards, (name) => splits.get(name) ?? "replicated"), scheme: "meta" };
  } catch (error) {
    await Promise.all(shards.map((s) => s.close()));
    throw error;
  }
}

/** consolidated.00.pth ... consolidated.NN.pth in shard order, all present. */
export async function metaShardFiles(dir: string): Promise<string[]> {
  const numbered = (await readdir(dir)).flatMap((file) => {
    const match = META_SHARD_FILE.exec(file);
    return match === null ? [] : [{ file, index: Number(match[1]) }];
  });
  if (numbered.length === 0) throw new FormatError(dir, "params.json found but no consolidated.NN.pth checkpoint files");
  numbered.sort((a, b) => a.index - b.index);
  numbered.forEach(({ index }, i) => {
    if (index !== i) throw new FormatError(dir, `model-parallel shard ${i} of ${numbered.length} (consolidated.${String(i).padStart(2, "0")}.pth) is missing`);
  });
  return numbered.map((n) => n.file);
}
