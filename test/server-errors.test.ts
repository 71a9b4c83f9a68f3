// The server's error table over raw HTTP, one test per row of issue 7: malformed JSON (400), invalid
// parameters (400 naming the parameter), a prompt longer than the context (400), an unknown model
// (404), a body too large (413), a full queue (429 with Retry-After), anything unexpected (500 with
// no stack trace). Every error body has OpenAI's shape {error: {message, type, param, code}}.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import OpenAI from "openai";
import { MAX_DISCARDED_BODY_BYTES, type ServerEngine } from "../src/server/index.js";
import { MODEL_ID, type RawResponse, type TestServer, rawRequest, startServer, waitFor } from "./server-support.js";

interface ErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null; readonly code: string | null };
}

/** The error body of a response, checked to have exactly OpenAI's fields and types. */
function errorBody(response: RawResponse): ErrorBody["error"] {
  assert.match(String(response.headers["content-type"]), /^application\/json/);
  const body = JSON.parse(response.text) as ErrorBody;
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(typeof body.error.message, "string");
  assert.ok(body.error.message.length > 0);
  return body.error;
}

let s: TestServer;
before(async () => {
  s = await startServer({ maxBodyBytes: 64 * 1024 });
});
after(async () => {
  await s.close();
});

test("malformed JSON is a 400 invalid_request_error", async () => {
  for (const [path, body] of [["/v1/chat/completions", '{"model": "x", "messages": ['], ["/v1/completions", "not json"], ["/v1/completions", "[1, 2]"]] as const) {
    const response = await rawRequest(s.address.url, "POST", path, body);
    assert.equal(response.status, 400, body);
    const error = errorBody(response);
    assert.equal(error.type, "invalid_request_error");
    assert.equal(error.code, "invalid_json");
    assert.match(error.message, /JSON/);
  }
});

test("an invalid parameter is a 400 that names it", async () => {
  const chat = { model: MODEL_ID, messages: [{ role: "user", content: "Hi" }] };
  const cases: readonly [string, object, string][] = [
    ["/v1/chat/completions", { ...chat, temperature: "hot" }, "temperature"],
    ["/v1/chat/completions", { ...chat, temperature: 3 }, "temperature"],
    ["/v1/chat/completions", { ...chat, max_tokens: 0 }, "max_tokens"],
    ["/v1/chat/completions", { ...chat, max_completion_tokens: 2.5 }, "max_completion_tokens"],
    ["/v1/chat/completions", { ...chat, n: 0 }, "n"],
    ["/v1/chat/completions", { ...chat, stop: 42 }, "stop"],
    ["/v1/chat/completions", { ...chat, stop: ["ok", ""] }, "stop[1]"],
    ["/v1/chat/completions", { ...chat, top_logprobs: 3 }, "top_logprobs"],
    ["/v1/chat/completions", { ...chat, logprobs: "yes" }, "logprobs"],
    ["/v1/chat/completions", { ...chat, stream: 1 }, "stream"],
    ["/v1/chat/completions", { ...chat, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", pattern: "^(?!a)" } } } }, "response_format.json_schema.schema"],
    ["/v1/chat/completions", { ...chat, seed: "7" }, "seed"],
    ["/v1/chat/completions", { ...chat, presence_penalty: 2.5 }, "presence_penalty"],
    ["/v1/chat/completions", { ...chat, tools: [{ type: "function", function: { name: "f" } }] }, "tools"],
    ["/v1/chat/completions", { model: MODEL_ID }, "messages"],
    ["/v1/chat/completions", { model: MODEL_ID, messages: [{ role: "robot", content: "Hi" }] }, "messages[0].role"],
    ["/v1/chat/completions", { model: MODEL_ID, messages: [{ role: "user", content: [{ type: "image_url" }] }] }, "messages[0].content[0].type"],
    ["/v1/chat/completions", { model: 7, messages: chat.messages }, "model"],
    ["/v1/completions", { model: MODEL_ID, prompt: { text: "Hi" } }, "prompt"],
    ["/v1/completions", { model: MODEL_ID, prompt: ["Hi", 3] }, "prompt[1]"],
    ["/v1/completions", { model: MODEL_ID, prompt: [128000, 1e9] }, "prompt"],
    ["/v1/completions", { model: MODEL_ID, prompt: "Hi", logprobs: true }, "logprobs"],
    ["/v1/completions", { model: MODEL_ID, prompt: "Hi", echo: true }, "echo"],
  ];
  for (const [path, body, param] of cases) {
    const response = await rawRequest(s.address.url, "POST", path, body);
    assert.equal(response.status, 400, `${JSON.stringify(body)}: ${response.text}`);
    const error = errorBody(response);
    assert.equal(error.type, "invalid_request_error");
    assert.equal(error.param, param, response.text);
    assert.ok(error.message.startsWith(`${param}:`), error.message);
  }
  // Fields the server does not know are ignored, as OpenAI ignores them.
  const ok = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { ...chat, max_tokens: 1, some_future_field: { x: 1 }, user: "u1" });
  assert.equal(ok.status, 200, ok.text);
});

test("a prompt longer than the context is a 400 context_length_exceeded", async () => {
  const context = 8192; // the fixture's max_position_embeddings
  const longIds = Array.from({ length: context }, (_, i) => 1000 + (i % 500));
  const tooLong = await rawRequest(s.address.url, "POST", "/v1/completions", { model: MODEL_ID, prompt: longIds, max_tokens: 1 });
  assert.equal(tooLong.status, 400, tooLong.text);
  const error = errorBody(tooLong);
  assert.equal(error.code, "context_length_exceeded");
  assert.equal(error.param, "prompt");
  assert.match(error.message, /8192/);
  // A prompt that fits with a max_tokens that does not names max_tokens.
  const overflow = await rawRequest(s.address.url, "POST", "/v1/completions", { model: MODEL_ID, prompt: longIds.slice(0, context - 10), max_tokens: 11 });
  assert.equal(overflow.status, 400);
  assert.equal(errorBody(overflow).param, "max_tokens");
  const chat = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { model: MODEL_ID, messages: [{ role: "user", content: " hello".repeat(context) }] });
  assert.equal(chat.status, 400);
  assert.deepEqual([errorBody(chat).param, errorBody(chat).code], ["messages", "context_length_exceeded"]);
});

