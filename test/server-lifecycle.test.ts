// The server's lifecycle under real clients: a client that disconnects mid-stream (or mid-request)
// has its generation cancelled and its place freed at once; and the built `llama3 serve`, given
// SIGTERM with requests in flight, finishes them, refuses new ones with 503, and exits 0.

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { request as httpRequest } from "node:http";
import { fileURLToPath } from "node:url";
import { MODEL_ID, TINY_MODEL_DIR, rawRequest, sseData, startServer, waitFor } from "./server-support.js";

test("a client that disconnects mid-stream has its generation cancelled and its slot freed", async () => {
  const s = await startServer({ maxBatch: 2 });
  try {
    let req: ReturnType<typeof httpRequest> | undefined;
    const firstChunk = await new Promise<string>((resolve, reject) => {
      req = httpRequest(`${s.address.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
        res.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8")));
      });
      req.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" ? undefined : reject(error)));
      req.end(JSON.stringify({ model: MODEL_ID, messages: [{ role: "user", content: "Talk forever." }], max_tokens: 4000, stream: true }));
    });
    assert.match(firstChunk, /^data: /);
    // Generating now: one sequence in the batch. Then the client goes away.
    await waitFor(() => s.engine.activeCount === 1, 5000, "the request to start generating");
    req!.destroy();
    const left = performance.now();
    await waitFor(() => s.engine.activeCount === 0 && s.server.admittedSequences === 0, 2000, "the slot to be freed");
    const freedMs = performance.now() - left;
    await waitFor(() => s.logs.some((line) => line.startsWith("POST /v1/chat/completions 499")), 2000, "the request log line");
    // The same for a request that is not streamed: the client gives up while it is generating.
    const controller = new AbortController();
    const pending = fetch(`${s.address.url}/v1/completions`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL_ID, prompt: "Go on", max_tokens: 4000 }),
      signal: controller.signal,
    });
    await waitFor(() => s.engine.activeCount === 1, 5000, "the request to start generating");
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
    await waitFor(() => s.engine.activeCount === 0 && s.server.admittedSequences === 0, 2000, "the second slot to be freed");
    // The server carries on.
    const after = await rawRequest(s.address.url, "POST", "/v1/completions", { model: MODEL_ID, prompt: "Hi", max_tokens: 2 });
    assert.equal(after.status, 200, after.text);
    assert.ok(freedMs < 2000);
  } finally {
    await s.close();
  }
});

test("a shutdown does not wait past its timeout for a client that never finishes sending its body", async () => {
  const s = await startServer();
  const socket = connect(s.address.port, "127.0.0.1");
  let answer = "";
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString("utf8")));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  // Headers promise 100 bytes of body; only a few arrive.
  socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"pro`);
  await waitFor(() => s.server.requestsInFlight === 1, 2000, "the request to arrive");
  const started = performance.now();
  await s.server.close({ timeoutMs: 200 });
  assert.ok(performance.now() - started < 2000, "close() returned soon after its timeout");
  await closed;
  assert.match(answer, /^HTTP\/1\.1 503 /);
  assert.match(answer, /"code":"server_shutting_down"/);
});

/** The built `llama3` binary next to this compiled test (dist/test -> dist/src/cli/bin.js). */
const BIN = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));

/** Start `llama3 serve` on a free port; resolves with its URL once it prints "listening on". */
function spawnServe(args: readonly string[]): Promise<{ child: ChildProcessWithoutNullStreams; url: string; stderr: () => string; exited: Promise<number | null> }> {
  assert.ok(existsSync(BIN), `${BIN} is missing: build the project first`);
  const child = spawn(process.execPath, [BIN, "serve", "--model", TINY_MODEL_DIR, "--port", "0", ...args]);
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`llama3 serve did not start: ${stderr}`));
    }, 20_000);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      const match = /listening on (http:\/\/[^\s]+)/.exec(stderr);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, stderr: () => stderr, exited });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`llama3 serve exited with ${code} before listening: ${stderr}`));
    });
  });
}

/** Open a streaming completion; resolves when its first event has arrived, with a promise of the whole body. */
function startStream(url: string, prompt: string, maxTokens: number): Promise<{ body: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      const body = new Promise<string>((done, fail) => {
        res.on("end", () => done(text));
        res.on("error", fail);
      });
      res.on("data", (chunk: Buffer) => {
        const first = text === "";
        text += chunk.toString("utf8");
        if (first) resolve({ body });
      });
    });
    req.on("error", reject);
    req.end(JSON.stringify({ model: "tiny-v128256-f32-tied-norope", prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }));
  });
}

test("SIGTERM with requests in flight: they finish, new ones get 503, the process exits 0", async () => {
  const serve = await spawnServe(["--max-batch", "4", "--shutdown-timeout", "30"]);
  try {
    // Long enough that the late request below arrives while these still run (tens of steps).
    const MAX_TOKENS = 64;
    const streams = await Promise.all(["One", "Two", "Three"].map((p) => startStream(serve.url, p, MAX_TOKENS)));
    serve.child.kill("SIGTERM");
    await waitFor(() => serve.stderr().includes("SIGTERM: finishing"), 5000, "the shutdown to begin");
    // The listener stays open while requests finish, so a late client is told why.
    const refused = await rawRequest(serve.url, "POST", "/v1/completions", { prompt: "late", max_tokens: 1 });
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.headers["retry-after"], "1");
    assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, "server_shutting_down");
    for (const stream of streams) {
      const data = sseData(await stream.body);
      assert.equal(data.at(-1), "[DONE]");
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { choices: { finish_reason: string | null }[]; usage?: { completion_tokens: number } | null });
      const finish = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f !== null);
      assert.equal(finish.length, 1);
      const usage = chunks.at(-1)!.usage!;
      // Complete: all MAX_TOKENS generated, unless the model chose a stop token.
      assert.ok(finish[0] === "length" ? usage.completion_tokens === MAX_TOKENS : finish[0] === "stop", JSON.stringify(chunks.at(-1)));
    }
    assert.equal(await serve.exited, 0, serve.stderr());
    assert.match(serve.stderr(), /server stopped/);
    assert.equal(serve.stderr().match(/^POST \/v1\/completions 200 /gm)?.length, 3, serve.stderr());
  } finally {
    serve.child.kill("SIGKILL");
  }
});
