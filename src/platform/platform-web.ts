// The browser platform, platform-node.ts's twin (`#platform` under the "browser" condition): the
// same names, so core files do not know which host they run on. A page has no file system: the
// file functions throw UnsupportedError saying to load from URLs or File objects (src/browser/), and
// so do the few non-file names only Node-side writers and converters use (zlib, crypto);
// paths are joined as URL paths; endianness is probed; threads are backend/wasm/platform-web.ts.

import { UnsupportedError } from "../errors.js";

export { type WorkerContext, type WorkerHandle, defaultThreadCount, spawnWorker, workerContext } from "../backend/wasm/platform-web.js";

/** Which platform this is. */
export const PLATFORM_NAME: "node" | "web" = "web";

function noFiles(what: string, path?: unknown): never {
  throw new UnsupportedError(`${what}(${path === undefined ? "" : JSON.stringify(String(path))}): a web page has no file system; load models from a URL or from File objects (llama3-ts/browser)`);
}

export const existsSync = (path: string): boolean => noFiles("existsSync", path);
export const readdirSync = (path: string): string[] => noFiles("readdirSync", path);
export const statSync = (path: string): never => noFiles("statSync", path);
export const open = (path: string): Promise<never> => noFiles("open", path);
export const readFile = (path: string): Promise<never> => noFiles("readFile", path);
export const readdir = (path: string): Promise<never> => noFiles("readdir", path);
export const stat = (path: string): Promise<never> => noFiles("stat", path);
export const createRequire = (from: string): never => noFiles("createRequire", from);
export const createReadStream = (path: string): never => noFiles("createReadStream", path);
export const copyFile = (from: string): Promise<never> => noFiles("copyFile", from);
export const mkdir = (path: string): Promise<never> => noFiles("mkdir", path);
export const realpath = (path: string): Promise<never> => noFiles("realpath", path);
export const rename = (from: string): Promise<never> => noFiles("rename", from);
export const rm = (path: string): Promise<never> => noFiles("rm", path);
export const rmdir = (path: string): Promise<never> => noFiles("rmdir", path);
export const writeFile = (path: string): Promise<never> => noFiles("writeFile", path);
export const fileURLToPath = (url: string): never => noFiles("fileURLToPath", url);
export const isAbsolute = (path: string): never => noFiles("isAbsolute", path);
export const relative = (from: string): never => noFiles("relative", from);
export const resolve = (path: string): never => noFiles("resolve", path);

/** What only the Node-side writers, converters and the PyTorch reader use: none of them runs in a page. */
function nodeOnly(what: string): never {
  throw new UnsupportedError(`${what}: Node only (checkpoint writing, conversion and PyTorch zip checkpoints); in a page load safetensors or GGUF`);
}
export const inflateRawSync = (_data: Uint8Array, _options?: object): never => nodeOnly("inflateRawSync");
export const deflateRawSync = (_data: Uint8Array): never => nodeOnly("deflateRawSync");
export const createHash = (_algorithm: string): never => nodeOnly("createHash");
export const randomBytes = (_size: number): never => nodeOnly("randomBytes");
/** A file handle: there are none in a page (the type, for the signatures that name one). */
export type FileHandle = never;

/** Join URL path segments with "/" (no normalisation of "..": URLs resolve those themselves). */
export function join(...parts: string[]): string {
  return parts.filter((p) => p !== "").map((p, i) => (i === 0 ? p.replace(/\/+$/, "") : p.replace(/^\/+|\/+$/g, ""))).join("/");
}

/** The last segment of a path. */
export function basename(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() ?? "";
}

/** Everything before the last segment. */
export function dirname(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  return at <= 0 ? (at === 0 ? "/" : ".") : trimmed.slice(0, at);
}

/** "LE" or "BE", probed from a typed array (what os.endianness() reports on Node). */
export function endianness(): "LE" | "BE" {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? "LE" : "BE";
}

/**
 * The longest typed array: V8's TypedArray::kMaxLength, 2^32 elements on 64-bit Chromium as on
 * Node 20 (buffer.constants.MAX_LENGTH there). Tensors in a page live in wasm32 memories (< 4 GiB).
 */
export const bufferConstants = { MAX_LENGTH: 2 ** 32 } as const;

/** A buffer threads can share: a SharedArrayBuffer when the page is cross-origin isolated, else a plain one (one thread). */
export function sharedBuffer(byteLength: number): SharedArrayBuffer {
  return (typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(byteLength) : new ArrayBuffer(byteLength)) as SharedArrayBuffer;
}
