// fromPretrained in a web page: a Hugging Face model folder (config.json, optional
// generation_config.json, model.safetensors or shards) from a URL or from picked files, and its
// tokenizer (tokenizer.json, optional tokenizer_config.json and chat_template.jinja). The same
// parsers and weight loader as the Node loader (model/hf-config.ts, loader/load-weights.ts), so the
// weights, their names, dtypes and checks are those of LlamaForCausalLM.fromPretrained; only where
// the bytes come from differs (browser/byte-source.ts). GGUF and Meta folders load on Node only.

import type { Backend } from "../backend/backend.js";
import { ArgumentError, FormatError } from "../errors.js";
import { parseJsonText } from "../json.js";
import type { DTypeOption } from "../loader/pretrained.js";
import { loadWeights } from "../loader/load-weights.js";
import type { LlamaConfig } from "../model/config.js";
import { type GenerationDefaults, parseGenerationConfig } from "../model/generation-config.js";
import { parseHfConfig } from "../model/hf-config.js";
import { LlamaModel } from "../model/llama.js";
import { TORCH_FLOAT_DTYPES } from "../tensor/dtype.js";
import { isQuantType } from "../tensor/quant-formats.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import type { Fetch } from "./byte-source.js";
import { type ModelFolder, type ModelSource, modelFolder } from "./model-folder.js";
import { openWebSafetensors } from "./safetensors-web.js";

/** Options of the browser's fromPretrained. */
export interface WebPretrainedOptions {
  /** As LlamaForCausalLM.fromPretrained's dtype: "auto" (the default) keeps the stored width. */
  readonly dtype?: DTypeOption;
  /** Kernels to run on (the engine worker passes its wasm backend; default: the reference backend). */
  readonly backend?: Backend;
  /** Called as weights arrive, with the bytes loaded so far and in all. */
  readonly onProgress?: (loadedBytes: number, totalBytes: number) => void;
  /** Receives non-fatal findings (unknown config keys, unused tensors). */
  readonly onWarning?: (message: string) => void;
  /** The fetch to use (default: globalThis.fetch). */
  readonly fetch?: Fetch;
}

/** A model loaded in a page. */
export interface WebModel {
  readonly model: LlamaModel;
  readonly config: LlamaConfig;
  /** generation_config.json's values; empty when the folder has none. */
  readonly generationConfig: GenerationDefaults;
  /** The folder's URL or "picked files". */
  readonly nameOrPath: string;
}

async function requiredJson(folder: ModelFolder, name: string, what: string): Promise<{ json: unknown; path: string }> {
  const file = await folder.open(name);
  if (file === undefined) throw new FormatError(folder.name, `no ${name}: ${what}`);
  return { json: parseJsonText(await file.text(), file.name), path: file.name };
}

/**
 * Load a Hugging Face model folder from a URL or picked files.
 * @throws FormatError for a missing or malformed file; LlamaError for an HTTP failure;
 *   ConfigError, ShapeError, UnsupportedError as LlamaForCausalLM.fromPretrained
 * @example
 * const { model } = await fromPretrained("https://example.com/models/Llama-3.2-1B-Instruct/", { backend });
 */
export async function fromPretrained(source: ModelSource, options: WebPretrainedOptions = {}): Promise<WebModel> {
  const folder = modelFolder(source, options.fetch);
  const warn = options.onWarning ?? ((): void => {});
  const dtypeOption = options.dtype ?? "auto";
  if (dtypeOption !== "auto" && !isQuantType(dtypeOption) && !TORCH_FLOAT_DTYPES.has(dtypeOption)) throw new ArgumentError(`dtype ${JSON.stringify(dtypeOption)} is not a dtype option`);
  const { json, path } = await requiredJson(folder, "config.json", "a Hugging Face model folder is needed (GGUF and Meta folders load on Node only)");
  const parsed = parseHfConfig(json, path);
  if (parsed.unknownKeys.length > 0) warn(`${path}: unknown keys ignored: ${parsed.unknownKeys.join(", ")}`);
  parsed.warnings.forEach(warn);
  let config = parsed.config;
  let generationConfig: GenerationDefaults = { eosTokenIds: [] };
  const generationFile = await folder.open("generation_config.json");
  if (generationFile !== undefined) {
    generationConfig = parseGenerationConfig(parseJsonText(await generationFile.text(), generationFile.name), generationFile.name);
    config = { ...config, eosTokenIds: [...new Set([...config.eosTokenIds, ...generationConfig.eosTokenIds])] };
  }
  const tensors = await openWebSafetensors(folder);
  try {
    const dtype = dtypeOption === "auto" ? config.storedDType ?? "auto" : isQuantType(dtypeOption) ? dtypeOption : TORCH_FLOAT_DTYPES.get(dtypeOption)!;
    const { weights, unusedTensors } = await loadWeights(tensors, config, {
      scheme: "hf",
      dtype,
      path: folder.name,
      ...(options.backend === undefined ? {} : { backend: options.backend }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    if (unusedTensors.length > 0) warn(`${folder.name}: ${unusedTensors.length} checkpoint tensors are not used: ${unusedTensors.slice(0, 5).join(", ")}`);
    const model = new LlamaModel(config, weights, options.backend === undefined ? {} : { backend: options.backend });
    return { model, config, generationConfig, nameOrPath: folder.name };
  } finally {
    await tensors.close();
  }
}

/**
 * The tokenizer of a model folder (URL or picked files): tokenizer.json with tokenizer_config.json
 * and chat_template.jinja when present.
 * @throws FormatError when there is no tokenizer.json or a file is malformed
 */
export async function tokenizerFromPretrained(source: ModelSource, options: { fetch?: Fetch } = {}): Promise<Tokenizer> {
  const folder = modelFolder(source, options.fetch);
  const json = await folder.open("tokenizer.json");
  if (json === undefined) throw new FormatError(folder.name, "no tokenizer.json (a Hugging Face tokenizer is needed in the browser)");
  const [tokenizerJson, config, template] = await Promise.all([json.text(), folder.open("tokenizer_config.json"), folder.open("chat_template.jinja")]);
  return Tokenizer.fromHuggingFace({
    tokenizerJson,
    tokenizerJsonPath: json.name,
    tokenizerConfig: await config?.text(),
    tokenizerConfigPath: config?.name,
    chatTemplateFile: await template?.text(),
  });
}
