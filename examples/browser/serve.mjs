#!/usr/bin/env node
// A static server for the browser example: serves the package folder (so the page can import
// dist/browser/) and a models folder at /models/, with the two headers that make the page
// cross-origin isolated (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy:
// require-corp: the wasm backend then runs one thread per core) and HTTP Range requests (the
// loader reads weights by ranges). Loopback only. No dependencies.
//
//   npm run build
//   node examples/browser/serve.mjs --models ~/models [--port 8000]
//   open http://127.0.0.1:8000/examples/browser/  and load /models/Llama-3.2-1B-Instruct/

import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string", default: "8000" }, models: { type: "string" }, host: { type: "string", default: "127.0.0.1" } } });
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const models = values.models === undefined ? undefined : resolve(values.models);
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".css": "text/css", ".jinja": "text/plain" };
const ISOLATION = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

function fileFor(pathname) {
  const path = normalize(decodeURIComponent(pathname));
  if (path.includes("..")) return undefined;
  if (path.startsWith("/models/")) return models === undefined ? undefined : join(models, path.slice("/models/".length));
  const file = join(root, path);
  return path.endsWith("/") ? join(file, "index.html") : file;
}

createServer((req, res) => {
  const file = fileFor(new URL(req.url ?? "/", "http://x").pathname);
  if (file === undefined || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, ISOLATION).end("not found");
    return;
  }
  const size = statSync(file).size;
  const type = TYPES[extname(file)] ?? "application/octet-stream";
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
  if (range !== null) {
    const start = Number(range[1]);
    const end = range[2] === "" ? size - 1 : Math.min(Number(range[2]), size - 1);
    if (start >= size || end < start) {
      res.writeHead(416, { ...ISOLATION, "content-range": `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, { ...ISOLATION, "content-type": type, "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${size}`, "accept-ranges": "bytes" });
    createReadStream(file, { start, end }).pipe(res);
    return;
  }
  res.writeHead(200, { ...ISOLATION, "content-type": type, "content-length": size, "accept-ranges": "bytes", "cache-control": "no-cache" });
  createReadStream(file).pipe(res);
}).listen(Number(values.port), values.host, () => {
  console.log(`serving ${root} at http://${values.host}:${values.port}/ (page: /examples/browser/)${models === undefined ? "" : `, ${models} at /models/`}`);
});
