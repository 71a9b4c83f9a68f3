// Writing one safetensors file, streaming: the header is built from the declared dtypes and shapes
// alone, then each tensor's bytes are obtained (possibly lazily, from a function) and written in
// turn, so a conversion holds one tensor in memory at a time, never the whole model. The file is
// written under a temporary name in the same folder and renamed on success, so a failed write
// never leaves a partial file under the final name.
//
// Follows huggingface/safetensors `serialize_to_file` / `prepare` (safetensors/src/tensor.rs,
// commit 000a16f45cff): tensors sorted by descending dtype alignment then name, `__metadata__`
// first, header padded with spaces to 8 bytes. For the same tensors and at most one metadata key,
// our output is byte-identical to `safetensors.torch.save_file`.

import { type FileHandle, basename, dirname, join, open, rename, rm } from "#platform";
import { ArgumentError, ShapeError } from "../errors.js";
import type { DType } from "../tensor/dtype.js";
import { sameShape, type Tensor } from "../tensor/tensor.js";
import { writeRange } from "./positional-io.js";
import {
  HEADER_LENGTH_BYTES, METADATA_KEY, WIRE_NAME_OF_DTYPE, assertLittleEndianHost, encodeHeaderLength,
  referenceOrder, serializeHeader, shapeByteLength,
} from "./safetensors-format.js";
import type { TensorSource } from "./tensor-source.js";

/** A tensor's contents: a Tensor of the declared dtype and shape, or its raw little-endian bytes. */
export type TensorData = Tensor | Uint8Array;

/** One tensor to write. `dtype` and `shape` are needed up front because the header comes first. */
export interface TensorToWrite {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** The contents, or a function the writer calls when it reaches this tensor (and not before). */
  readonly data: TensorData | (() => Promise<TensorData>);
}

/** The tensors of a write: a list (lazy or not), or a map of ready tensors. */
export type TensorsToWrite = readonly TensorToWrite[] | ReadonlyMap<string, Tensor>;

/** The `__metadata__` string map, as a Map or a plain record. */
export type SafetensorsMetadata = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** Options of {@link writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** Written as the header's `__metadata__`, in the order given (e.g. `{ format: "pt" }`). */
  readonly metadata?: SafetensorsMetadata;
}

/** A validated tensor to write, with its byte size. */
export interface PlannedTensor extends TensorToWrite {
  readonly byteLength: number;
}

/**
 * Writes `tensors` to a safetensors file at `path`, replacing it atomically.
 * Tensors are laid out in the reference order (descending dtype alignment, then name), whatever the
 * order given; lazy `data` functions are called one at a time in that order.
 * @param path The file to write.
 * @param tensors The tensors: `{ name, dtype, shape, data }` where data may be a function, or a Map of tensors.
 * @param options `metadata` for `__metadata__`.
 * @throws ArgumentError for duplicate or reserved names, bad shapes or data of the wrong size;
 *   ShapeError for a Tensor whose shape differs from the declared one.
 * @example
 * ```ts
 * await writeSafetensors("out.safetensors", [
 *   { name: "w", dtype: "f32", shape: [2, 2], data: async () => makeTensor("f32", [2, 2], new Float32Array(4)) },
 * ], { metadata: { format: "pt" } });
 * ```
 */
export async function writeSafetensors(path: string, tensors: TensorsToWrite, options: WriteSafetensorsOptions = {}): Promise<void> {
  assertLittleEndianHost();
  const planned = planTensors(tensors);
  await writePlannedSafetensors(path, planned, metadataMap(options.metadata));
}

/**
 * Lazy TensorToWrite records for the tensors of `source` (all, or `names`), read only when the
 * writer reaches them: copying or resharding a checkpoint holds one tensor at a time.
 * @throws ArgumentError for a name the source does not have.
 * @example
 * ```ts
 * const source = await openSafetensors("in.safetensors");
 * await writeSafetensors("out.safetensors", lazyTensors(source), { metadata: source.metadata });
 * await source.close();
 * ```
 */
export function lazyTensors(source: TensorSource, names: Iterable<string> = source.entries.keys()): TensorToWrite[] {
  const out: TensorToWrite[] = [];
  for (const name of names) {
    const entry = source.entries.get(name);
    if (entry === undefined) throw new ArgumentError(`lazyTensors: the source has no tensor named "${name}"`);
    out.push({ name, dtype: entry.dtype, shape: entry.shape, data: () => source.read(name) });
  }
  return out;
}

