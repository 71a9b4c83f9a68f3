// PEFT LoRA adapter folders (huggingface/peft `save_pretrained` of a LoraModel on LlamaForCausalLM):
// `adapter_config.json` and `adapter_model.safetensors` with tensors named
// `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` (rank, in) and `...lora_B.weight`
// (out, rank), read into and written from the LoraAdapter record (model/lora.ts). The only code that
// knows PEFT's key names. Reading checks everything against named rules: LORA type, positive rank,
// tensor names, A/B pairs, shapes against the rank; which model it fits is model/lora-apply.ts.
// Unsupported PEFT features (DoRA, biases, fan_in_fan_out, modules_to_save, rank/alpha patterns) are
// errors, not silently ignored. A pickled adapter_model.bin is refused, never executed.

import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFolderAtomically } from "../convert/output-folder.js";
import { ConfigError, FormatError, ShapeError, UnsupportedError } from "../errors.js";
import { openSafetensors } from "../io/safetensors.js";
import { writeSafetensors, type TensorToWrite } from "../io/safetensors-writer.js";
import { isJsonObject, parseJsonText, readTextFile, type JsonObject } from "../json.js";
import { LORA_MODULES, type LoraAdapter, type LoraModule, type LoraPair } from "../model/lora.js";
import { floatTensorToF32 } from "../tensor/cast.js";
import { isFloatDType } from "../tensor/dtype.js";
import type { FloatTensor } from "../tensor/tensor.js";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** PEFT's tensor names on a Llama: the module path, lora_A or lora_B (optionally ".default", as older PEFT wrote). */
const TENSOR_KEY = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_(A|B)(?:\.default)?\.weight$/;
/** Which block each projection sits in. */
const MODULE_PARENT: Readonly<Record<LoraModule, "self_attn" | "mlp">> = {
  q_proj: "self_attn", k_proj: "self_attn", v_proj: "self_attn", o_proj: "self_attn",
  gate_proj: "mlp", up_proj: "mlp", down_proj: "mlp",
};
/** Most layers an adapter may name (Llama 3.1 405B has 126). */
const MAX_ADAPTER_LAYERS = 1024;

/** The PEFT tensor name of one matrix of an adapted projection. */
export function peftTensorName(layer: number, module: LoraModule, matrix: "A" | "B"): string {
  return `base_model.model.model.layers.${layer}.${MODULE_PARENT[module]}.${module}.lora_${matrix}.weight`;
}

/** An adapter folder's contents beyond the LoraAdapter record. */
export interface PeftAdapterFolder {
  readonly adapter: LoraAdapter;
  /** lora_dropout (training only; inference ignores it) */
  readonly dropout: number;
  readonly baseModelNameOrPath: string | undefined;
  /** Keys of adapter_config.json that were read but mean nothing at inference. */
  readonly warnings: readonly string[];
}

/**
 * Read a PEFT LoRA adapter folder.
 * @throws FormatError for missing or unreadable files and unknown tensor names; ConfigError for a
 *   bad adapter_config.json key; ShapeError for a tensor whose shape does not fit the rank or its
 *   pair; UnsupportedError for PEFT features llama3-ts does not implement
 * @example
 * const { adapter } = await readPeftAdapter("out/adapter");
 * model.setAdapter(adapter);
 */
