// Child process of the load benchmark: loads one checkpoint with one dtype in a fresh process, so
// that its peak RSS is the loader's alone, and prints one JSON line.

import { LlamaForCausalLM, type DTypeOption } from "../src/loader/pretrained.js";
import { weightBytes } from "../src/model/weights.js";

const [dir, dtype] = process.argv.slice(2) as [string, DTypeOption];
const baselineRssBytes = process.resourceUsage().maxRSS * 1024;
const start = performance.now();
const model = await LlamaForCausalLM.fromPretrained(dir, { dtype });
const loadSeconds = (performance.now() - start) / 1000;
const peakRssBytes = process.resourceUsage().maxRSS * 1024;
const bytes = weightBytes(model.weights);
const rssAfterLoadBytes = process.memoryUsage().rss;
console.log(JSON.stringify({ dtype, loadSeconds, weightBytes: bytes, baselineRssBytes, peakRssBytes, rssAfterLoadBytes, weightDType: model.weights.layers[0]!.attnQ.dtype }));
