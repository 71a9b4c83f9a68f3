// A GGUF file in a web page (a URL read by Range requests, or a File/Blob read by slices) as the
// loader's GgufTensorFile: the header parsed by io/gguf/gguf-header.ts from a window of the file's
// first bytes (doubled while the header runs past it, up to MAX_HEADER_BYTES, as
// io/gguf/gguf-reader.ts does on disk), each tensor then read by position straight into its target
// (the backend's memory) piece by piece. So every check of the Node reader applies, and the config,
// tokenizer and weights come from the same parsers as on Node (loader/gguf.ts,
// tokenizer/load-gguf.ts).

import { ArgumentError, FormatError } from "../errors.js";
import { INITIAL_HEADER_WINDOW_BYTES, MAX_HEADER_BYTES } from "../io/gguf/gguf-constants.js";
import { type GgufHeader, HeaderWindowTooSmall, parseGgufHeader } from "../io/gguf/gguf-header.js";
import type { GgufTensorFile } from "../loader/gguf.js";
import type { ByteSource } from "./byte-source.js";

/** The parsed header of `source`, read in windows from its start. */
async function readHeader(source: ByteSource): Promise<GgufHeader> {
  let windowBytes = Math.min(source.size, INITIAL_HEADER_WINDOW_BYTES);
  for (;;) {
    const window = new Uint8Array(windowBytes);
    await source.readInto(window, 0);
    try {
      return parseGgufHeader(window, source.size, source.name);
    } catch (error) {
      if (!(error instanceof HeaderWindowTooSmall)) throw error;
      if (error.needed > MAX_HEADER_BYTES) throw new FormatError(source.name, `the header runs past ${MAX_HEADER_BYTES} bytes (MAX_HEADER_BYTES)`, { byteOffset: windowBytes });
      windowBytes = Math.min(source.size, MAX_HEADER_BYTES, Math.max(error.needed, windowBytes * 2));
    }
  }
}

/**
 * Open the GGUF file `source`: reads and checks its header only.
 * @throws FormatError naming the file and byte for a malformed, truncated or hostile header;
 *   UnsupportedError for a v1 or big-endian file or an unknown tensor type; LlamaError for an HTTP failure
 */
export async function openWebGguf(source: ByteSource): Promise<GgufTensorFile> {
  const header = await readHeader(source);
  const path = source.name;
  const tensor = (name: string): NonNullable<ReturnType<GgufTensorFile["tensors"]["get"]>> => {
    const info = header.tensors.get(name);
    if (info === undefined) throw new FormatError(path, `no tensor named "${name}" (${header.tensors.size} tensors here)`);
    return info;
  };
  const readInto = async (name: string, target: Uint8Array): Promise<void> => {
    const info = tensor(name);
    if (target.byteLength !== info.byteLength) throw new ArgumentError(`${path}: tensor "${name}" is ${info.byteLength} bytes but the target holds ${target.byteLength}`);
    await source.readInto(target, info.byteOffset);
  };
  return {
    path,
    metadata: header.metadata,
    tensors: header.tensors,
    tensor,
    readInto,
    async readBytes(name: string): Promise<Uint8Array> {
      const target = new Uint8Array(tensor(name).byteLength);
      await readInto(name, target);
      return target;
    },
    close: () => Promise.resolve(),
  };
}
