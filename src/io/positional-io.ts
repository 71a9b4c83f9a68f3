// Positional reads and writes of byte ranges between a file and an ArrayBuffer, in chunks. Reads
// and writes name their file position explicitly (pread/pwrite through FileHandle.read/write), so
// there is no shared cursor and any number of them may run at once on one handle. Ranges may be
// larger than one typed array may be long (2^32 elements on Node 20) and than one read may move
// (about 2 GiB): each chunk gets its own small view. No intermediate buffer is ever allocated, so
// reading a tensor costs exactly its own bytes. Used by the safetensors reader and writer.

import type { FileHandle } from "#platform";
import { FormatError, LlamaError } from "../errors.js";

/**
 * Most bytes moved by one read or write call: 1 GiB. Node refuses single reads over 2^31 - 1 bytes
 * (`kIoMaxLength` in lib/internal/fs/utils.js) and Linux moves at most 0x7ffff000 bytes per
 * read(2), so a power of two well under both.
 */
export const MAX_IO_CHUNK_BYTES = 2 ** 30;

/**
 * Fills `byteLength` bytes of `buffer` from `bufferOffset` with the file's bytes from `position`.
 * @param path The file, for error messages.
 * @param what What is being read, for error messages (e.g. `tensor "lm_head.weight"`).
 * @param maxChunkBytes Most bytes per read call (a parameter so tests can exercise the loop).
 * @throws FormatError when the file ends before the range does.
 */
export async function readRange(
  handle: FileHandle, path: string, what: string,
  buffer: ArrayBufferLike, bufferOffset: number, byteLength: number, position: number,
  maxChunkBytes = MAX_IO_CHUNK_BYTES,
): Promise<void> {
  let done = 0;
  while (done < byteLength) {
    const chunk = new Uint8Array(buffer, bufferOffset + done, Math.min(byteLength - done, maxChunkBytes));
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position + done);
    if (bytesRead === 0) {
      // The header said the file was long enough when it was opened: it shrank since, or the
      // file system returned less than fstat promised.
      throw new FormatError(path, `unexpected end of file reading ${what}: ${byteLength - done} of ${byteLength} bytes missing`, { byteOffset: position + done });
    }
    done += bytesRead;
  }
}

/**
 * Writes `byteLength` bytes of `buffer` from `bufferOffset` to the file at `position`.
 * @param path The file, for error messages.
 * @param maxChunkBytes Most bytes per write call (a parameter so tests can exercise the loop).
 */
export async function writeRange(
  handle: FileHandle, path: string, buffer: ArrayBufferLike, bufferOffset: number, byteLength: number, position: number,
  maxChunkBytes = MAX_IO_CHUNK_BYTES,
): Promise<void> {
  let done = 0;
  while (done < byteLength) {
    const chunk = new Uint8Array(buffer, bufferOffset + done, Math.min(byteLength - done, maxChunkBytes));
    // write() may move fewer bytes than asked (e.g. a full disk partway): loop on what it reports.
    const { bytesWritten } = await handle.write(chunk, 0, chunk.length, position + done);
    if (bytesWritten === 0) throw new LlamaError(`${path}: write made no progress at byte ${position + done}`);
    done += bytesWritten;
  }
}
