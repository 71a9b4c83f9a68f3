// Opening a Hugging Face safetensors checkpoint as one TensorSource: a folder with a sharded
// checkpoint (`model.safetensors.index.json` and the shards it names) or a single file, or the path
// of such a file. The index is checked against the shards: every shard it names must exist, and
// every tensor must be in the shard the weight_map says. Tensors found in a shard but absent from
// the weight_map are kept and reported in `notes` (transformers loads whole shard files too).
//
// Folder resolution: `model.safetensors.index.json`, else `model.safetensors`, else the only
// `*.safetensors` file, else the only `*.safetensors.index.json`; none or several is an error.
// Departure: transformers tries `model.safetensors` before the index; we prefer the index (a
// folder holding both is noted), because a stray single file beside shards is the likelier leftover.

import { basename, dirname, join, readdir, readFile, stat } from "#platform";
import { FormatError } from "../errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { INDEX_FILE_NAME, MAX_INDEX_BYTES, SINGLE_FILE_NAME, parseIndex, type SafetensorsIndex } from "./safetensors-index.js";
import { SafetensorsFile, type ReadStats } from "./safetensors-reader.js";
import { type TensorEntry, type TensorSource, entryOf } from "./tensor-source.js";

/** An open checkpoint: one or several safetensors files read as one set of tensors. */
export class SafetensorsCheckpoint implements TensorSource {
  /** The index file of a sharded checkpoint, else the single safetensors file. */
  readonly path: string;
  /** The parsed index, for a sharded checkpoint. */
  readonly index: SafetensorsIndex | undefined;
  /** The open files: the shards in index order, or the single file. */
  readonly files: readonly SafetensorsFile[];
  /** Every tensor: weight_map order, then tensors the weight_map does not list. */
  readonly entries: ReadonlyMap<string, TensorEntry>;
  /** Things worth telling a user that do not stop loading (unlisted tensors, total_size mismatch...). */
  readonly notes: readonly string[];
  private readonly fileByPath: ReadonlyMap<string, SafetensorsFile>;

  constructor(path: string, index: SafetensorsIndex | undefined, files: readonly SafetensorsFile[], entries: ReadonlyMap<string, TensorEntry>, notes: readonly string[]) {
    this.path = path;
    this.index = index;
    this.files = files;
    this.entries = entries;
    this.notes = notes;
    this.fileByPath = new Map(files.map((f) => [f.path, f]));
  }

  /** The `__metadata__` of the first file (HF writes the same `{"format": "pt"}` in every shard). */
  get metadata(): ReadonlyMap<string, string> {
    return this.files[0]?.metadata ?? new Map();
  }

  /** What the files have read so far, summed. */
  get stats(): ReadStats {
    const sum = { tensorsRead: 0, bytesAllocated: 0, bytesRead: 0, headerBytesRead: 0 };
    for (const f of this.files) {
      const s = f.stats;
      sum.tensorsRead += s.tensorsRead;
      sum.bytesAllocated += s.bytesAllocated;
      sum.bytesRead += s.bytesRead;
      sum.headerBytesRead += s.headerBytesRead;
    }
    return sum;
  }

  /**
   * Reads tensor `name` from its file into a buffer of exactly its size, in its stored dtype.
   * @throws FormatError naming the tensor and the checkpoint when there is no such tensor.
   */
  async read(name: string): Promise<Tensor> {
    return this.fileOf(name).read(name);
  }

  /** Reads tensor `name`'s raw bytes into `target` (length must equal its byteLength). */
  async readInto(name: string, target: Uint8Array): Promise<void> {
    return this.fileOf(name).readInto(name, target);
  }

  /** Closes every file. */
  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }

  private fileOf(name: string): SafetensorsFile {
    const file = this.fileByPath.get(entryOf(this.entries, name, this.path).path);
    if (file === undefined) throw new FormatError(this.path, `tensor "${name}" is in a file the checkpoint did not open`);
    return file;
  }
}

/**
 * Opens a safetensors checkpoint: a folder (see the resolution order above), an index file, or a
 * single `.safetensors` file. Every file stays open until close().
 * @param path A model folder, a `*.safetensors.index.json` or a `*.safetensors` file.
 * @returns The checkpoint as one TensorSource.
 * @throws FormatError when the folder holds no checkpoint or an ambiguous one, when the index is
 *   malformed, names a missing shard or a tensor its shard lacks, or when a file is malformed.
 * @example
 * ```ts
 * const ckpt = await openSafetensorsCheckpoint("models/Llama-3.1-8B-Instruct");
 * for (const note of ckpt.notes) console.warn(note);
 * const q = await ckpt.read("model.layers.0.self_attn.q_proj.weight"); // (nHeads * headDim, dim)
 * await ckpt.close();
 * ```
 */
