// fromPretrained in a web page: a Hugging Face model folder (config.json, optional
// generation_config.json, model.safetensors or shards) from a URL or from picked files, and its
// tokenizer (tokenizer.json, optional tokenizer_config.json and chat_template.jinja). The same
// parsers and weight loader as the Node loader (model/hf-config.ts, loader/load-weights.ts), so the
// weights, their names, dtypes and checks are those of LlamaForCausalLM.fromPretrained; only where
// the bytes come from differs (browser/byte-source.ts). A GGUF file (a URL ending in .gguf, a
// File/Blob, or picked files holding one .gguf and no config.json) loads through loader/gguf.ts and
// tokenizer/load-gguf.ts as on Node (browser/gguf-web.ts reads it). Meta folders load on Node only.
// With `cache`, a URL's files are first copied into OPFS (browser/opfs-cache.ts) and read from there.

import type { Backend } from "../backend/backend.js";
import { ArgumentError, FormatError } from "../errors.js";
import { parseJsonText } from "../json.js";
import type { DTypeOption } from "../loader/pretrained.js";
import { loadWeights } from "../loader/load-weights.js";
import { ggufModelOf, loadGgufWeights } from "../loader/gguf.js";
import type { LlamaConfig } from "../model/config.js";
import { type GenerationDefaults, parseGenerationConfig } from "../model/generation-config.js";
import { parseHfConfig } from "../model/hf-config.js";
import { LlamaModel } from "../model/llama.js";
import { TORCH_FLOAT_DTYPES } from "../tensor/dtype.js";
import { isQuantType } from "../tensor/quant-formats.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { type ByteSource, type Fetch, blobSource, urlSource } from "./byte-source.js";
import { openWebGguf } from "./gguf-web.js";
import { type ModelFolder, type ModelSource, type NamedBlob, isGgufName, modelFolder } from "./model-folder.js";
import { cachedModelFiles } from "./opfs-cache.js";
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
  /**
   * Keep a URL's files in the page's Origin Private File System and load them from there
   * (cachedModelFiles): downloaded once, later loads (a reload included) make no request for them.
   * No effect on picked files.
   */
  readonly cache?: boolean;
  /** With `cache`: bytes downloaded into OPFS so far and in all (not called when the copy was there). */
  readonly onDownloadProgress?: (loadedBytes: number, totalBytes: number) => void;
}

/** With `cache`, the files of a URL from OPFS (downloaded there first when missing); else `source` itself. */
async function cachedSource(source: WebModelSource, options: Pick<WebPretrainedOptions, "cache" | "fetch" | "onDownloadProgress">): Promise<WebModelSource> {
  if (options.cache !== true || !(typeof source === "string" || source instanceof URL)) return source;
  return cachedModelFiles(source, {
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.onDownloadProgress === undefined ? {} : { onProgress: options.onDownloadProgress }),
  });
}

/** A model loaded in a page. */
export interface WebModel {
  readonly model: LlamaModel;
  readonly config: LlamaConfig;
  /** generation_config.json's values; empty when the folder has none. */
  readonly generationConfig: GenerationDefaults;
  /** The folder's (or GGUF file's) URL, or "picked files" (the file's name for a GGUF Blob). */
  readonly nameOrPath: string;
}

async function requiredJson(folder: ModelFolder, name: string, what: string): Promise<{ json: unknown; path: string }> {
  const file = await folder.open(name);
  if (file === undefined) throw new FormatError(folder.name, `no ${name}: ${what}`);
  return { json: parseJsonText(await file.text(), file.name), path: file.name };
}

/**
 * Load a Hugging Face model folder or a GGUF file from a URL or picked files.
 * @throws FormatError for a missing or malformed file (or, with `cache`, a download cut short); LlamaError for an HTTP failure;
 *   ConfigError, ShapeError, UnsupportedError as LlamaForCausalLM.fromPretrained
 * @example
 * const { model } = await fromPretrained("https://example.com/models/Llama-3.2-1B-Instruct/", { backend });
 * const cached = await fromPretrained("/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf", { backend, cache: true });
 */
