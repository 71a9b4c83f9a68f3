// Saving a (fine-tuned) model as a Hugging Face checkpoint folder, as transformers' save_pretrained
// lays it out: config.json, generation_config.json, model.safetensors (or shards with an index) in
// one float dtype, and the tokenizer files. Written atomically (convert/output-folder.ts): a failed
// or interrupted save leaves no folder that looks complete. fromPretrained loads the result.
//
// Tokenizer files are copied from the folder the model came from; special tokens added since (a
// `<pad>` for training, train/pad-token.ts) are written into tokenizer.json's added_tokens and
// tokenizer_config.json's added_tokens_decoder / pad_token, as transformers' save_pretrained records
// them. generation_config.json is copied when the source has one, else written from the config.

import { copyFile, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { writeFolderAtomically } from "../convert/output-folder.js";
import { weightNames } from "../convert/names.js";
import { UnsupportedError } from "../errors.js";
import type { TensorToWrite } from "../io/safetensors-writer.js";
import { writeShardedSafetensors } from "../io/safetensors-sharded-writer.js";
import { isJsonObject } from "../json.js";
import type { LlamaConfig } from "../model/config.js";
import { generationConfigJson, serializeConfigJson, serializeHfConfig } from "../model/hf-config-writer.js";
import type { LlamaWeights } from "../model/weights.js";
import { castFloat } from "../tensor/cast.js";
import type { FloatDType } from "../tensor/dtype.js";
import { isQuantTensor } from "../tensor/quant-formats.js";
import type { FloatTensor, WeightTensor } from "../tensor/tensor.js";

/** Tokenizer files save_pretrained writes (and Meta's tokenizer.model), copied when present. */
const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "tokenizer.model"] as const;

/** What saving needs from a tokenizer: its special tokens and pad token, to record added ones. */
export interface SavedTokenizer {
  readonly specialTokens: readonly { readonly id: number; readonly content: string }[];
  readonly padToken: string | undefined;
}

/** Options of {@link saveHfModel}. */
export interface SaveModelOptions {
  /** dtype of the saved weights (default: config.storedDType, else bf16 as Llama 3 ships). */
  readonly dtype?: FloatDType;
  /** The folder the model was loaded from: its tokenizer files and generation_config.json are copied. */
  readonly sourceDir?: string | undefined;
  /** The tokenizer as trained with (tokens added since loading are written into the copies). */
  readonly tokenizer?: SavedTokenizer | undefined;
  /** Replace an existing checkpoint folder (default false). */
  readonly overwrite?: boolean;
  /** Most bytes per safetensors shard (default 5 GB, as save_pretrained). */
  readonly maxShardBytes?: number;
}

/** What was saved. */
export interface SaveResult {
  readonly files: readonly string[];
  readonly warnings: readonly string[];
}

/**
 * Save a model's config and weights as a Hugging Face folder.
 * @throws ArgumentError for an output in the way (nothing written); UnsupportedError for
 *   block-format (q8_0) weights; the file system's errors (the folder is then not created)
 * @example
 * await saveHfModel("out", model, { sourceDir: "models/Llama-3.2-1B", tokenizer });
 */
export async function saveHfModel(outputDir: string, model: { readonly config: LlamaConfig; readonly weights: LlamaWeights }, options: SaveModelOptions = {}): Promise<SaveResult> {
  const dtype = options.dtype ?? model.config.storedDType ?? "bf16";
  const config: LlamaConfig = { ...model.config, storedDType: dtype };
  const tensors = hfTensors(config, model.weights, dtype);
  const warnings: string[] = [];
  const source = options.sourceDir;
  const protect = source === undefined ? [] : [source];
  return writeFolderAtomically(outputDir, async (dir) => {
    const files = ["config.json"];
    await writeFile(join(dir, "config.json"), serializeHfConfig(config));
    const generation = source === undefined ? undefined : join(source, "generation_config.json");
    if (generation !== undefined && existsSync(generation)) await copyFile(generation, join(dir, "generation_config.json"));
    else await writeFile(join(dir, "generation_config.json"), serializeConfigJson(generationConfigJson(config)));
    files.push("generation_config.json");
    const written = await writeShardedSafetensors(dir, tensors, { metadata: { format: "pt" }, ...(options.maxShardBytes === undefined ? {} : { maxShardBytes: options.maxShardBytes }) });
    files.push(...written.files.map((f) => basename(f)), ...(written.indexPath === undefined ? [] : [basename(written.indexPath)]));
    if (source !== undefined) files.push(...(await copyTokenizer(source, dir, options.tokenizer, warnings)));
    else warnings.push("no source folder given: the output has no tokenizer files");
    return { files, warnings };
  }, { overwrite: options.overwrite ?? false, protect });
}

