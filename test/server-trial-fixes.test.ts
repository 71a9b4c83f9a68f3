// The server fixes a client trial asked for (issue 13; the 413 ones are in server-errors.test.ts):
// the log line of a cancelled request counts the tokens generated for it, streamed (real engine) or
// not (an engine that generates a known number of tokens and then waits to be cancelled); a stream
// queued behind a full batch gets SSE keep-alive comments while it waits, clients read through them,
// and its log line says how long it was queued; keepAliveMs is bounded by Node's timer limit. Tiny
// real-vocabulary model, loopback.

import { test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import OpenAI from "openai";
import { GenerationRun } from "../src/generate/engine.js";
import type { GenerationOptions, SequenceOutput } from "../src/generate/types.js";
import { ArgumentError } from "../src/errors.js";
import { LlamaServer, MAX_SSE_KEEPALIVE_MS, type ServerEngine, type ServerRun } from "../src/server/index.js";
import { MODEL_ID, loadTiny, sseData, startServer, waitFor } from "./server-support.js";

/** A prompt whose greedy reply from the tiny model runs to max_tokens (the lifecycle tests use it too). */
const ENDLESS = [{ role: "user" as const, content: "Talk forever." }];

/** A streamed chat request over raw HTTP: the body text as it arrives, and a way to hang up. */
function rawStream(url: string, body: object): { text: () => string; ended: Promise<void>; destroy: () => void } {
  let text = "";
  let req: ReturnType<typeof httpRequest> | undefined;
  const ended = new Promise<void>((resolve, reject) => {
    req = httpRequest(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve());
      res.on("error", () => resolve());
    });
    req.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" ? resolve() : reject(error)));
    req.end(JSON.stringify({ model: MODEL_ID, stream: true, temperature: 0, ...body }));
  });
  return { text: () => text, ended, destroy: () => req!.destroy() };
}