test("an unknown model is a 404 model_not_found", async () => {
  const response = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] });
  assert.equal(response.status, 404);
  const error = errorBody(response);
  assert.equal(error.code, "model_not_found");
  assert.equal(error.param, "model");
  assert.match(error.message, /gpt-4o/);
  const byId = await rawRequest(s.address.url, "GET", "/v1/models/gpt-4o");
  assert.equal(byId.status, 404);
  assert.equal(errorBody(byId).code, "model_not_found");
  // A model id that is not valid percent-encoding names no model either (not a 500).
  const malformed = await rawRequest(s.address.url, "GET", "/v1/models/%E0%A4%A");
  assert.equal(malformed.status, 404, malformed.text);
  assert.equal(errorBody(malformed).code, "model_not_found");
  // Unknown paths and wrong methods get OpenAI-shaped errors too.
  assert.equal((await rawRequest(s.address.url, "GET", "/v1/engines")).status, 404);
  const wrongMethod = await rawRequest(s.address.url, "GET", "/v1/chat/completions");
  assert.equal(wrongMethod.status, 405);
  assert.equal(errorBody(wrongMethod).code, "method_not_allowed");
});

test("a body over the limit is a 413, whether its Content-Length says so or not", async () => {
  const big = JSON.stringify({ model: MODEL_ID, prompt: "x".repeat(70 * 1024) });
  const declared = await rawRequest(s.address.url, "POST", "/v1/completions", big);
  assert.equal(declared.status, 413);
  assert.equal(errorBody(declared).code, "request_too_large");
  // Chunked: no Content-Length, so the server counts while reading.
  const chunked = await new Promise<RawResponse>((resolve, reject) => {
    const req = httpRequest(`${s.address.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    for (let i = 0; i < 70; i++) req.write("x".repeat(1024));
    req.end();
  });
  assert.equal(chunked.status, 413);
  assert.match(errorBody(chunked).message, /65536/);
  // The server is still fine afterwards.
  assert.equal((await rawRequest(s.address.url, "GET", "/health")).status, 200);
});

/** What a raw socket gets after sending `head` and `body` (written at once): the bytes, and the socket error if any. */
async function rawExchange(port: number, head: string, body: readonly Buffer[]): Promise<{ answer: string; error: NodeJS.ErrnoException | undefined }> {
  const socket = connect(port, "127.0.0.1");
  let answer = "";
  let error: NodeJS.ErrnoException | undefined;
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString("utf8")));
  socket.on("error", (e: NodeJS.ErrnoException) => (error = e));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.write(head);
  for (const part of body) socket.write(part);
  await closed;
  return { answer, error };
}

test("past the limit the body is read to its end before the 413, so a client still sending sees the answer, not a reset", { timeout: 60_000 }, async () => {
  // Far more than loopback's socket buffers hold: a server that answered and closed with the body
  // unread would make the kernel reset the connection while the client is still writing (EPIPE).
  const bodyBytes = 32 * 1024 * 1024;
  const part = Buffer.alloc(1024 * 1024, 0x78);
  const parts = Array.from({ length: bodyBytes / part.length }, () => part);
  const head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  const declared = await rawExchange(s.address.port, `${head}Content-Length: ${bodyBytes}\r\n\r\n`, parts);
  assert.equal(declared.error, undefined, `${declared.error?.code}: the client saw ${JSON.stringify(declared.answer.slice(0, 80))}`);
  assert.match(declared.answer, /^HTTP\/1\.1 413 [^]*\r\nconnection: close\r\n[^]*"code":"request_too_large"/i);
  const chunkedParts = parts.map((p) => Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from("\r\n")]));
  const chunked = await rawExchange(s.address.port, `${head}Transfer-Encoding: chunked\r\n\r\n`, [...chunkedParts, Buffer.from("0\r\n\r\n")]);
  assert.equal(chunked.error, undefined, `${chunked.error?.code}: the client saw ${JSON.stringify(chunked.answer.slice(0, 80))}`);
  assert.match(chunked.answer, /^HTTP\/1\.1 413 [^]*"code":"request_too_large"/);
  // A body declared longer than the limit plus MAX_DISCARDED_BODY_BYTES is not waited for: the 413 comes at once.
  const huge = await rawExchange(s.address.port, `${head}Content-Length: ${64 * 1024 + MAX_DISCARDED_BODY_BYTES + 1}\r\n\r\n`, []);
  assert.match(huge.answer, /^HTTP\/1\.1 413 /);
});

test("the openai client reports a 413 as an APIError with status 413, after exactly one request (no retries)", { timeout: 60_000 }, async () => {
  // Default retries (2): a connection error instead of the 413 would be sent three times.
  const client = new OpenAI({ baseURL: s.baseURL, apiKey: "none" });
  const before = s.logs.length;
  await assert.rejects(client.chat.completions.create({ model: MODEL_ID, messages: [{ role: "user", content: "x".repeat(8 * 1024 * 1024) }] }), (error: unknown) => {
    assert.ok(error instanceof OpenAI.APIError, String(error));
    assert.equal(error.status, 413, String(error));
    assert.equal(error.code, "request_too_large");
    return true;
  });
  assert.deepEqual(s.logs.slice(before).map((line) => line.split(" ").slice(0, 3).join(" ")), ["POST /v1/chat/completions 413"]);
});

test("a full queue is a 429 with Retry-After", async () => {
  const busy = await startServer({ maxBatch: 1, maxQueue: 0 });
  try {
    // One long request takes the only place; the next is refused at once.
    const controller = new AbortController();
    const first = fetch(`${busy.address.url}/v1/completions`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL_ID, prompt: "Hello", max_tokens: 2000, stream: true }),
      signal: controller.signal,
    });
    const firstResponse = await first;
    assert.equal(firstResponse.status, 200);
    await waitFor(() => busy.server.admittedSequences === 1, 5000, "the first request to be admitted");
    const refused = await rawRequest(busy.address.url, "POST", "/v1/completions", { model: MODEL_ID, prompt: "Hi", max_tokens: 1 });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers["retry-after"], "1");
    const error = errorBody(refused);
    assert.equal(error.code, "queue_full");
    assert.equal(error.type, "rate_limit_exceeded");
    // A request needing more sequences than the server ever runs is a 400 naming n.
    const tooMany = await rawRequest(busy.address.url, "POST", "/v1/completions", { model: MODEL_ID, prompt: "Hi", max_tokens: 1, n: 2 });
    assert.equal(tooMany.status, 400);
    assert.equal(errorBody(tooMany).param, "n");
    controller.abort();
    await firstResponse.body?.cancel().catch(() => {});
    await waitFor(() => busy.server.admittedSequences === 0, 5000, "the cancelled request to free its place");
    const accepted = await rawRequest(busy.address.url, "POST", "/v1/completions", { model: MODEL_ID, prompt: "Hi", max_tokens: 1 });
    assert.equal(accepted.status, 200, accepted.text);
  } finally {
    await busy.close();
  }
});

test("an unexpected failure is a 500 without a stack trace or the error's text", async () => {
  const failures: unknown[] = [];
  const broken: ServerEngine = {
    activeCount: 0,
    queuedCount: 0,
    submit() {
      throw new TypeError("secret detail: cannot read properties of undefined (reading 'kv')");
    },
  };
  const b = await startServer({ engine: broken, onError: (error) => failures.push(error) });
  try {
    for (const stream of [false, true]) {
      const response = await rawRequest(b.address.url, "POST", "/v1/chat/completions", { model: MODEL_ID, messages: [{ role: "user", content: "Hi" }], stream });
      assert.equal(response.status, 500);
      const error = errorBody(response);
      assert.equal(error.type, "server_error");
      assert.doesNotMatch(response.text, /secret|TypeError|\bat \S+ \(|\.js:\d+/);
    }
    assert.equal(failures.length, 2);
    assert.match(String(failures[0]), /secret detail/);
    assert.match(b.logs.join("\n"), /POST \/v1\/chat\/completions 500/);
  } finally {
    await b.close();
  }
});