/** The weights under their HF names in `dtype` (lm_head omitted when tied), lazily cast. */
function hfTensors(config: LlamaConfig, weights: LlamaWeights, dtype: FloatDType): TensorToWrite[] {
  return weightNames(config.nLayers)
    .filter((w) => !(config.tieWordEmbeddings && w.canonical === "output.weight"))
    .map((w) => {
      const record = (w.layer === undefined ? weights : weights.layers[w.layer]!) as unknown as Record<string, WeightTensor | Float32Array>;
      const value = record[w.field]!;
      const tensor: WeightTensor = value instanceof Float32Array ? { dtype: "f32", shape: [value.length], data: value } : value;
      if (isQuantTensor(tensor)) throw new UnsupportedError(`${w.hf} is ${tensor.dtype}; only float weights can be saved as a Hugging Face checkpoint (load the model in a float dtype)`);
      return { name: w.hf, dtype, shape: tensor.shape, data: async () => castFloat(tensor as FloatTensor, dtype) };
    });
}

/** Copy the source's tokenizer files, recording special tokens the tokenizer has that they lack. */
async function copyTokenizer(source: string, dir: string, tokenizer: SavedTokenizer | undefined, warnings: string[]): Promise<string[]> {
  const present = TOKENIZER_FILES.filter((f) => existsSync(join(source, f)));
  if (present.length === 0) warnings.push(`${source} has no tokenizer files; the output has none`);
  for (const file of present) await copyFile(join(source, file), join(dir, file));
  if (tokenizer === undefined) return [...present];
  if (!present.includes("tokenizer.json")) {
    if (tokenizer.padToken !== undefined) warnings.push(`${source} has no tokenizer.json, so the added pad token ${tokenizer.padToken} is not recorded in the output's tokenizer files`);
    return [...present];
  }
  const tokenizerJson = JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const added = Array.isArray(tokenizerJson["added_tokens"]) ? (tokenizerJson["added_tokens"] as { id: number }[]) : [];
  const known = new Set(added.map((t) => t.id));
  const missing = tokenizer.specialTokens.filter((t) => !known.has(t.id));
  if (missing.length === 0 && tokenizer.padToken === undefined) return [...present];
  // transformers' AddedToken fields for a special token added with add_special_tokens.
  const entry = (t: { content: string }): Record<string, unknown> => ({ content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });
  tokenizerJson["added_tokens"] = [...added, ...missing.map((t) => ({ id: t.id, ...entry(t) }))];
  await writeFile(join(dir, "tokenizer.json"), `${JSON.stringify(tokenizerJson, null, 2)}\n`);
  const configPath = join(dir, "tokenizer_config.json");
  const config = existsSync(configPath) ? (JSON.parse(await readFile(configPath, "utf8")) as Record<string, unknown>) : {};
  const decoder = isJsonObject(config["added_tokens_decoder"]) ? { ...config["added_tokens_decoder"] } : {};
  for (const t of missing) decoder[String(t.id)] = entry(t);
  config["added_tokens_decoder"] = decoder;
  if (tokenizer.padToken !== undefined) config["pad_token"] = tokenizer.padToken;
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const mapPath = join(dir, "special_tokens_map.json");
  if (existsSync(mapPath) && tokenizer.padToken !== undefined) {
    const map = JSON.parse(await readFile(mapPath, "utf8")) as Record<string, unknown>;
    map["pad_token"] = tokenizer.padToken;
    await writeFile(mapPath, `${JSON.stringify(map, null, 2)}\n`);
  }
  return [...new Set([...present, "tokenizer_config.json"])];
}
