// Writing a Hugging Face checkpoint folder: `model.safetensors` when everything fits in one shard,
// else `model-0000i-of-0000N.safetensors` shards plus `model.safetensors.index.json`, as
// transformers `save_pretrained` lays them out (split rule and index format in
// safetensors-index.ts). Tensors are written one at a time, lazily, like writeSafetensors; every
// file is written under a temporary name and renamed, and the index is written last, so a failed
// write never leaves an index that names missing shards.

import { join, mkdir, readdir, rm } from "#platform";
import { ArgumentError } from "../errors.js";
import { writeRange } from "./positional-io.js";
import {
  DEFAULT_MAX_SHARD_BYTES, INDEX_FILE_NAME, SHARD_FILE_PATTERN, SINGLE_FILE_NAME, planShards, serializeIndex, shardFileName,
} from "./safetensors-index.js";
import { assertLittleEndianHost } from "./safetensors-format.js";
import {
  metadataMap, planTensors, writeAtomically, writePlannedSafetensors, type SafetensorsMetadata, type TensorsToWrite,
} from "./safetensors-writer.js";

/** Options of {@link writeShardedSafetensors}. */
export interface WriteShardedOptions {
  /** Most tensor bytes per shard (default DEFAULT_MAX_SHARD_BYTES, 5 GB); a larger tensor gets a shard of its own. */
  readonly maxShardBytes?: number;
  /** `__metadata__` of every file (save_pretrained writes `{ format: "pt" }`). */
  readonly metadata?: SafetensorsMetadata;
}

/** What {@link writeShardedSafetensors} wrote. */
export interface ShardedWriteResult {
  /** The safetensors files, in shard order. */
  readonly files: readonly string[];
  /** The index file, when the checkpoint was sharded. */
  readonly indexPath: string | undefined;
  /** Sum of the tensors' byte lengths (the index's `metadata.total_size`). */
  readonly totalSize: number;
}

/**
 * Writes `tensors` into folder `dir` (created if needed) as a Hugging Face checkpoint, sharding
 * when they exceed `maxShardBytes`. Tensors are split in the order given; inside each file they are
 * laid out in the reference order (see writeSafetensors). After a successful write, files of a
 * previous checkpoint with the same naming (`model.safetensors`, `model-*-of-*.safetensors`,
 * the index) that the new one does not use are removed, as save_pretrained removes stale shards,
 * so the folder never holds two checkpoints.
 * @throws ArgumentError for an invalid maxShardBytes and the errors of writeSafetensors.
 * @example
 * ```ts
 * const source = await openSafetensorsCheckpoint("in");
 * await writeShardedSafetensors("out", lazyTensors(source), { maxShardBytes: 2e9, metadata: { format: "pt" } });
 * await source.close();
 * ```
 */
export async function writeShardedSafetensors(dir: string, tensors: TensorsToWrite, options: WriteShardedOptions = {}): Promise<ShardedWriteResult> {
  assertLittleEndianHost();
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) {
    throw new ArgumentError(`maxShardBytes must be a positive integer (got ${maxShardBytes})`);
  }
  const planned = planTensors(tensors);
  const metadata = metadataMap(options.metadata);
  const { shards, totalSize } = planShards(planned, maxShardBytes);
  await mkdir(dir, { recursive: true });

  if (shards.length <= 1) {
    const file = join(dir, SINGLE_FILE_NAME);
    await writePlannedSafetensors(file, planned, metadata);
    await removeStale(dir, new Set([SINGLE_FILE_NAME]));
    return { files: [file], indexPath: undefined, totalSize };
  }

  const names: string[] = [];
  const weightMap = new Map<string, string>();
  const files: string[] = [];
  for (const [i, shard] of shards.entries()) {
    const name = shardFileName(i, shards.length);
    names.push(name);
    const file = join(dir, name);
    await writePlannedSafetensors(file, shard, metadata);
    for (const t of shard) weightMap.set(t.name, name);
    files.push(file);
  }
  const indexPath = join(dir, INDEX_FILE_NAME);
  const indexBytes = new TextEncoder().encode(serializeIndex(totalSize, weightMap));
  await writeAtomically(indexPath, (handle) => writeRange(handle, indexPath, indexBytes.buffer, indexBytes.byteOffset, indexBytes.length, 0));
  await removeStale(dir, new Set([...names, INDEX_FILE_NAME]));
  return { files, indexPath, totalSize };
}

/** Removes checkpoint files named like ours (single file, shards, index) that are not in `keep`. */
async function removeStale(dir: string, keep: ReadonlySet<string>): Promise<void> {
  const isCheckpointFile = (n: string): boolean => n === SINGLE_FILE_NAME || n === INDEX_FILE_NAME || SHARD_FILE_PATTERN.test(n);
  const stale = (await readdir(dir)).filter((n) => isCheckpointFile(n) && !keep.has(n));
  await Promise.all(stale.map((n) => rm(join(dir, n), { force: true })));
}
