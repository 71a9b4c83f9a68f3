// Child process of the load benchmark: loads one checkpoint with one dtype in a fresh process, so
// that its peak RSS is the loader's alone, and prints one JSON line. With a third argument "wasm"
// the weights go to a WebAssembly backend (every core), as `fromPretrained(dir, { backend })` does.

import type { Backend } from "../src/backend/backend.js";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { LlamaForCausalLM, type DTypeOption } from "../src/loader/pretrained.js";
import { weightBytes } from "../src/model/weights.js";

const [dir, dtype, backendName = "reference"] = process.argv.slice(2) as [string, DTypeOption, string?];
const wasm = backendName === "wasm" ? await createWasmBackend() : undefined;
const baselineRssBytes = process.resourceUsage().maxRSS * 1024;
const start = performance.now();
const model = await LlamaForCausalLM.fromPretrained(dir, { dtype, ...(wasm === undefined ? {} : { backend: wasm as Backend }) });
const loadSeconds = (performance.now() - start) / 1000;
const peakRssBytes = process.resourceUsage().maxRSS * 1024;
const bytes = weightBytes(model.weights);
const rssAfterLoadBytes = process.memoryUsage().rss;
await wasm?.close();
console.log(JSON.stringify({ dtype, backend: backendName, loadSeconds, weightBytes: bytes, baselineRssBytes, peakRssBytes, rssAfterLoadBytes, weightDType: model.weights.layers[0]!.attnQ.dtype }));
