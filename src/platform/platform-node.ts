// The Node.js platform: what the core needs from its host, as `#platform` names it for Node
// (package.json "imports": the "browser" condition picks platform-web.ts instead). Files and paths
// are node:fs / node:path themselves, under their own names, so a core file switches hosts by its
// import source alone; the wasm backend's threads are backend/wasm/platform-node.ts. Nothing else in
// the core (below cli/ and server/, which are Node only) imports node:*; test/browser-graph.test.ts
// checks the browser side.

export { existsSync, readdirSync, statSync } from "node:fs";
export { type FileHandle, open, readFile, readdir, stat } from "node:fs/promises";
export { basename, dirname, join } from "node:path";
export { createRequire } from "node:module";
export { endianness } from "node:os";
export { constants as bufferConstants } from "node:buffer";
export { type WorkerContext, type WorkerHandle, defaultThreadCount, spawnWorker, workerContext } from "../backend/wasm/platform-node.js";

/** Which platform this is. */
export const PLATFORM_NAME: "node" | "web" = "node";

/** A buffer threads can share (Node always has SharedArrayBuffer). */
export function sharedBuffer(byteLength: number): SharedArrayBuffer {
  return new SharedArrayBuffer(byteLength);
}
