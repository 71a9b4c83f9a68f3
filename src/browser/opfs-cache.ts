// Caching a model's files in the page's Origin Private File System, so a reload does not download
// them again (the decision in README "Browser": OPFS, not the Cache API, which keeps whole
// responses and serves no ranges of them). Each file is streamed from its URL into OPFS (never held
// whole), a manifest is written last, and later calls find the manifest and return the stored Files
// without a request for the weights. The Files go to LlamaWorker.load or fromPretrained like picked
// files (read by slices).

import { LlamaError } from "../errors.js";
import { INDEX_FILE_NAME, SINGLE_FILE_NAME, parseIndex } from "../io/safetensors-index.js";
import { type ByteSource, type Fetch, urlSource } from "./byte-source.js";

/** The files of a Hugging Face folder that are fetched when present (besides the safetensors). */
const OPTIONAL_FILES = ["generation_config.json", "tokenizer_config.json", "chat_template.jinja"];
const REQUIRED_FILES = ["config.json", "tokenizer.json"];
const MANIFEST = "llama3-ts-manifest.json";

interface FileHandleLike {
  getFile(): Promise<File>;
  createWritable(): Promise<WritableStream<Uint8Array>>;
}
interface DirectoryLike {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryLike>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}

/** Options of cachedModelFiles. */
export interface CacheOptions {
  /** Bytes downloaded so far and in all (the sizes are known once every file's headers arrived). */
  readonly onProgress?: (loadedBytes: number, totalBytes: number) => void;
  readonly fetch?: Fetch;
}

function opfsRoot(): Promise<DirectoryLike> {
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<DirectoryLike> } } }).navigator?.storage;
  if (storage?.getDirectory === undefined) throw new LlamaError("this browser has no Origin Private File System (navigator.storage.getDirectory)");
  return storage.getDirectory();
}

/** The OPFS folder of a model URL (one per URL, under llama3-ts/). */
async function folderOf(url: string, create: boolean): Promise<DirectoryLike> {
  const root = await (await opfsRoot()).getDirectoryHandle("llama3-ts", { create: true });
  return root.getDirectoryHandle(encodeURIComponent(url), { create });
}

/**
 * The files of the model folder at `url`, from OPFS when a complete copy is there, else downloaded
 * into it first.
 * @returns File objects named as in the folder (give them to LlamaWorker.load)
 * @throws LlamaError for an HTTP failure or a required file that is missing
 */
export async function cachedModelFiles(url: string | URL, options: CacheOptions = {}): Promise<File[]> {
  const location = (globalThis as { location?: { href: string } }).location;
  const base = new URL(String(url).endsWith("/") ? String(url) : `${String(url)}/`, location?.href).href;
  const fetchFn = options.fetch ?? fetch;
  try {
    const folder = await folderOf(base, false);
    const manifest = JSON.parse(await (await (await folder.getFileHandle(MANIFEST)).getFile()).text()) as { files: { name: string; size: number }[] };
    const files = await Promise.all(manifest.files.map(async (f) => (await folder.getFileHandle(f.name)).getFile()));
    if (files.every((file, i) => file.size === manifest.files[i]!.size)) return files;
  } catch {
    // Not cached (or incomplete): download below.
  }
  const root = await (await opfsRoot()).getDirectoryHandle("llama3-ts", { create: true });
  await root.removeEntry(encodeURIComponent(base), { recursive: true }).catch(() => {});
  const folder = await folderOf(base, true);
  // Which files, and their sizes, first (a Range probe each: no body is left unread while others wait).
  const sources = new Map<string, ByteSource>();
  const probe = async (name: string, required: boolean): Promise<void> => {
    const source = await urlSource(new URL(name, base).href, fetchFn);
    if (source !== undefined) sources.set(name, source);
    else if (required) throw new LlamaError(`${new URL(name, base).href}: not found (HTTP 404)`);
  };
  for (const name of REQUIRED_FILES) await probe(name, true);
  for (const name of OPTIONAL_FILES) await probe(name, false);
  await probe(INDEX_FILE_NAME, false);
  const index = sources.get(INDEX_FILE_NAME);
  if (index !== undefined) {
    for (const shard of parseIndex(index.name, await index.text()).shardFiles) await probe(shard, true);
  } else {
    await probe(SINGLE_FILE_NAME, true);
  }
  const total = [...sources.values()].reduce((sum, source) => sum + source.size, 0);
  let loaded = 0;
  const written: { name: string; size: number }[] = [];
  for (const [name, source] of sources) {
    const response = await fetchFn(source.name);
    if (!response.ok || response.body === null) throw new LlamaError(`${source.name}: GET failed with HTTP ${response.status}`);
    const writable = await (await folder.getFileHandle(name, { create: true })).createWritable();
    const counted = response.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        loaded += chunk.byteLength;
        options.onProgress?.(loaded, Math.max(total, loaded));
        controller.enqueue(chunk);
      },
    }));
    await counted.pipeTo(writable);
    const size = (await (await folder.getFileHandle(name)).getFile()).size;
    if (size !== source.size) throw new LlamaError(`${source.name}: downloaded ${size} bytes, expected ${source.size}`);
    written.push({ name, size });
  }
  const manifest = await (await folder.getFileHandle(MANIFEST, { create: true })).createWritable();
  await new Response(JSON.stringify({ url: base, files: written })).body!.pipeTo(manifest);
  return Promise.all(written.map(async (f) => (await folder.getFileHandle(f.name)).getFile()));
}

/** Remove the cached copy of the model at `url` (or every cached model when url is omitted). */
export async function clearModelCache(url?: string | URL): Promise<void> {
  const root = await (await opfsRoot()).getDirectoryHandle("llama3-ts", { create: true });
  if (url === undefined) {
    await (await opfsRoot()).removeEntry("llama3-ts", { recursive: true });
    return;
  }
  const location = (globalThis as { location?: { href: string } }).location;
  const base = new URL(String(url).endsWith("/") ? String(url) : `${String(url)}/`, location?.href).href;
  await root.removeEntry(encodeURIComponent(base), { recursive: true }).catch(() => {});
}