export async function openSafetensorsCheckpoint(path: string): Promise<SafetensorsCheckpoint> {
  const kind = await statKind(path);
  if (kind === "file") return path.endsWith(".json") ? openIndexed(path, []) : openSingle(path, []);
  const names = await readdir(path);
  const visible = names.filter((n) => !n.startsWith(".")).sort();
  if (visible.includes(INDEX_FILE_NAME)) {
    const notes = visible.includes(SINGLE_FILE_NAME)
      ? [`${path}: both ${INDEX_FILE_NAME} and ${SINGLE_FILE_NAME} are present; using the index and ignoring ${SINGLE_FILE_NAME}`]
      : [];
    return openIndexed(join(path, INDEX_FILE_NAME), notes);
  }
  if (visible.includes(SINGLE_FILE_NAME)) return openSingle(join(path, SINGLE_FILE_NAME), []);
  const files = visible.filter((n) => n.endsWith(".safetensors"));
  const only = files.length === 1 ? files[0] : undefined;
  if (only !== undefined) return openSingle(join(path, only), []);
  const indexes = visible.filter((n) => n.endsWith(".safetensors.index.json"));
  const onlyIndex = indexes.length === 1 ? indexes[0] : undefined;
  if (files.length === 0 && onlyIndex !== undefined) return openIndexed(join(path, onlyIndex), []);
  if (files.length === 0) {
    throw new FormatError(path, `no safetensors checkpoint here: no ${INDEX_FILE_NAME}, no ${SINGLE_FILE_NAME} and no other *.safetensors file`);
  }
  throw new FormatError(path, `ambiguous checkpoint: ${files.length} .safetensors files (${files.join(", ")}) and no ${INDEX_FILE_NAME} to say how they fit together; pass the file to open`);
}

async function statKind(path: string): Promise<"file" | "dir"> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) return "dir";
    if (s.isFile()) return "file";
  } catch (cause) {
    throw new FormatError(path, `cannot open checkpoint: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  throw new FormatError(path, "not a file or a folder");
}

async function openSingle(filePath: string, notes: string[]): Promise<SafetensorsCheckpoint> {
  const file = await SafetensorsFile.open(filePath);
  return new SafetensorsCheckpoint(filePath, undefined, [file], file.entries, notes);
}

async function openIndexed(indexPath: string, notes: string[]): Promise<SafetensorsCheckpoint> {
  const index = await readIndex(indexPath);
  const folder = dirname(indexPath);
  await assertShardsExist(indexPath, index, folder);
  const settled = await Promise.allSettled(index.shardFiles.map((f) => SafetensorsFile.open(join(folder, f))));
  const files = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  try {
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    const entries = matchIndexToShards(indexPath, index, files, notes);
    return new SafetensorsCheckpoint(indexPath, index, files, entries, notes);
  } catch (error) {
    await Promise.all(files.map((f) => f.close()));
    throw error;
  }
}

async function readIndex(indexPath: string): Promise<SafetensorsIndex> {
  const { size } = await stat(indexPath);
  if (size > MAX_INDEX_BYTES) throw new FormatError(indexPath, `index is ${size} bytes, over the limit of ${MAX_INDEX_BYTES} bytes (MAX_INDEX_BYTES)`);
  const bytes = await readFile(indexPath);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new FormatError(indexPath, "index is not valid UTF-8", { cause });
  }
  return parseIndex(indexPath, text);
}

async function assertShardsExist(indexPath: string, index: SafetensorsIndex, folder: string): Promise<void> {
  for (const file of index.shardFiles) {
    const shardPath = join(folder, file);
    const exists = await stat(shardPath).then((s) => s.isFile(), () => false);
    if (!exists) {
      const listed = [...index.weightMap].filter(([, f]) => f === file).map(([name]) => name);
      throw new FormatError(indexPath, `shard ${file} is listed in weight_map (${listed.length} tensors, e.g. "${listed[0] ?? ""}") but is missing: ${shardPath}`);
    }
  }
}

/**
 * The entries of an indexed checkpoint: each weight_map tensor from the shard named for it, then
 * tensors present in shards but absent from the weight_map (noted in `notes`).
 */
function matchIndexToShards(indexPath: string, index: SafetensorsIndex, files: readonly SafetensorsFile[], notes: string[]): Map<string, TensorEntry> {
  const byName = new Map(files.map((f) => [basename(f.path), f]));
  const entries = new Map<string, TensorEntry>();
  let listedBytes = 0;
  for (const [name, shard] of index.weightMap) {
    const entry = byName.get(shard)?.entries.get(name);
    if (entry === undefined) throw new FormatError(indexPath, `weight_map puts tensor "${name}" in ${shard}, but that shard has no such tensor`);
    entries.set(name, entry);
    listedBytes += entry.byteLength;
  }
  const unlisted = new Map<string, string>(); // tensor name -> shard, for tensors the map omits
  for (const file of files) {
    const shard = basename(file.path);
    for (const [name, entry] of file.entries) {
      const listedIn = index.weightMap.get(name);
      if (listedIn === shard) continue;
      if (listedIn !== undefined) {
        notes.push(`${file.path}: tensor "${name}" is also in this shard; weight_map puts it in ${listedIn}, which is used`);
        continue;
      }
      const seenIn = unlisted.get(name);
      if (seenIn !== undefined) {
        throw new FormatError(indexPath, `tensor "${name}" is in both ${seenIn} and ${shard} and weight_map lists neither`);
      }
      unlisted.set(name, shard);
      entries.set(name, entry);
    }
  }
  if (unlisted.size > 0) {
    const names = [...unlisted.keys()];
    notes.push(`${indexPath}: ${names.length} tensors are in the shards but not in weight_map (kept): ${names.slice(0, 5).join(", ")}${names.length > 5 ? ", ..." : ""}`);
  }
  if (index.totalSize !== undefined && index.totalSize !== listedBytes) {
    notes.push(`${indexPath}: metadata.total_size is ${index.totalSize} but the listed tensors hold ${listedBytes} bytes`);
  }
  return entries;
}