export async function fromPretrained(source: WebModelSource, options: WebPretrainedOptions = {}): Promise<WebModel> {
  const warn = options.onWarning ?? ((): void => {});
  const dtypeOption = options.dtype ?? "auto";
  if (dtypeOption !== "auto" && !isQuantType(dtypeOption) && !TORCH_FLOAT_DTYPES.has(dtypeOption)) throw new ArgumentError(`dtype ${JSON.stringify(dtypeOption)} is not a dtype option`);
  source = await cachedSource(source, options);
  const gguf = await ggufSourceOf(source, options.fetch);
  if (gguf !== undefined) return fromGguf(gguf, dtypeOption, options, warn);
  const folder = modelFolder(source as ModelSource, options.fetch);
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
 * and chat_template.jinja when present; of a GGUF file, its tokenizer.ggml.* keys (header only).
 * With `cache`, from the OPFS copy (cachedModelFiles: the whole model is downloaded when missing).
 * @throws FormatError when there is no tokenizer.json or a file is malformed
 */
export async function tokenizerFromPretrained(source: WebModelSource, options: Pick<WebPretrainedOptions, "cache" | "fetch" | "onDownloadProgress"> = {}): Promise<Tokenizer> {
  source = await cachedSource(source, options);
  const gguf = await ggufSourceOf(source, options.fetch);
  if (gguf !== undefined) {
    const file = await openWebGguf(gguf);
    return Tokenizer.fromGgufMetadata(file.metadata, file.path);
  }
  const folder = modelFolder(source as ModelSource, options.fetch);
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

/** What the browser's fromPretrained accepts: a model folder (ModelSource) or one GGUF File/Blob. */
export type WebModelSource = ModelSource | Blob;

/**
 * The GGUF file `source` names, if it names one: a URL whose path ends in .gguf, a Blob, or picked
 * files with one .gguf and no config.json.
 * @throws FormatError for a .gguf URL the server does not have; ArgumentError for picked files with several .gguf
 */
async function ggufSourceOf(source: WebModelSource, fetchFn: Fetch | undefined): Promise<ByteSource | undefined> {
  if (typeof source === "string" || source instanceof URL) {
    const location = (globalThis as { location?: { href: string } }).location;
    const url = new URL(String(source), location?.href);
    if (!isGgufName(url.pathname)) return undefined;
    const file = await urlSource(url.href, fetchFn);
    if (file === undefined) throw new FormatError(url.href, "no such GGUF file (HTTP 404)");
    return file;
  }
  if (typeof Blob !== "undefined" && source instanceof Blob) return blobSource(source, (source as Partial<NamedBlob>).name ?? "blob");
  if ("open" in source) return undefined;
  const files = Array.from(source as ArrayLike<NamedBlob>);
  if (files.some((f) => f.name === "config.json")) return undefined;
  const ggufs = files.filter((f) => isGgufName(f.name));
  if (ggufs.length > 1) throw new ArgumentError(`picked files hold ${ggufs.length} .gguf files (${ggufs.map((f) => f.name).join(", ")}); pick one`);
  return ggufs.length === 1 ? blobSource(ggufs[0]!, ggufs[0]!.webkitRelativePath || ggufs[0]!.name) : undefined;
}

/** fromPretrained for a GGUF file, as the Node loader's fromGguf: "auto" keeps each tensor's stored type. */
async function fromGguf(source: ByteSource, dtypeOption: DTypeOption, options: WebPretrainedOptions, warn: (message: string) => void): Promise<WebModel> {
  const { file, parsed } = await ggufModelOf(await openWebGguf(source));
  if (parsed.unknownKeys.length > 0) warn(`${file.path}: unknown keys ignored: ${parsed.unknownKeys.join(", ")}`);
  parsed.warnings.forEach(warn);
  const config = parsed.config;
  const dtype = dtypeOption === "auto" || isQuantType(dtypeOption) ? dtypeOption : TORCH_FLOAT_DTYPES.get(dtypeOption)!;
  const { weights, unusedTensors } = await loadGgufWeights(file, config, {
    dtype,
    ...(options.backend === undefined ? {} : { backend: options.backend }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  if (unusedTensors.length > 0) warn(`${file.path}: ${unusedTensors.length} tensors are not used: ${unusedTensors.slice(0, 5).join(", ")}`);
  const model = new LlamaModel(config, weights, options.backend === undefined ? {} : { backend: options.backend });
  return { model, config, generationConfig: { eosTokenIds: config.eosTokenIds }, nameOrPath: file.path };
}
