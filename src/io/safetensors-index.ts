// The index of a sharded safetensors checkpoint (`model.safetensors.index.json`) as data: parsing
// and validating it, writing it byte for byte as Hugging Face does, and the rule that splits
// tensors into shards. No file access here; see safetensors-checkpoint.ts and
// safetensors-sharded-writer.ts.
//
// Follows huggingface_hub `serialization/_base.py` `split_state_dict_into_shards_factory` (the
// split rule and the `model-00001-of-00002.safetensors` names) and transformers
// `PreTrainedModel.save_pretrained` (the index is `json.dumps(index, indent=2, sort_keys=True)`
// plus a newline, with `{"metadata": {"total_size": N}, "weight_map": {...}}`).

import { FormatError } from "../errors.js";
import { compareCodePoints, isJsonObject } from "../json.js";
import { describeJson } from "./safetensors-format.js";

/** The index file of a sharded checkpoint (transformers `SAFE_WEIGHTS_INDEX_NAME`). */
export const INDEX_FILE_NAME = "model.safetensors.index.json";

/** The file of an unsharded checkpoint (transformers `SAFE_WEIGHTS_NAME`). */
export const SINGLE_FILE_NAME = "model.safetensors";

/** Default most bytes per shard: huggingface_hub `MAX_SHARD_SIZE` (5_000_000_000, "5GB"), also save_pretrained's default. */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/**
 * Largest index file accepted: 64 MiB, our own limit. Real indexes are far smaller (about 100 bytes
 * per tensor: a few MB for the largest public checkpoints), so anything bigger is not an index.
 */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/** Shard file names as huggingface_hub writes them: `model-00001-of-00004.safetensors`. */
export const SHARD_FILE_PATTERN = /^model-\d{5}-of-\d{5}\.safetensors$/;

/** A parsed index. */
export interface SafetensorsIndex {
  /** `metadata.total_size`: the sum of the tensors' byte lengths, when the index states it. */
  readonly totalSize: number | undefined;
  /** Tensor name -> shard file name (a bare name in the index's folder). */
  readonly weightMap: ReadonlyMap<string, string>;
  /** The distinct shard files of the weight map, in first-mention order. */
  readonly shardFiles: readonly string[];
}

/**
 * Parses and validates an index file's text.
 * @param path The index file, for error messages.
 * @throws FormatError for invalid JSON, a missing or malformed `weight_map` (not an object, a value
 *   that is not a bare file name), or a malformed `metadata`.
 */
export function parseIndex(path: string, text: string): SafetensorsIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new FormatError(path, `index is not valid JSON${cause instanceof Error ? `: ${cause.message}` : ""}`, { cause });
  }
  if (!isJsonObject(json)) throw new FormatError(path, `index is not a JSON object (got ${describeJson(json)})`);
  const { metadata, weight_map: weightMapJson } = json;
  if (!isJsonObject(weightMapJson)) {
    throw new FormatError(path, `"weight_map" must be an object of tensor name -> shard file (got ${weightMapJson === undefined ? "nothing" : describeJson(weightMapJson)})`);
  }
  const weightMap = new Map<string, string>();
  const shardFiles: string[] = [];
  for (const [name, file] of Object.entries(weightMapJson)) {
    if (typeof file !== "string") throw new FormatError(path, `weight_map["${name}"] must be a shard file name (got ${describeJson(file)})`);
    // A shard is a file next to the index; anything else ("../x", "/etc/x") is refused, not followed.
    if (!isBareFileName(file)) throw new FormatError(path, `weight_map["${name}"] = ${JSON.stringify(file)} is not a file name in the index's folder`);
    if (!shardFiles.includes(file)) shardFiles.push(file);
    weightMap.set(name, file);
  }
  if (weightMap.size === 0) throw new FormatError(path, `"weight_map" lists no tensors`);
  let totalSize: number | undefined;
  if (metadata !== undefined && metadata !== null) {
    if (!isJsonObject(metadata)) throw new FormatError(path, `"metadata" must be an object (got ${describeJson(metadata)})`);
    const size = metadata["total_size"];
    if (size !== undefined) {
      if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
        throw new FormatError(path, `"metadata.total_size" must be a non-negative integer (got ${describeJson(size)})`);
      }
      totalSize = size;
    }
  }
  return { totalSize, weightMap, shardFiles };
}

/**
 * The index file text exactly as transformers writes it: Python `json.dumps(index, indent=2,
 * sort_keys=True) + "\n"`, keys sorted by code point and non-ASCII escaped (`ensure_ascii`).
 */
export function serializeIndex(totalSize: number, weightMap: ReadonlyMap<string, string>): string {
  const names = [...weightMap.keys()].sort(compareCodePoints);
  const lines = names.map((name) => `    ${pythonJsonString(name)}: ${pythonJsonString(weightMap.get(name) ?? "")}`);
  const map = lines.length === 0 ? "{}" : `{\n${lines.join(",\n")}\n  }`;
  return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": ${map}\n}\n`;
}

/** The name of shard `index` (0-based) of `count`: `model-00001-of-00003.safetensors`. */
export function shardFileName(index: number, count: number): string {
  const pad = (n: number): string => String(n).padStart(5, "0");
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/**
 * Splits tensors into shards the way huggingface_hub does: in the order given, a new shard starts
 * when the next tensor would take the current one over `maxShardBytes`; a tensor larger than
 * `maxShardBytes` gets a shard of its own, placed when it is met (before the shard being filled).
 * @returns The shards (never empty ones) and the total byte size.
 */
export function planShards<T extends { readonly byteLength: number }>(tensors: readonly T[], maxShardBytes: number): { shards: T[][]; totalSize: number } {
  const shards: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  let totalSize = 0;
  for (const t of tensors) {
    totalSize += t.byteLength;
    if (t.byteLength > maxShardBytes) {
      shards.push([t]);
      continue;
    }
    if (currentBytes + t.byteLength > maxShardBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += t.byteLength;
  }
  if (current.length > 0) shards.push(current);
  return { shards, totalSize };
}

function isBareFileName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

/** A JSON string as Python's json.dumps writes it with ensure_ascii: only printable ASCII left as is. */
function pythonJsonString(text: string): string {
  return JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
