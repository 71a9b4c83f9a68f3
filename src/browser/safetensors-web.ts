// Safetensors checkpoints in a web page (a single model.safetensors, or shards with
// model.safetensors.index.json) as a TensorSource over ByteSources: the header read by two small
// reads, each tensor read straight into its target (the backend's memory) piece by piece. The
// header and index parsers are io/'s, so every check of the Node reader applies.

import { FormatError } from "../errors.js";
import { HEADER_LENGTH_BYTES, assertLittleEndianHost, parseHeader, parseHeaderLength } from "../io/safetensors-format.js";
import { INDEX_FILE_NAME, MAX_INDEX_BYTES, SINGLE_FILE_NAME, parseIndex } from "../io/safetensors-index.js";
import { type TensorEntry, type TensorSource, checkReadTarget, entryOf, readWholeTensor } from "../io/tensor-source.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ByteSource } from "./byte-source.js";
import type { ModelFolder } from "./model-folder.js";

/** The entries of one safetensors file (their `path` is the file's name). */
async function readEntries(file: ByteSource): Promise<Map<string, TensorEntry>> {
  const prefix = new Uint8Array(Math.min(HEADER_LENGTH_BYTES, file.size));
  await file.readInto(prefix, 0);
  const headerLength = parseHeaderLength(file.name, prefix, file.size);
  const headerBytes = new Uint8Array(headerLength);
  await file.readInto(headerBytes, HEADER_LENGTH_BYTES);
  const dataByteOffset = HEADER_LENGTH_BYTES + headerLength;
  const header = parseHeader(file.name, headerBytes, file.size - dataByteOffset);
  const entries = new Map<string, TensorEntry>();
  for (const e of header.entries) {
    entries.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, path: file.name, byteOffset: dataByteOffset + e.begin, byteLength: e.end - e.begin });
  }
  return entries;
}

/**
 * Open the safetensors checkpoint of `folder`: the index and its shards when there is an index,
 * else model.safetensors.
 * @throws FormatError for a folder with neither, a shard the index names that is missing, a tensor
 *   the index places in a shard without it, or any malformed header
 */
export async function openWebSafetensors(folder: ModelFolder): Promise<TensorSource> {
  assertLittleEndianHost();
  const files = new Map<string, ByteSource>();
  const entries = new Map<string, TensorEntry>();
  const index = await folder.open(INDEX_FILE_NAME);
  if (index !== undefined) {
    if (index.size > MAX_INDEX_BYTES) throw new FormatError(index.name, `index is ${index.size} bytes, over the limit of ${MAX_INDEX_BYTES} bytes (MAX_INDEX_BYTES)`);
    const parsed = parseIndex(index.name, await index.text());
    for (const shard of parsed.shardFiles) {
      const file = await folder.open(shard);
      if (file === undefined) throw new FormatError(index.name, `shard ${shard} is listed in weight_map but is missing from ${folder.name}`);
      files.set(file.name, file);
      const shardEntries = await readEntries(file);
      for (const [name, where] of parsed.weightMap) {
        if (where !== shard) continue;
        const entry = shardEntries.get(name);
        if (entry === undefined) throw new FormatError(index.name, `weight_map puts tensor "${name}" in ${shard}, but that shard has no such tensor`);
        entries.set(name, entry);
      }
    }
  } else {
    const file = await folder.open(SINGLE_FILE_NAME);
    if (file === undefined) throw new FormatError(folder.name, `neither ${SINGLE_FILE_NAME} nor ${INDEX_FILE_NAME} found`);
    files.set(file.name, file);
    for (const [name, entry] of await readEntries(file)) entries.set(name, entry);
  }
  const fileOf = (entry: TensorEntry): ByteSource => files.get(entry.path)!;
  return {
    entries,
    read(name: string): Promise<Tensor> {
      const entry = entryOf(entries, name, folder.name);
      return readWholeTensor(entry, folder.name, (target) => fileOf(entry).readInto(target, entry.byteOffset));
    },
    async readInto(name: string, target: Uint8Array): Promise<void> {
      const entry = entryOf(entries, name, folder.name);
      checkReadTarget(entry, target, folder.name);
      await fileOf(entry).readInto(target, entry.byteOffset);
    },
    close: () => Promise.resolve(),
  };
}
