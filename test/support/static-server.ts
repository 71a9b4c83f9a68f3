// A loopback static server for the browser tests: mounts (URL prefix -> folders searched in order),
// HTTP Range requests (206 with Content-Range; what the browser loader reads weights with), and the
// two cross-origin isolation headers on every response under /iso/ (the same files are served
// without them under /plain/), so one server gives an isolated and a non-isolated page. A test can
// cut a file's whole-file GETs short (`cuts`), as a dropped connection or a server that ends early.

import { createReadStream, existsSync, statSync } from "node:fs";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = { ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html", ".json": "application/json", ".css": "text/css", ".jinja": "text/plain", ".wasm": "application/wasm" };

/** A running static server. */
export interface StaticServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Requests served, as "METHOD path range" lines (to check that weights were read by ranges). */
  readonly requests: string[];
  /**
   * Whole-file GETs to cut short, by mounted path (such as "/gguf/x.gguf"; Range requests are served
   * whole): after `afterBytes`, "drop" destroys the connection mid-body (its Content-Length
   * promised the whole file), "short" ends the body cleanly (no Content-Length, so the transfer itself
   * looks complete).
   */
  readonly cuts: Map<string, { readonly afterBytes: number; readonly mode: "drop" | "short" }>;
  close(): Promise<void>;
}

/**
 * Serve `mounts` (prefix such as "/model/" -> folders) under both /iso/ and /plain/, and `pages`
 * (path such as "/test.html" -> HTML) likewise.
 */
export async function startStaticServer(mounts: Readonly<Record<string, readonly string[]>>, pages: Readonly<Record<string, string>> = {}): Promise<StaticServer> {
  const requests: string[] = [];
  const cuts: StaticServer["cuts"] = new Map();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests.push(`${req.method} ${url.pathname} ${req.headers.range ?? ""}`.trim());
    const isolated = url.pathname.startsWith("/iso/");
    if (!isolated && !url.pathname.startsWith("/plain/")) {
      res.writeHead(404).end();
      return;
    }
    const path = url.pathname.slice(isolated ? 4 : 6);
    const headers: Record<string, string> = isolated ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" } : {};
    if (pages[path] !== undefined) {
      res.writeHead(200, { ...headers, "content-type": "text/html" }).end(pages[path]);
      return;
    }
    const file = resolveFile(mounts, path);
    if (file === undefined) {
      res.writeHead(404, headers).end("not found");
      return;
    }
    const size = statSync(file).size;
    const type = TYPES[extname(file)] ?? "application/octet-stream";
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range !== null) {
      const start = Number(range[1]);
      const end = range[2] === "" ? size - 1 : Math.min(Number(range[2]), size - 1);
      if (start >= size || end < start) {
        res.writeHead(416, { ...headers, "content-range": `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, "content-type": type, "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${size}`, "accept-ranges": "bytes" });
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    const cut = cuts.get(path);
    if (cut !== undefined) {
      res.writeHead(200, { ...headers, "content-type": type, ...(cut.mode === "drop" ? { "content-length": size } : {}), "accept-ranges": "bytes" });
      const part = createReadStream(file, { start: 0, end: cut.afterBytes - 1 });
      part.pipe(res, { end: false });
      // "drop": FIN once the part is flushed (socket.end), with the body short of its Content-Length.
      part.on("end", () => (cut.mode === "drop" ? res.socket?.end() : res.end()));
      return;
    }
    res.writeHead(200, { ...headers, "content-type": type, "content-length": size, "accept-ranges": "bytes" });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cuts,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function resolveFile(mounts: Readonly<Record<string, readonly string[]>>, path: string): string | undefined {
  for (const [prefix, folders] of Object.entries(mounts)) {
    if (!path.startsWith(prefix)) continue;
    const rest = normalize(path.slice(prefix.length));
    if (rest.startsWith("..")) return undefined;
    for (const folder of folders) {
      const file = join(folder, rest);
      if (existsSync(file) && statSync(file).isFile()) return file;
    }
  }
  return undefined;
}
