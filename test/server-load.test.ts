// A bounded load test: 64 concurrent streaming chat requests from the official openai client (in a
// worker thread, as separate clients would be), served once one sequence at a time (engine maxBatch
// 1: each request runs alone, the reference) and once with continuous batching. Every request must
// be answered completely and correctly: each batched greedy answer equals that prompt's answer when
// run alone. Throughput of both runs is printed; it is informational, correctness is what is asserted.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import type { LoadClientsInput, StreamedAnswer } from "./server-load-clients.js";
import { MODEL_ID, startServer } from "./server-support.js";

const CLIENTS = 64;
const MAX_TOKENS = 4;
const BATCH = 16;

function runClients(input: LoadClientsInput): Promise<StreamedAnswer[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./server-load-clients.js", import.meta.url), { workerData: input });
    worker.once("message", (message: { answers?: StreamedAnswer[]; error?: string }) => {
      void worker.terminate();
      if (message.answers !== undefined) resolve(message.answers);
      else reject(new Error(`load clients failed: ${message.error}`));
    });
    worker.once("error", reject);
  });
}

/** Serve all clients at once with the engine's maxBatch: answers in request order, seconds, the largest batch seen. */
async function serveAll(maxBatch: number): Promise<{ answers: StreamedAnswer[]; seconds: number; peakActive: number }> {
  const s = await startServer({ maxBatch, maxQueue: CLIENTS });
  let peakActive = 0;
  const sampler = setInterval(() => (peakActive = Math.max(peakActive, s.engine.activeCount)), 1);
  try {
    const started = performance.now();
    const answers = await runClients({ baseURL: s.baseURL, model: MODEL_ID, clients: CLIENTS, maxTokens: MAX_TOKENS });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(s.server.admittedSequences, 0);
    assert.equal(s.logs.filter((line) => /^POST \/v1\/chat\/completions 200 prompt_tokens=\d+ completion_tokens=\d+/.test(line)).length, CLIENTS);
    return { answers, seconds, peakActive };
  } finally {
    clearInterval(sampler);
    await s.close();
  }
}

test(`${CLIENTS} concurrent streaming requests are all answered; batched answers equal single-request ones`, async () => {
  const alone = await serveAll(1);
  const batched = await serveAll(BATCH);
  assert.equal(alone.peakActive, 1);
  assert.ok(batched.peakActive > 1, `the engine never ran more than ${batched.peakActive} sequence at once`);
  assert.equal(alone.answers.length, CLIENTS);
  assert.equal(batched.answers.length, CLIENTS);
  for (let i = 0; i < CLIENTS; i++) {
    const a = alone.answers[i]!;
    assert.deepEqual(batched.answers[i], a, `request ${i}`);
    assert.ok(a.wellFormed, `request ${i}`);
    assert.ok(a.completionTokens >= 1 && a.completionTokens <= MAX_TOKENS, `request ${i}`);
    assert.ok(a.finishReason === "length" || a.finishReason === "stop", `request ${i}`);
  }
  // Different prompts get different answers, so the comparison above can tell requests apart.
  assert.ok(new Set(alone.answers.map((a) => a.text)).size > CLIENTS / 2);
  const tokens = alone.answers.reduce((n, a) => n + a.completionTokens, 0);
  const rate = (r: { seconds: number }): string => `${(tokens / r.seconds).toFixed(1)} tokens/s (${r.seconds.toFixed(2)} s)`;
  console.log(`load: ${CLIENTS} streams x ${MAX_TOKENS} tokens: one at a time ${rate(alone)}; batched (maxBatch ${BATCH}, peak ${batched.peakActive} active) ${rate(batched)}`);
});
