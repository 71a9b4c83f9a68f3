// `llama3 serve` option parsing: the defaults are the server's, each flag reaches its LlamaServer
// option, --keep-alive-ms takes 0 (no keep-alives) up to Node's timer limit, and every bad value is
// a UsageError naming its flag (exit 2 from the CLI, before any model is loaded).

import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_MAX_BATCH } from "../generate/engine.js";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_QUEUE, DEFAULT_SHUTDOWN_TIMEOUT_MS, DEFAULT_SSE_KEEPALIVE_MS, MAX_SSE_KEEPALIVE_MS } from "../server/index.js";
import type { CliIo } from "./command.js";
import { UsageError } from "./command.js";
import { runCli } from "./main.js";
import { parseServeFlags } from "./serve.js";

const MODEL = ["--model", "m"];

test("defaults: the server's own", () => {
  const s = parseServeFlags(MODEL);
  assert.deepEqual(
    [s.host, s.port, s.shutdownTimeoutMs, s.quiet, s.server],
    ["127.0.0.1", 8080, DEFAULT_SHUTDOWN_TIMEOUT_MS, false, { maxBatch: DEFAULT_MAX_BATCH, maxQueue: DEFAULT_MAX_QUEUE, maxBodyBytes: DEFAULT_MAX_BODY_BYTES, keepAliveMs: DEFAULT_SSE_KEEPALIVE_MS, webUi: true, corsOrigins: "*" }],
  );
});

test("each flag sets its server option", () => {
  const s = parseServeFlags([...MODEL, "--port", "0", "--max-batch", "2", "--max-queue", "0", "--max-body-bytes", "2048", "--default-max-tokens", "64", "--shutdown-timeout", "0.5", "--keep-alive-ms", "250", "--no-web-ui", "--quiet"]);
  assert.deepEqual(
    [s.port, s.shutdownTimeoutMs, s.quiet, s.server],
    [0, 500, true, { maxBatch: 2, maxQueue: 0, maxBodyBytes: 2048, keepAliveMs: 250, webUi: false, corsOrigins: "*", chatMaxTokens: 64 }],
  );
  assert.equal(parseServeFlags([...MODEL, "--keep-alive-ms", "0"]).server.keepAliveMs, 0);
  assert.equal(parseServeFlags([...MODEL, "--keep-alive-ms", String(MAX_SSE_KEEPALIVE_MS)]).server.keepAliveMs, MAX_SSE_KEEPALIVE_MS);
});

test("bad values are UsageErrors naming the flag", () => {
  const cases: [string[], RegExp][] = [
    // node:util parseArgs takes a separate "-1" for a flag (naming ours); "=" passes it as the value.
    [["--keep-alive-ms", "-1"], /'--keep-alive-ms' argument is ambiguous/],
    [["--keep-alive-ms=-1"], /--keep-alive-ms must be between 0 and 2147483647, got -1/],
    [["--keep-alive-ms", String(MAX_SSE_KEEPALIVE_MS + 1)], /--keep-alive-ms must be between 0 and 2147483647/],
    [["--keep-alive-ms", "1.5"], /--keep-alive-ms must be an integer, got "1.5"/],
    [["--keep-alive-ms", "1s"], /--keep-alive-ms must be an integer, got "1s"/],
    [["--keep-alive-ms", ""], /--keep-alive-ms must be an integer/],
    [["--keep-alive-ms"], /--keep-alive-ms/],
    [["--keep-alive", "5"], /Unknown option '--keep-alive'/],
    [["--max-batch", "0"], /--max-batch must be between 1/],
    [["--shutdown-timeout", "soon"], /--shutdown-timeout must be a number/],
    [["--cors-origin", "localhost"], /--cors-origin/],
  ];
  for (const [argv, pattern] of cases) {
    assert.throws(() => parseServeFlags([...MODEL, ...argv]), (e: unknown) => e instanceof UsageError && pattern.test(e.message), `${argv.join(" ")} -> ${pattern}`);
  }
});

test("llama3 serve: --help lists --keep-alive-ms; a bad value exits 2 naming it, before loading the model", async () => {
  let stdout = "";
  let stderr = "";
  const io: CliIo = { stdout: (t) => { stdout += t; }, stdoutBytes: () => {}, stderr: (t) => { stderr += t; }, readStdin: async () => new Uint8Array() };
  assert.equal(await runCli(["serve", "--help"], io), 0);
  assert.match(stdout, /--keep-alive-ms N +milliseconds of silence/);
  // The model folder does not exist: reaching the loader would be another error (exit 1).
  assert.equal(await runCli(["serve", "--model", "/no/such/model", "--keep-alive-ms=-5"], io), 2, stderr);
  assert.match(stderr, /--keep-alive-ms must be between 0 and 2147483647, got -5/);
});