/** Validates the tensors of a write and computes their sizes; keeps the order given. */
export function planTensors(tensors: TensorsToWrite): PlannedTensor[] {
  const list: readonly TensorToWrite[] = isTensorMap(tensors)
    ? [...tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t }))
    : tensors;
  const seen = new Set<string>();
  return list.map((t) => {
    if (t.name === METADATA_KEY) throw new ArgumentError(`"${METADATA_KEY}" is reserved for the metadata and cannot name a tensor`);
    if (seen.has(t.name)) throw new ArgumentError(`tensor "${t.name}" is given twice`);
    seen.add(t.name);
    if (!Object.hasOwn(WIRE_NAME_OF_DTYPE, t.dtype)) throw new ArgumentError(`tensor "${t.name}": unknown dtype "${String(t.dtype)}"`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ArgumentError(`tensor "${t.name}": shape [${t.shape.join(", ")}] must be non-negative integers`);
    }
    const byteLength = shapeByteLength(t.shape, t.dtype);
    if (byteLength === undefined) throw new ArgumentError(`tensor "${t.name}": shape [${t.shape.join(", ")}] is too large`);
    return { ...t, byteLength };
  });
}

/** Writes already planned tensors (see planTensors) to `path` atomically. */
export async function writePlannedSafetensors(path: string, planned: readonly PlannedTensor[], metadata: ReadonlyMap<string, string>): Promise<void> {
  const ordered = referenceOrder(planned);
  const header = serializeHeader(ordered, metadata);
  await writeAtomically(path, async (handle, tempPath) => {
    await writeRange(handle, tempPath, encodeHeaderLength(header.length).buffer, 0, HEADER_LENGTH_BYTES, 0);
    await writeRange(handle, tempPath, header.buffer, 0, header.length, HEADER_LENGTH_BYTES);
    let position = HEADER_LENGTH_BYTES + header.length;
    for (const t of ordered) {
      // One tensor at a time: a lazy tensor's memory can be released before the next is produced.
      const { buffer, byteOffset } = await bytesOf(t);
      await writeRange(handle, tempPath, buffer, byteOffset, t.byteLength, position);
      position += t.byteLength;
    }
  });
}

/** The metadata option as a Map, checking that every value is a string. */
export function metadataMap(metadata: SafetensorsMetadata | undefined): ReadonlyMap<string, string> {
  if (metadata === undefined) return new Map();
  const pairs = isStringMap(metadata) ? [...metadata] : Object.entries(metadata);
  for (const [key, value] of pairs) {
    if (typeof value !== "string") throw new ArgumentError(`metadata "${key}" must be a string (safetensors __metadata__ is a string -> string map)`);
  }
  return new Map(pairs);
}

let tempCounter = 0;

/**
 * Runs `write` on a new temporary file next to `path`, then syncs, closes and renames it to
 * `path`. On failure the temporary file is removed and `path` is left as it was.
 */
export async function writeAtomically(path: string, write: (handle: FileHandle, tempPath: string) => Promise<void>): Promise<void> {
  // Hidden, with a .tmp suffix: never mistaken for a checkpoint file by a folder scan.
  tempCounter += 1;
  const tempPath = join(dirname(path), `.${basename(path)}.${process.pid}.${tempCounter}.tmp`);
  const handle = await open(tempPath, "wx");
  try {
    await write(handle, tempPath);
    await handle.sync();
  } catch (error) {
    // The write's error is the one to report; a failure to close the doomed file is not.
    await handle.close().catch(() => undefined);
    await rm(tempPath, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tempPath, path);
  } catch (error) {
    await rm(tempPath, { force: true });
    throw error;
  }
}

async function bytesOf(t: PlannedTensor): Promise<{ buffer: ArrayBufferLike; byteOffset: number }> {
  const data = typeof t.data === "function" ? await t.data() : t.data;
  if (data instanceof Uint8Array) {
    if (data.byteLength !== t.byteLength) {
      throw new ArgumentError(`tensor "${t.name}": data has ${data.byteLength} bytes but shape [${t.shape.join(", ")}] x ${t.dtype} needs ${t.byteLength}`);
    }
    return { buffer: data.buffer, byteOffset: data.byteOffset };
  }
  if (typeof data !== "object" || data === null || !("dtype" in data) || !("data" in data)) {
    throw new ArgumentError(`tensor "${t.name}": data must be a Tensor or a Uint8Array`);
  }
  if (data.dtype !== t.dtype) throw new ArgumentError(`tensor "${t.name}": declared ${t.dtype} but the data is a ${data.dtype} tensor`);
  if (!sameShape(data.shape, t.shape)) throw new ShapeError(t.name, t.shape, data.shape, "writeSafetensors");
  if (data.data.byteLength !== t.byteLength) {
    throw new ArgumentError(`tensor "${t.name}": its array holds ${data.data.byteLength} bytes but shape [${t.shape.join(", ")}] x ${t.dtype} needs ${t.byteLength}`);
  }
  return { buffer: data.data.buffer, byteOffset: data.data.byteOffset };
}

function isTensorMap(tensors: TensorsToWrite): tensors is ReadonlyMap<string, Tensor> {
  return tensors instanceof Map;
}

function isStringMap(metadata: SafetensorsMetadata): metadata is ReadonlyMap<string, string> {
  return metadata instanceof Map;
}