test("the log line of a stream cancelled mid-way counts the tokens it streamed", async () => {
  const s = await startServer();
  try {
    const stream = rawStream(s.address.url, { messages: ENDLESS, max_tokens: 4000 });
    const contentChunks = (): number => sseData(stream.text()).filter((d) => d !== "[DONE]" && (JSON.parse(d) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content).length;
    await waitFor(() => contentChunks() >= 10, 20_000, "ten streamed chunks");
    const received = contentChunks();
    stream.destroy();
    await waitFor(() => s.logs.some((line) => line.startsWith("POST /v1/chat/completions 499")), 5000, "the log line");
    const line = s.logs.find((l) => l.startsWith("POST /v1/chat/completions 499"))!;
    const logged = Number(/completion_tokens=(\d+)/.exec(line)?.[1]);
    // Every chunk the client got carries at least one token; a few more may have been generated
    // before the cancellation reached the engine, never the 4000 asked for.
    assert.ok(logged >= received && logged < 4000, `${line} after ${received} chunks`);
  } finally {
    await s.close();
  }
});

/**
 * An engine whose every sequence generates `tokensPerSequence` tokens, then waits (as a long
 * generation does) until its request's signal is aborted and fails, as GenerationEngine's runs do:
 * the run is the engine's own GenerationRun, so its events are buffered whether or not anyone reads them.
 */
class StallingEngine implements ServerEngine {
  readonly activeCount = 0;
  readonly queuedCount = 0;
  /** Tokens generated so far, over every sequence submitted. */
  generated = 0;

  constructor(private readonly tokensPerSequence: number) {}

  submit(_promptIds: readonly number[], options: GenerationOptions): ServerRun {
    const run = new GenerationRun<SequenceOutput>(() => {});
    const signal = options.signal!;
    signal.addEventListener("abort", () => run.fail(signal.reason), { once: true });
    void (async () => {
      for (let i = 0; i < this.tokensPerSequence && !signal.aborted; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        run.emit({ type: "token", sequence: 0, tokenId: 9906, text: "Hello" });
        this.generated++;
      }
    })();
    return run;
  }
}

test("the log line of a request that is not streamed and is cancelled counts the tokens generated (chat, completions with n=2, responses)", async () => {
  const tokens = 7;
  const engine = new StallingEngine(tokens);
  const s = await startServer({ engine });
  const requests = [
    { path: "/v1/chat/completions", body: { messages: [{ role: "user", content: "Hi" }] }, sequences: 1 },
    { path: "/v1/completions", body: { prompt: "Hi", max_tokens: 100, n: 2 }, sequences: 2 },
    { path: "/v1/responses", body: { input: "Hi" }, sequences: 1 },
  ];
  const logged: Record<string, number> = {};
  try {
    for (const { path, body, sequences } of requests) {
      engine.generated = 0;
      const client = new AbortController();
      const pending = fetch(`${s.address.url}${path}`, { method: "POST", body: JSON.stringify({ model: MODEL_ID, ...body }), signal: client.signal }).catch(() => undefined);
      await waitFor(() => engine.generated === tokens * sequences, 5000, `${path}: ${tokens} tokens per sequence`);
      client.abort();
      await pending;
      const line = (): string | undefined => s.logs.find((l) => l.startsWith(`POST ${path} 499`));
      await waitFor(() => line() !== undefined, 5000, `${path}: the log line`);
      logged[path] = Number(/ completion_tokens=(\d+) /.exec(line()!)?.[1]);
    }
    // Exact: the engine generated these tokens, and no more, before the client went away.
    assert.deepEqual(logged, Object.fromEntries(requests.map((r) => [r.path, tokens * r.sequences])), s.logs.join("\n"));
  } finally {
    await s.close();
  }
});

test("a stream queued behind a full batch gets keep-alives, clients read through them, and the log says how long it waited", async () => {
  const s = await startServer({ maxBatch: 1, maxQueue: 4, keepAliveMs: 20 });
  try {
    // One long request fills the batch of one.
    const blocker = new AbortController();
    const blocking = fetch(`${s.address.url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL_ID, messages: ENDLESS, max_tokens: 4000, temperature: 0 }),
      signal: blocker.signal,
    }).catch(() => undefined);
    await waitFor(() => s.engine.activeCount === 1, 10_000, "the blocking request to start");
    // Queued behind it: a raw stream, and the openai client's stream.
    const queued = rawStream(s.address.url, { messages: [{ role: "user", content: "Hi" }], max_tokens: 5 });
    const client = new OpenAI({ baseURL: s.baseURL, apiKey: "none", maxRetries: 0 });
    const viaClient = (async () => {
      const chunks = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: "user", content: "Hello" }], max_tokens: 5, temperature: 0, stream: true });
      let content = "";
      let finish: string | null = null;
      for await (const chunk of chunks) {
        content += chunk.choices[0]?.delta.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      return { content, finish };
    })();
    await waitFor(() => queued.text().includes(": keep-alive\n\n"), 10_000, "a keep-alive while queued");
    // Only the opening role chunk, sent as soon as the request is accepted; no token yet.
    assert.deepEqual(sseData(queued.text()).map((d) => (JSON.parse(d) as { choices: { delta: object }[] }).choices[0]!.delta), [{ role: "assistant", content: "" }]);
    assert.ok(s.engine.queuedCount >= 1);
    blocker.abort();
    await blocking;
    await queued.ended;
    const data = sseData(queued.text());
    assert.equal(data.at(-1), "[DONE]");
    const finish = (JSON.parse(data.at(-2)!) as { choices: { finish_reason: string | null }[] }).choices[0]!.finish_reason;
    assert.ok(finish === "length" || finish === "stop", queued.text());
    const answered = await viaClient;
    assert.ok(answered.finish === "length" || answered.finish === "stop", JSON.stringify(answered));
    // Both queued streams log their wait: at least the keep-alive interval that passed first.
    await waitFor(() => s.logs.filter((l) => l.startsWith("POST /v1/chat/completions 200")).length === 2, 5000, "the log lines");
    for (const line of s.logs.filter((l) => l.startsWith("POST /v1/chat/completions 200"))) {
      const waited = Number(/ queue_ms=(\d+) /.exec(line)?.[1]);
      assert.ok(waited >= 20, line);
    }
  } finally {
    await s.close();
  }
});

test("keepAliveMs: 0 up to Node's timer limit; past it (a timer would fire after 1 ms), negative or NaN is an ArgumentError", async () => {
  const { tokenizer } = await loadTiny();
  const make = (keepAliveMs: number): LlamaServer =>
    new LlamaServer({ engine: new StallingEngine(0), model: { id: MODEL_ID, contextLength: 64, tokenizer, stopTokenIds: [], created: 0 }, maxBatch: 1, keepAliveMs });
  for (const ok of [0, 20, MAX_SSE_KEEPALIVE_MS]) assert.ok(make(ok));
  for (const bad of [-1, Number.NaN, MAX_SSE_KEEPALIVE_MS + 1, Number.POSITIVE_INFINITY]) {
    assert.throws(() => make(bad), (e: unknown) => e instanceof ArgumentError && /keepAliveMs must be between 0 and 2147483647/.test(e.message), String(bad));
  }
});
