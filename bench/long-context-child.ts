// Child process of bench/long-context.ts: loads the synthetic checkpoint at argv[2] on the wasm
// backend, prefills argv[3] tokens into a KV cache of dtype argv[4] with argv[5] threads, and prints
// one JSON line: prefill seconds, the cache's bytes, resident memory after loading and at peak
// (VmRSS / VmHWM from /proc/self/status: the kernel's own accounting, wasm memories included).

import { readFileSync } from "node:fs";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import type { KvDType } from "../src/model/kv-cache.js";

function statusBytes(field: "VmRSS" | "VmHWM"): number {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(`${field}:`));
  return Number(line?.match(/(\d+)/)?.[1] ?? Number.NaN) * 1024;
}

const [dir, nText, dtype, threadsText] = process.argv.slice(2) as [string, string, KvDType, string];
const nTokens = Number(nText);
const backend = await createWasmBackend({ threads: Number(threadsText) });
try {
  const model = await LlamaForCausalLM.fromPretrained(dir, { backend });
  const prompt = Array.from({ length: nTokens }, (_, i) => (i * 7919 + 13) % model.config.vocabSize);
  await model.forward(prompt.slice(0, 16), model.createKvCache({ maxSeqLen: 16, dtype })); // warm the kernels
  const loadedRss = statusBytes("VmRSS");
  const cache = model.createKvCache({ maxSeqLen: nTokens, dtype });
  const start = performance.now();
  await model.forward(prompt, cache);
  const prefillSeconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ nTokens, dtype, prefillSeconds, cacheBytes: cache.byteLength, loadedRss, rssAfter: statusBytes("VmRSS"), peakRss: statusBytes("VmHWM"), attentionSeconds: backend.opStats()["attention"]?.seconds ?? 0 }));
} finally {
  await backend.close();
}