export async function readPeftAdapter(dir: string): Promise<PeftAdapterFolder> {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(configPath)) throw new FormatError(dir, `not a PEFT adapter folder: no ${ADAPTER_CONFIG_FILE}`);
  if (!existsSync(weightsPath)) {
    const pickled = existsSync(join(dir, "adapter_model.bin"));
    throw new FormatError(dir, pickled ? "adapter_model.bin (a pickle) is not read; save the adapter with safetensors (PEFT's default, safe_serialization=True)" : `no ${ADAPTER_WEIGHTS_FILE}`);
  }
  const json = parseJsonText(await readTextFile(configPath), configPath);
  if (!isJsonObject(json)) throw new FormatError(configPath, "must hold a JSON object");
  const config = parseAdapterConfig(json, configPath);
  const file = await openSafetensors(weightsPath);
  try {
    const layers: Partial<Record<LoraModule, { a?: FloatTensor; b?: FloatTensor }>>[] = [];
    for (const name of file.entries.keys()) {
      const match = TENSOR_KEY.exec(name);
      const module = match?.[3] as LoraModule | undefined;
      if (match === null || module === undefined) throw new FormatError(weightsPath, `tensor "${name}" is not a LoRA matrix of a Llama projection (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight, ...)`);
      if (!(LORA_MODULES as readonly string[]).includes(module) || MODULE_PARENT[module] !== match[2]) throw new UnsupportedError(`${weightsPath}: tensor "${name}" adapts "${match[2]}.${module}", which is not a Llama projection (${LORA_MODULES.join(", ")})`);
      if (config.targetModules !== undefined && !config.targetModules.includes(module)) throw new ConfigError("target_modules", `does not list ${module}, but ${ADAPTER_WEIGHTS_FILE} has "${name}"`, { path: configPath });
      const layer = Number(match[1]);
      if (layer >= MAX_ADAPTER_LAYERS) throw new FormatError(weightsPath, `tensor "${name}": layer ${layer} is past ${MAX_ADAPTER_LAYERS} (MAX_ADAPTER_LAYERS)`);
      const tensor = await file.read(name);
      if (!isFloatDType(tensor.dtype) || tensor.shape.length !== 2) throw new FormatError(weightsPath, `tensor "${name}" must be a float32/bfloat16/float16 matrix, got ${tensor.dtype} [${tensor.shape.join(", ")}]`);
      while (layers.length <= layer) layers.push({});
      const entry = (layers[layer]![module] ??= {});
      entry[match[4] === "A" ? "a" : "b"] = tensor as FloatTensor;
    }
    const adapterLayers = layers.map((layer, l) => {
      const out: Partial<Record<LoraModule, LoraPair>> = {};
      for (const [module, { a, b }] of Object.entries(layer) as [LoraModule, { a?: FloatTensor; b?: FloatTensor }][]) {
        if (a === undefined || b === undefined) throw new FormatError(weightsPath, `${peftTensorName(l, module, a === undefined ? "A" : "B")} is missing (its pair is present)`);
        const [rankA, inFeatures] = a.shape as [number, number];
        const [outFeatures, rankB] = b.shape as [number, number];
        if (rankA !== config.rank) throw new ShapeError(peftTensorName(l, module, "A"), [config.rank, inFeatures], a.shape, `${weightsPath}: r is ${config.rank}`);
        if (rankB !== config.rank) throw new ShapeError(peftTensorName(l, module, "B"), [outFeatures, config.rank], b.shape, `${weightsPath}: r is ${config.rank}`);
        out[module] = { a: floatTensorToF32(a), b: floatTensorToF32(b), inFeatures, outFeatures };
      }
      return out;
    });
    if (adapterLayers.every((layer) => Object.keys(layer).length === 0)) throw new FormatError(weightsPath, "holds no LoRA tensors");
    const modules = LORA_MODULES.filter((m) => adapterLayers.some((layer) => layer[m] !== undefined));
    const adapter: LoraAdapter = { rank: config.rank, alpha: config.alpha, scale: config.scale, targetModules: modules, layers: adapterLayers };
    return { adapter, dropout: config.dropout, baseModelNameOrPath: config.baseModelNameOrPath, warnings: config.warnings };
  } finally {
    await file.close();
  }
}

interface AdapterConfig {
  readonly rank: number;
  readonly alpha: number;
  readonly scale: number;
  readonly dropout: number;
  /** undefined: a regex or "all-linear" (the tensors say which) */
  readonly targetModules: readonly LoraModule[] | undefined;
  readonly baseModelNameOrPath: string | undefined;
  readonly warnings: string[];
}

/** Values that mean "not used" in PEFT's config (null, {}, [], false, absent). */
function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === false || (Array.isArray(value) && value.length === 0) || (isJsonObject(value) && Object.keys(value).length === 0);
}

