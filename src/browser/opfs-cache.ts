// Caching a model's files in the page's Origin Private File System, so a reload does not download
// them again (the decision in README "Browser": OPFS, not the Cache API, which keeps whole
// responses and serves no ranges of them). A model is a Hugging Face folder URL (config.json,
// tokenizer files, the safetensors) or one GGUF file's URL. Each file is streamed from its URL into
// OPFS (never held whole); a file is committed only when exactly the bytes the server's Range
// answer promised arrived (the writable is aborted otherwise, so a cut download leaves nothing
// behind), and a manifest written last marks the copy complete. Later calls find the manifest and
// return the stored Files without a request. The Files go to LlamaWorker.load or fromPretrained
// like picked files (read by slices).

import { FormatError, LlamaError } from "../errors.js";
import { INDEX_FILE_NAME, SINGLE_FILE_NAME, parseIndex } from "../io/safetensors-index.js";
import { type ByteSource, type Fetch, urlSource } from "./byte-source.js";
import { modelUrl } from "./model-folder.js";

/** The files of a Hugging Face folder that are fetched when present (besides the safetensors). */
const OPTIONAL_FILES = ["generation_config.json", "tokenizer_config.json", "chat_template.jinja"];
const REQUIRED_FILES = ["config.json", "tokenizer.json"];
const MANIFEST = "llama3-ts-manifest.json";
/** The OPFS folder holding one folder per cached model URL. */
const CACHE_ROOT = "llama3-ts";

interface FileHandleLike {
  getFile(): Promise<File>;
  createWritable(): Promise<WritableStream<Uint8Array>>;
}
interface DirectoryLike {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryLike>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}
interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}
interface Manifest {
  readonly url: string;
  readonly files: readonly { readonly name: string; readonly size: number }[];
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

/** The folder of every cached model. */
async function cacheRoot(): Promise<DirectoryLike> {
  return (await opfsRoot()).getDirectoryHandle(CACHE_ROOT, { create: true });
}

const folderName = (href: string): string => encodeURIComponent(href);

/**
 * Run `task` holding the cache's lock for `href` (Web Locks: across this origin's tabs and
 * workers), so two loads of one model never write its folder at once; where the browser has no
 * Web Locks, chained per URL within this realm.
 */
const chains = new Map<string, Promise<unknown>>();
function withLock<T>(href: string, task: () => Promise<T>): Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  if (locks !== undefined) return locks.request(`llama3-ts cache ${href}`, task);
  const run = (chains.get(href) ?? Promise.resolve()).then(task, task);
  chains.set(href, run.catch(() => {}));
  return run;
}

/** The stored Files of `href` when its manifest is there and every file has its recorded size. */
async function storedFiles(href: string): Promise<File[] | undefined> {
  try {
    const folder = await (await cacheRoot()).getDirectoryHandle(folderName(href));
    const manifest = JSON.parse(await (await (await folder.getFileHandle(MANIFEST)).getFile()).text()) as Manifest;
    const files = await Promise.all(manifest.files.map(async (f) => (await folder.getFileHandle(f.name)).getFile()));
    return manifest.url === href && files.every((file, i) => file.size === manifest.files[i]!.size) ? files : undefined;
  } catch {
    return undefined; // not cached, or an incomplete copy
  }
}

/** The files of the model at `href` (name in OPFS -> its source), probed by Range requests (sizes). */
async function modelSources(href: string, gguf: boolean, fetchFn: Fetch): Promise<Map<string, ByteSource>> {
  const sources = new Map<string, ByteSource>();
  const probe = async (name: string, url: string, required: boolean): Promise<void> => {
    const source = await urlSource(url, fetchFn);
    if (source !== undefined) sources.set(name, source);
    else if (required) throw new LlamaError(`${url}: not found (HTTP 404)`);
  };
  if (gguf) {
    // Stored under its own file name (the loader finds one .gguf among the Files); "/" cannot be in an OPFS name.
    const name = decodeURIComponent(new URL(href).pathname.split("/").pop()!).replace(/[/\\]/g, "_");
    await probe(name, href, true);
    return sources;
  }
  for (const name of REQUIRED_FILES) await probe(name, new URL(name, href).href, true);
  for (const name of OPTIONAL_FILES) await probe(name, new URL(name, href).href, false);
  await probe(INDEX_FILE_NAME, new URL(INDEX_FILE_NAME, href).href, false);
  const index = sources.get(INDEX_FILE_NAME);
  const weights = index === undefined ? [SINGLE_FILE_NAME] : parseIndex(index.name, await index.text()).shardFiles;
  for (const name of weights) await probe(name, new URL(name, href).href, true);
  return sources;
}

