// The chat page and CORS over raw HTTP: GET / serves the page (its script allowed by the hash in its
// Content-Security-Policy, which the test recomputes, and valid JavaScript), webUi: false answers
// 404; every response carries CORS headers (any origin by default, or only listed ones), preflights
// are answered 204 (403 for an origin not listed), and `llama3 serve` rejects a malformed
// --cors-origin before loading anything. The page in a real browser is test/browser-serve.test.ts.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { serveCommand } from "../src/cli/serve.js";
import { UsageError } from "../src/cli/command.js";
import { ArgumentError } from "../src/errors.js";
import { parseCorsOrigins } from "../src/server/index.js";
import { type TestServer, rawRequest, startServer } from "./server-support.js";

const PAGE_ORIGIN = "http://app.example:5173";
let open: TestServer;
let restricted: TestServer;
let noPage: TestServer;
before(async () => {
  open = await startServer();
  restricted = await startServer({ corsOrigins: parseCorsOrigins([PAGE_ORIGIN, "https://other.example"]) });
  noPage = await startServer({ webUi: false });
});
after(async () => {
  await Promise.all([open.close(), restricted.close(), noPage.close()]);
});

test("GET / serves the chat page; its one script is valid JavaScript and allowed by the CSP hash", async () => {
  const response = await rawRequest(open.address.url, "GET", "/");
  assert.equal(response.status, 200);
  assert.equal(response.headers["content-type"], "text/html; charset=utf-8");
  assert.equal(Number(response.headers["content-length"]), Buffer.byteLength(response.text));
  const scripts = [...response.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
  assert.equal(scripts.length, 1);
  const script = scripts[0]!;
  const hash = createHash("sha256").update(script).digest("base64");
  const csp = String(response.headers["content-security-policy"]);
  assert.ok(csp.includes(`script-src 'sha256-${hash}'`), csp);
  assert.ok(csp.includes("connect-src 'self'"), csp);
  assert.doesNotThrow(() => new Function(script), "the page script parses");
  // The elements the script looks up by id are all in the page.
  const ids = [...script.matchAll(/\$\("([a-z-]+)"\)/g)].map((m) => m[1]!);
  assert.ok(ids.length >= 10);
  for (const id of ids) assert.ok(response.text.includes(`id="${id}"`), `element #${id} is in the page`);
  assert.ok(script.includes("/v1/chat/completions") && script.includes("stream: true"));
});

test("only GET reaches the page; webUi: false answers 404 at /", async () => {
  const post = await rawRequest(open.address.url, "POST", "/", {});
  assert.equal(post.status, 405);
  const missing = await rawRequest(noPage.address.url, "GET", "/");
  assert.equal(missing.status, 404);
  assert.equal((JSON.parse(missing.text) as { error: { code: string } }).error.code, "unknown_url");
  assert.equal(noPage.server.webUi, false);
  assert.equal(open.server.webUi, true);
  // The API is unaffected.
  assert.equal((await rawRequest(noPage.address.url, "GET", "/v1/models")).status, 200);
});

test("by default every origin may call the API: Access-Control-Allow-Origin * on answers and errors", async () => {
  const models = await rawRequest(open.address.url, "GET", "/v1/models", undefined, { origin: "http://anywhere.test" });
  assert.equal(models.headers["access-control-allow-origin"], "*");
  assert.equal(models.headers["access-control-expose-headers"], "retry-after");
  const error = await rawRequest(open.address.url, "POST", "/v1/chat/completions", "{not json", { origin: "http://anywhere.test" });
  assert.equal(error.status, 400);
  assert.equal(error.headers["access-control-allow-origin"], "*", "a page can read the error body");
  const chat = await rawRequest(open.address.url, "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "Hi" }], max_tokens: 2, stream: true }, { origin: "http://anywhere.test" });
  assert.equal(chat.status, 200);
  assert.equal(chat.headers["access-control-allow-origin"], "*", "streams carry the header too");
});

test("a preflight is answered 204 with the methods, the requested headers and a max-age", async () => {
  const preflight = await rawRequest(open.address.url, "OPTIONS", "/v1/chat/completions", undefined, {
    origin: "http://anywhere.test",
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type, authorization, x-stainless-lang",
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.text, "");
  assert.equal(preflight.headers["access-control-allow-origin"], "*");
  assert.deepEqual(String(preflight.headers["access-control-allow-methods"]).split(", ").sort(), ["GET", "OPTIONS", "POST"]);
  assert.equal(preflight.headers["access-control-allow-headers"], "content-type, authorization, x-stainless-lang");
  assert.ok(Number(preflight.headers["access-control-max-age"]) > 0);
});

test("with listed origins, a listed one is echoed (Vary: Origin) and any other gets no allow header and a 403 preflight", async () => {
  const listed = await rawRequest(restricted.address.url, "GET", "/v1/models", undefined, { origin: PAGE_ORIGIN });
  assert.equal(listed.headers["access-control-allow-origin"], PAGE_ORIGIN);
  assert.match(String(listed.headers.vary), /origin/i);
  const other = await rawRequest(restricted.address.url, "GET", "/v1/models", undefined, { origin: "http://evil.example" });
  assert.equal(other.status, 200, "CORS is enforced by the browser; the server only withholds the header");
  assert.equal(other.headers["access-control-allow-origin"], undefined);
  assert.match(String(other.headers.vary), /origin/i);
  const okPreflight = await rawRequest(restricted.address.url, "OPTIONS", "/v1/chat/completions", undefined, { origin: "https://other.example", "access-control-request-method": "POST" });
  assert.equal(okPreflight.status, 204);
  assert.equal(okPreflight.headers["access-control-allow-origin"], "https://other.example");
  assert.equal(okPreflight.headers["access-control-allow-headers"], "content-type, authorization");
  const badPreflight = await rawRequest(restricted.address.url, "OPTIONS", "/v1/chat/completions", undefined, { origin: "http://evil.example", "access-control-request-method": "POST" });
  assert.equal(badPreflight.status, 403);
  assert.equal((JSON.parse(badPreflight.text) as { error: { code: string } }).error.code, "cors_origin_not_allowed");
  assert.equal(badPreflight.headers["access-control-allow-origin"], undefined);
  // Same-origin and non-browser requests send no Origin and are served as before.
  assert.equal((await rawRequest(restricted.address.url, "GET", "/v1/models")).status, 200);
});

test("parseCorsOrigins: origins normalised, * wins, anything with a path or no scheme refused", () => {
  assert.equal(parseCorsOrigins([]), "*");
  assert.equal(parseCorsOrigins(["http://a.test", "*"]), "*");
  assert.deepEqual(parseCorsOrigins(["HTTP://A.test:8080", "https://b.test/"]), ["http://a.test:8080", "https://b.test"]);
  for (const bad of ["a.test", "http://a.test/path", "http://a.test?x=1", "file:///tmp", "not a url"]) {
    assert.throws(() => parseCorsOrigins([bad]), ArgumentError, bad);
  }
});

test("llama3 serve: a malformed --cors-origin is a usage error before any model loads", async () => {
  const io = { stdout: () => {}, stdoutBytes: () => {}, stderr: () => {}, readStdin: () => Promise.resolve(new Uint8Array()) };
  await assert.rejects(serveCommand.run(["--model", "/nonexistent", "--cors-origin", "http://a.test/path"], io), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /--cors-origin/);
    return true;
  });
});
