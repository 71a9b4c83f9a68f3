// The Node.js platform: what the core needs from its host, as `#platform` names it for Node
// (package.json "imports": the "browser" condition picks platform-web.ts instead). Files and paths
// are node:fs / node:path (and the few zlib / crypto / url functions the Node-side writers and
// converters use) themselves, under their own names, so a core file switches hosts by its import
// source alone; the wasm backend's threads are backend/wasm/platform-node.ts. Nothing else imports
// node:* except the Node-only cli/, server/ and train/: test/browser-graph.test.ts checks the
// sources and the browser build's graph.

export { createReadStream, existsSync, readdirSync, statSync } from "node:fs";
export { type FileHandle, copyFile, mkdir, open, readFile, readdir, realpath, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
export { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
export { fileURLToPath } from "node:url";
export { createRequire } from "node:module";
export { endianness } from "node:os";
export { createHash, randomBytes } from "node:crypto";
export { deflateRawSync, inflateRawSync } from "node:zlib";
export { constants as bufferConstants } from "node:buffer";
export { type WorkerContext, type WorkerHandle, defaultThreadCount, spawnWorker, workerContext } from "../backend/wasm/platform-node.js";

/** Which platform this is. */
export const PLATFORM_NAME: "node" | "web" = "node";

/** A buffer threads can share (Node always has SharedArrayBuffer). */
export function sharedBuffer(byteLength: number): SharedArrayBuffer {
  return new SharedArrayBuffer(byteLength);
}