/**
 * Stream `source` (one whole GET) into the file `name` of `folder`. The bytes are counted on the way:
 * more than `source.size` (the Range answer's length), or a body that ends short of it (a dropped
 * connection, a server that closed early), errors the stream, which aborts the OPFS writable, so
 * the file is never committed with a part of the download.
 * @throws LlamaError for an HTTP failure; FormatError for a body of the wrong length
 */
async function download(folder: DirectoryLike, name: string, source: ByteSource, fetchFn: Fetch, onBytes: (n: number) => void): Promise<void> {
  let response: Response;
  try {
    response = await fetchFn(source.name);
  } catch (error) {
    throw new LlamaError(`${source.name}: cannot fetch: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (response.status !== 200 || response.body === null) throw new LlamaError(`${source.name}: GET failed with HTTP ${response.status}`);
  const declared = response.headers.get("content-length");
  if (declared !== null && response.headers.get("content-encoding") === null && Number(declared) !== source.size) {
    await response.body.cancel();
    throw new FormatError(source.name, `the GET declares ${declared} bytes (Content-Length) where the Range answer gave ${source.size} (Content-Range)`);
  }
  let received = 0;
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      received += chunk.byteLength;
      if (received > source.size) throw new FormatError(source.name, `the download runs past the ${source.size} bytes of the Range answer`, { byteOffset: source.size });
      onBytes(chunk.byteLength);
      controller.enqueue(chunk);
    },
    flush() {
      if (received !== source.size) throw new FormatError(source.name, `the download ended after ${received} of ${source.size} bytes`, { byteOffset: received });
    },
  });
  const writable = await (await folder.getFileHandle(name, { create: true })).createWritable();
  try {
    await response.body.pipeThrough(counted).pipeTo(writable);
  } catch (error) {
    if (error instanceof LlamaError) throw error;
    throw new FormatError(source.name, `the download failed after ${received} of ${source.size} bytes: ${error instanceof Error ? error.message : String(error)}`, { byteOffset: received, cause: error });
  }
}

/** Download every file of the model at `href` into a fresh OPFS folder; the manifest goes last. */
async function downloadModel(href: string, gguf: boolean, options: CacheOptions): Promise<File[]> {
  const fetchFn = options.fetch ?? fetch;
  const root = await cacheRoot();
  await root.removeEntry(folderName(href), { recursive: true }).catch(() => {});
  const folder = await root.getDirectoryHandle(folderName(href), { create: true });
  try {
    // Which files, and their sizes, first (a Range probe each: no body is left unread while others wait).
    const sources = await modelSources(href, gguf, fetchFn);
    const total = [...sources.values()].reduce((sum, source) => sum + source.size, 0);
    let loaded = 0;
    const written: { name: string; size: number }[] = [];
    for (const [name, source] of sources) {
      await download(folder, name, source, fetchFn, (n) => {
        loaded += n;
        options.onProgress?.(loaded, total);
      });
      const size = (await (await folder.getFileHandle(name)).getFile()).size;
      if (size !== source.size) throw new FormatError(source.name, `OPFS holds ${size} bytes after the download, expected ${source.size}`);
      written.push({ name, size });
    }
    const manifest: Manifest = { url: href, files: written };
    await new Response(JSON.stringify(manifest)).body!.pipeTo(await (await folder.getFileHandle(MANIFEST, { create: true })).createWritable());
    return await Promise.all(written.map(async (f) => (await folder.getFileHandle(f.name)).getFile()));
  } catch (error) {
    await root.removeEntry(folderName(href), { recursive: true }).catch(() => {}); // no partial copy keeps its space
    throw error;
  }
}

/**
 * The files of the model at `url` (a Hugging Face folder, or one .gguf file), from OPFS when a
 * complete copy is there, else downloaded into it first (one streamed GET per file).
 * @returns File objects named as in the folder, or the one .gguf File (give them to LlamaWorker.load)
 * @throws LlamaError for an HTTP failure or a required file that is missing; FormatError for a
 *   download cut short or longer than the server's Range answer said (nothing is cached then)
 * @example
 * const llm = await LlamaWorker.load(await cachedModelFiles("/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf"));
 */
export async function cachedModelFiles(url: string | URL, options: CacheOptions = {}): Promise<File[]> {
  const { href, gguf } = modelUrl(url);
  return withLock(href, async () => (await storedFiles(href)) ?? downloadModel(href, gguf, options));
}

/** Remove the cached copy of the model at `url` (a folder or .gguf URL), or every cached model when url is omitted. */
export async function clearModelCache(url?: string | URL): Promise<void> {
  if (url === undefined) {
    await (await opfsRoot()).removeEntry(CACHE_ROOT, { recursive: true }).catch(() => {});
    return;
  }
  const { href } = modelUrl(url);
  await withLock(href, async () => (await cacheRoot()).removeEntry(folderName(href), { recursive: true }).catch(() => {}));
}
