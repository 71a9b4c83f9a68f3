// The files of a model in a web page: a URL on an HTTP server, read by Range requests (RFC 9110
// §14), or a File/Blob (a file picker, drag and drop, OPFS), read by slices. Reads go straight into
// the caller's buffer (a tensor's place in the backend's memory) piece by piece, so no file is ever
// held whole: files over 2 GB load like any other. Nothing here imports node:*.

import { FormatError, LlamaError } from "../errors.js";

/** Most bytes asked for in one Range request or Blob slice (a body is streamed into place as it arrives). */
export const MAX_PIECE_BYTES = 64 * 1024 * 1024;

/** One file of a model, read by position. */
export interface ByteSource {
  /** Where it is (the URL or the file name), for messages. */
  readonly name: string;
  /** Its length in bytes. */
  readonly size: number;
  /**
   * Fill `target` with the bytes from `position` (target.byteLength of them).
   * @throws FormatError when the file ends first; LlamaError when the server fails the request
   */
  readInto(target: Uint8Array, position: number): Promise<void>;
  /** The whole file as UTF-8 text (small files: configs, tokenizer files). */
  text(): Promise<string>;
}

/**
 * A File or Blob: the browser reads slices lazily from disk.
 * @param maxPieceBytes most bytes per slice (a parameter so tests can exercise the loop)
 */
export function blobSource(blob: Blob, name: string, maxPieceBytes = MAX_PIECE_BYTES): ByteSource {
  return {
    name,
    size: blob.size,
    async readInto(target, position) {
      if (position + target.byteLength > blob.size) throw new FormatError(name, `unexpected end of file: ${position + target.byteLength - blob.size} bytes past its end`, { byteOffset: blob.size });
      for (let done = 0; done < target.byteLength;) {
        const length = Math.min(maxPieceBytes, target.byteLength - done);
        const piece = new Uint8Array(await blob.slice(position + done, position + done + length).arrayBuffer());
        target.set(piece, done);
        done += length;
      }
    },
    text: () => blob.text(),
  };
}

/** `fetch` as this file needs it (injectable for tests). */
export type Fetch = (url: string, init?: { headers?: Record<string, string>; signal?: AbortSignal }) => Promise<Response>;

function httpError(url: string, response: Response, what: string): LlamaError {
  return new LlamaError(`${url}: ${what} failed with HTTP ${response.status}${response.statusText === "" ? "" : ` ${response.statusText}`}`);
}

/**
 * Open the file at `url`: one Range request for its first byte learns its size (Content-Range),
 * so the server must answer ranges (206); every static server in common use does.
 * @param maxPieceBytes most bytes per Range request (a parameter so tests can exercise the loop)
 * @returns undefined when the server answers 404 (the file is not there)
 * @throws LlamaError for another failure, or a server that ignores Range
 */
export async function urlSource(url: string, fetchFn: Fetch = fetch, maxPieceBytes = MAX_PIECE_BYTES): Promise<ByteSource | undefined> {
  let probe: Response;
  try {
    probe = await fetchFn(url, { headers: { range: "bytes=0-0" } });
  } catch (error) {
    throw new LlamaError(`${url}: cannot fetch: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (probe.status === 404) return undefined;
  if (probe.status !== 206 && probe.status !== 200) throw httpError(url, probe, "GET");
  let size: number;
  if (probe.status === 206) {
    const range = /\/(\d+)\s*$/.exec(probe.headers.get("content-range") ?? "");
    if (range === null) throw new LlamaError(`${url}: the server answered a Range request without a Content-Range length`);
    size = Number(range[1]);
    await probe.body?.cancel();
  } else {
    // No range support: fine for a small file read whole (text), not for weights.
    const text = await probe.text();
    return {
      name: url,
      size: new TextEncoder().encode(text).byteLength,
      readInto: () => Promise.reject(new LlamaError(`${url}: the server ignores HTTP Range requests (answered 200, not 206); weights are read piece by piece and need them`)),
      text: () => Promise.resolve(text),
    };
  }
  return {
    name: url,
    size,
    readInto: (target, position) => readRanges(url, fetchFn, target, position, size, maxPieceBytes),
    async text() {
      const response = await fetchFn(url);
      if (!response.ok) throw httpError(url, response, "GET");
      return response.text();
    },
  };
}

/** Fill `target` from `position` by Range requests of at most MAX_PIECE_BYTES, each body streamed into place. */
async function readRanges(url: string, fetchFn: Fetch, target: Uint8Array, position: number, size: number, maxPieceBytes: number): Promise<void> {
  if (position + target.byteLength > size) throw new FormatError(url, `unexpected end of file: ${position + target.byteLength - size} bytes past its end`, { byteOffset: size });
  for (let done = 0; done < target.byteLength;) {
    const length = Math.min(maxPieceBytes, target.byteLength - done);
    const first = position + done;
    const response = await fetchFn(url, { headers: { range: `bytes=${first}-${first + length - 1}` } });
    if (response.status !== 206) throw response.status === 200 ? new LlamaError(`${url}: the server ignores HTTP Range requests`) : httpError(url, response, `GET bytes ${first}-${first + length - 1}`);
    if (response.body === null) throw new LlamaError(`${url}: empty response to a Range request`);
    const reader = response.body.getReader();
    let got = 0;
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      if (got + value.byteLength > length) {
        await reader.cancel();
        throw new FormatError(url, `the server sent more than the ${length} bytes asked for`, { byteOffset: first });
      }
      target.set(value, done + got);
      got += value.byteLength;
    }
    if (got !== length) throw new FormatError(url, `unexpected end of data: ${length - got} of ${length} bytes missing`, { byteOffset: first + got });
    done += length;
  }
}
