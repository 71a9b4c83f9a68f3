// Reading one GGUF file by position, as the safetensors reader does: opening reads only the header
// (in a window of the file's first bytes, doubled while the header runs past it, up to
// MAX_HEADER_BYTES), and each tensor is then read on demand, by position, into a buffer the caller
// gives (the backend's memory) or one of exactly its size. The file is never read whole and never
// mapped. The layout is ggml's (ggml/docs/gguf.md): a tensor's bytes are its ggml blocks, rows
// ne[0] wide. What a tensor type means for the model is the loader's business (loader/gguf.ts).

import { type FileHandle, open } from "#platform";
import { ArgumentError, FormatError } from "../../errors.js";
import { readRange } from "../positional-io.js";
import { INITIAL_HEADER_WINDOW_BYTES, MAX_HEADER_BYTES } from "./gguf-constants.js";
import { type GgufHeader, type GgufTensorInfo, type GgufValue, HeaderWindowTooSmall, parseGgufHeader } from "./gguf-header.js";

/** One open GGUF file: its metadata and tensor infos, tensors read on demand. */
export class GgufFile {
  readonly path: string;
  readonly version: number;
  /** Every metadata key/value, in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Every tensor, in file order. */
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  readonly alignment: number;
  readonly dataByteOffset: number;
  /** Bytes read to open the file (the header windows). */
  readonly headerBytesRead: number;
  private readonly handle: FileHandle;
  private closed = false;

  private constructor(path: string, handle: FileHandle, header: GgufHeader, headerBytesRead: number) {
    this.path = path;
    this.handle = handle;
    this.version = header.version;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.alignment = header.alignment;
    this.dataByteOffset = header.dataByteOffset;
    this.headerBytesRead = headerBytesRead;
  }

  /** See {@link openGguf}. */
  static async open(path: string): Promise<GgufFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (cause) {
      throw new FormatError(path, `cannot open GGUF file: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new FormatError(path, "not a regular file");
      const fileSize = stat.size;
      let windowBytes = Math.min(fileSize, INITIAL_HEADER_WINDOW_BYTES);
      let bytesRead = 0;
      for (;;) {
        const window = new Uint8Array(windowBytes);
        await readRange(handle, path, "the GGUF header", window.buffer, 0, windowBytes, 0);
        bytesRead += windowBytes;
        try {
          return new GgufFile(path, handle, parseGgufHeader(window, fileSize, path), bytesRead);
        } catch (error) {
          if (!(error instanceof HeaderWindowTooSmall)) throw error;
          if (error.needed > MAX_HEADER_BYTES) {
            throw new FormatError(path, `the header runs past ${MAX_HEADER_BYTES} bytes (MAX_HEADER_BYTES)`, { byteOffset: windowBytes });
          }
          windowBytes = Math.min(fileSize, MAX_HEADER_BYTES, Math.max(error.needed, windowBytes * 2));
        }
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * The info of tensor `name`.
   * @throws FormatError naming the tensor and the file when there is none
   */
  tensor(name: string): GgufTensorInfo {
    const info = this.tensors.get(name);
    if (info === undefined) throw new FormatError(this.path, `no tensor named "${name}" (${this.tensors.size} tensors here)`);
    return info;
  }

  /**
   * Reads tensor `name`'s bytes (ggml blocks or little-endian floats) into `target`.
   * @throws FormatError for a missing tensor or a file that shrank; ArgumentError for a target
   *   whose length is not the tensor's byteLength
   */
  async readInto(name: string, target: Uint8Array): Promise<void> {
    const info = this.tensor(name);
    if (this.closed) throw new ArgumentError(`${this.path}: read after close()`);
    if (target.byteLength !== info.byteLength) {
      throw new ArgumentError(`${this.path}: tensor "${name}" is ${info.byteLength} bytes but the target holds ${target.byteLength}`);
    }
    await readRange(this.handle, this.path, `tensor "${name}"`, target.buffer, target.byteOffset, info.byteLength, info.byteOffset);
  }

  /** Reads tensor `name`'s bytes into a new buffer of exactly its size (see readInto). */
  async readBytes(name: string): Promise<Uint8Array> {
    const target = new Uint8Array(this.tensor(name).byteLength);
    await this.readInto(name, target);
    return target;
  }

  /** Closes the file; reads still in flight finish first. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/**
 * Opens a GGUF file (v2 or v3, little-endian): reads and checks its header, keeps it open for reads.
 * @returns the open file; call close() when done
 * @throws FormatError naming the file and byte for a malformed, truncated or hostile header;
 *   UnsupportedError for a v1 or big-endian file or a tensor type id ggml does not define
 * @example
 * ```ts
 * const file = await openGguf("Llama-3.2-1B-Instruct-Q4_K_M.gguf");
 * try {
 *   console.log(file.metadata.get("general.architecture")?.value); // "llama"
 *   const bytes = await file.readBytes("blk.0.attn_q.weight"); // Q4_K blocks
 * } finally {
 *   await file.close();
 * }
 * ```
 */
export function openGguf(path: string): Promise<GgufFile> {
  return GgufFile.open(path);
}