function parseAdapterConfig(json: JsonObject, path: string): AdapterConfig {
  const fail = (key: string, message: string): never => {
    throw new ConfigError(key, message, { path });
  };
  if (json["peft_type"] !== "LORA") fail("peft_type", `must be "LORA", got ${JSON.stringify(json["peft_type"])}`);
  const rank = json["r"];
  if (typeof rank !== "number" || !Number.isInteger(rank) || rank < 1) fail("r", `must be a positive integer, got ${JSON.stringify(rank)}`);
  const alpha = json["lora_alpha"] ?? 8; // PEFT's LoraConfig default
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) fail("lora_alpha", `must be a positive number, got ${JSON.stringify(alpha)}`);
  const dropout = json["lora_dropout"] ?? 0;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) fail("lora_dropout", `must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  const rslora = json["use_rslora"] ?? false;
  if (typeof rslora !== "boolean") fail("use_rslora", "must be true or false");
  for (const [key, what] of [["use_dora", "DoRA"], ["fan_in_fan_out", "fan_in_fan_out (GPT-2 Conv1D layouts)"], ["modules_to_save", "modules_to_save (fully trained extra modules)"], ["rank_pattern", "per-module ranks"], ["alpha_pattern", "per-module alphas"], ["layer_replication", "layer replication"]] as const) {
    if (!isUnset(json[key])) throw new UnsupportedError(`${path}: ${key}: ${what} is not supported`);
  }
  if ((json["bias"] ?? "none") !== "none") throw new UnsupportedError(`${path}: bias: only "none" is supported (Llama projections have no bias), got ${JSON.stringify(json["bias"])}`);
  const warnings: string[] = [];
  const task = json["task_type"];
  if (task !== undefined && task !== null && task !== "CAUSAL_LM") warnings.push(`${path}: task_type is ${JSON.stringify(task)}, not CAUSAL_LM; applying the adapter to the causal LM anyway`);
  const targets = json["target_modules"];
  let targetModules: LoraModule[] | undefined;
  if (Array.isArray(targets)) {
    targetModules = targets.map((t: unknown, i) => {
      if (typeof t !== "string" || !(LORA_MODULES as readonly string[]).includes(t)) {
        throw new UnsupportedError(`${path}: target_modules[${i}]: ${JSON.stringify(t)} is not a Llama projection (${LORA_MODULES.join(", ")})`);
      }
      return t as LoraModule;
    });
  } else if (typeof targets !== "string") {
    fail("target_modules", `must be a list of module names or a string, got ${JSON.stringify(targets)}`);
  }
  const base = json["base_model_name_or_path"];
  const r = rank as number;
  const a = alpha as number;
  return {
    rank: r,
    alpha: a,
    scale: rslora === true ? a / Math.sqrt(r) : a / r, // PEFT LoraLayer.update_layer's scaling
    dropout: dropout as number,
    targetModules,
    baseModelNameOrPath: typeof base === "string" ? base : undefined,
    warnings,
  };
}

/** Options of {@link writePeftAdapter}. */
export interface WritePeftOptions {
  /** lora_dropout to record (default 0). */
  readonly dropout?: number;
  /** base_model_name_or_path to record. */
  readonly baseModelNameOrPath?: string | undefined;
  /** Replace an existing adapter folder (default false). */
  readonly overwrite?: boolean;
}

/**
 * Write `adapter` as a PEFT adapter folder, atomically (a temporary sibling renamed into place), as
 * PEFT's save_pretrained writes it: float32 tensors, the config's keys sorted.
 * @throws ArgumentError for an output folder in the way
 */
export async function writePeftAdapter(dir: string, adapter: LoraAdapter, options: WritePeftOptions = {}): Promise<void> {
  const tensors: TensorToWrite[] = [];
  adapter.layers.forEach((layer, l) => {
    for (const [module, pair] of Object.entries(layer) as [LoraModule, LoraPair][]) {
      const aShape = [adapter.rank, pair.inFeatures];
      const bShape = [pair.outFeatures, adapter.rank];
      tensors.push({ name: peftTensorName(l, module, "A"), dtype: "f32", shape: aShape, data: { dtype: "f32", shape: aShape, data: pair.a } });
      tensors.push({ name: peftTensorName(l, module, "B"), dtype: "f32", shape: bShape, data: { dtype: "f32", shape: bShape, data: pair.b } });
    }
  });
  const rslora = Math.abs(adapter.scale - adapter.alpha / Math.sqrt(adapter.rank)) < Math.abs(adapter.scale - adapter.alpha / adapter.rank);
  const config: Record<string, unknown> = {
    alpha_pattern: {},
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_to_transform: null,
    lora_alpha: adapter.alpha,
    lora_dropout: options.dropout ?? 0,
    modules_to_save: null,
    peft_type: "LORA",
    r: adapter.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...adapter.targetModules],
    task_type: "CAUSAL_LM",
    use_dora: false,
    use_rslora: rslora && adapter.rank !== 1,
  };
  await writeFolderAtomically(dir, async (temp) => {
    await writeSafetensors(join(temp, ADAPTER_WEIGHTS_FILE), tensors, { metadata: { format: "pt" } });
    await writeFile(join(temp, ADAPTER_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  }, { overwrite: options.overwrite ?? false });
}
