// Reading one safetensors file as a TensorSource. Opening reads and validates only the header
// (safetensors-format.ts); each tensor is then read on demand, by position, into an ArrayBuffer of
// exactly its own size. The file is never read whole and never mapped, so a model costs its
// weights once in memory, and files far past ArrayBuffer limits load one tensor at a time.
// The file handle stays open until close(); reads are positional, so any number may be in flight.
//
// Follows huggingface/safetensors `SafeTensors::read_metadata` for validation; where the reference
// memory-maps the file and hands out views, we copy each tensor into its own buffer instead
// (JavaScript cannot map files, and a fresh buffer is always aligned for its typed array).

import { type FileHandle, open } from "#platform";
import { ArgumentError, FormatError } from "../errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { readRange } from "./positional-io.js";
import { HEADER_LENGTH_BYTES, assertLittleEndianHost, parseHeader, parseHeaderLength } from "./safetensors-format.js";
import { MAX_TENSOR_ELEMENTS, type TensorEntry, type TensorSource, checkReadTarget, entryOf, readWholeTensor } from "./tensor-source.js";

export { MAX_TENSOR_ELEMENTS };

/**
 * What a source has read so far: lets a caller check that loading costs the weights once
 * (`bytesAllocated` equals the sum of the tensors' byteLength, nothing proportional to the file).
 */
export interface ReadStats {
  /** Tensors read with read() or readInto(). */
  readonly tensorsRead: number;
  /** Bytes allocated for tensor data by read() (readInto() allocates nothing). */
  readonly bytesAllocated: number;
  /** Tensor bytes read from the file. */
  readonly bytesRead: number;
  /** Bytes read to open the file: the 8-byte length and the JSON header. */
  readonly headerBytesRead: number;
}

/** One open safetensors file: its metadata and tensors, read on demand. */
export class SafetensorsFile implements TensorSource {
  /** The file. */
  readonly path: string;
  /** The header's `__metadata__` (e.g. `{"format": "pt"}`); empty when there is none. */
  readonly metadata: ReadonlyMap<string, string>;
  /** The tensors in file order. */
  readonly entries: ReadonlyMap<string, TensorEntry>;
  /** File offset of the data section: 8 + the header length. */
  readonly dataByteOffset: number;
  private readonly handle: FileHandle;
  private closed = false;
  private readonly counters: { tensorsRead: number; bytesAllocated: number; bytesRead: number; headerBytesRead: number };

  private constructor(path: string, handle: FileHandle, metadata: ReadonlyMap<string, string>, entries: ReadonlyMap<string, TensorEntry>, dataByteOffset: number) {
    this.path = path;
    this.handle = handle;
    this.metadata = metadata;
    this.entries = entries;
    this.dataByteOffset = dataByteOffset;
    this.counters = { tensorsRead: 0, bytesAllocated: 0, bytesRead: 0, headerBytesRead: dataByteOffset };
  }

  /** See {@link openSafetensors}. */
  static async open(path: string): Promise<SafetensorsFile> {
    assertLittleEndianHost();
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (cause) {
      throw new FormatError(path, `cannot open safetensors file: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new FormatError(path, "not a regular file");
      const fileSize = stat.size;
      const prefix = new Uint8Array(HEADER_LENGTH_BYTES);
      const prefixLength = Math.min(HEADER_LENGTH_BYTES, fileSize);
      await readRange(handle, path, "the header length", prefix.buffer, 0, prefixLength, 0);
      // Checked against MAX_HEADER_SIZE and the file size before the header buffer is allocated.
      const headerLength = parseHeaderLength(path, prefix.subarray(0, prefixLength), fileSize);
      const headerBytes = new Uint8Array(headerLength);
      await readRange(handle, path, "the header", headerBytes.buffer, 0, headerLength, HEADER_LENGTH_BYTES);
      const dataByteOffset = HEADER_LENGTH_BYTES + headerLength;
      const header = parseHeader(path, headerBytes, fileSize - dataByteOffset);
      const entries = new Map<string, TensorEntry>();
      for (const e of header.entries) {
        entries.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, path, byteOffset: dataByteOffset + e.begin, byteLength: e.end - e.begin });
      }
      return new SafetensorsFile(path, handle, header.metadata, entries, dataByteOffset);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** What this file has read so far (a snapshot). */
  get stats(): ReadStats {
    return { ...this.counters };
  }

  /**
   * The entry of tensor `name`.
   * @throws FormatError naming the tensor and the file when there is no such tensor.
   */
  entry(name: string): TensorEntry {
    return entryOf(this.entries, name, this.path);
  }

  /**
   * Reads tensor `name` into a new ArrayBuffer of exactly its byteLength, in its stored dtype
   * (f16/bf16 as raw bits).
   * @throws FormatError for a missing tensor or a file shorter than its header says;
   *   UnsupportedError for a tensor with more elements than one typed array may hold.
   */
  async read(name: string): Promise<Tensor> {
    const entry = this.entry(name);
    this.assertOpen();
    return readWholeTensor(entry, this.path, async (target) => {
      this.counters.bytesAllocated += entry.byteLength;
      await this.fill(entry, target.buffer, 0);
    });
  }


  /**
   * Reads tensor `name`'s raw little-endian bytes into `target`, whose length must be its byteLength.
   * @throws FormatError for a missing tensor; ArgumentError for a target of the wrong length.
   */
  async readInto(name: string, target: Uint8Array): Promise<void> {
    const entry = this.entry(name);
    this.assertOpen();
    checkReadTarget(entry, target, this.path);
    await this.fill(entry, target.buffer, target.byteOffset);
  }

  /** Closes the file. Reads still in flight finish first (FileHandle.close waits for them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private async fill(entry: TensorEntry, buffer: ArrayBufferLike, bufferOffset: number): Promise<void> {
    await readRange(this.handle, this.path, `tensor "${entry.name}"`, buffer, bufferOffset, entry.byteLength, entry.byteOffset);
    this.counters.tensorsRead += 1;
    this.counters.bytesRead += entry.byteLength;
  }

  private assertOpen(): void {
    if (this.closed) throw new ArgumentError(`${this.path}: read after close()`);
  }
}

/**
 * Opens a safetensors file: reads and validates its header, keeps the file open for reads.
 * @param path The `.safetensors` file.
 * @returns The open file; call close() when done.
 * @throws FormatError naming the file (and the byte, where it applies) for any malformed header
 *   or layout; UnsupportedError for a dtype llama3-ts cannot hold (F8...) or a big-endian host.
 * @example
 * ```ts
 * const file = await openSafetensors("model.safetensors");
 * try {
 *   console.log(file.metadata.get("format")); // "pt"
 *   const norm = await file.read("model.norm.weight"); // (dim)
 * } finally {
 *   await file.close();
 * }
 * ```
 */
export function openSafetensors(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(path);
}
