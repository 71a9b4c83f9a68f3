// Child process of the speed benchmark (speed.ts): loads one checkpoint with one dtype on the
// WebAssembly backend in a fresh process (so load time and peak RSS are its own), then measures
// prefill and decode as llama.cpp's anchor does (llamacpp_bench.mjs): prefill = a 128-token prompt
// (BOS + 127 fixed pseudo-random ids) plus picking the first token; decode = 64 further greedy
// steps; a short warm-up first; medians over the repetitions. Prints one JSON line. With --tokens
// FILE it instead decodes the prompts of a llamacpp_ref.mjs output greedily and prints our tokens.

import { readFileSync } from "node:fs";
import { type OpStats, createWasmBackend } from "../src/backend/wasm/index.js";
import { preferredKernelBuild } from "../src/kernels/wasm/module.js";
import { type DTypeOption, LlamaForCausalLM } from "../src/loader/pretrained.js";
import type { KvCache } from "../src/model/kv-cache.js";
import { weightBytes } from "../src/model/weights.js";
import { anchorPrompt } from "./speed-anchor-prompt.js";

export { anchorPrompt };

interface ChildArgs {
  dir: string;
  dtype: DTypeOption;
  threads: number;
  promptTokens: number;
  genTokens: number;
  reps: number;
  tokensFile: string | undefined;
}

function parseChildArgs(argv: readonly string[]): ChildArgs {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    dir: value("--dir")!,
    dtype: value("--dtype") as DTypeOption,
    threads: Number(value("--threads") ?? 2),
    promptTokens: Number(value("--prompt-tokens") ?? 128),
    genTokens: Number(value("--gen-tokens") ?? 64),
    reps: Number(value("--reps") ?? 3),
    tokensFile: value("--tokens"),
  };
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const args = parseChildArgs(process.argv.slice(2));
const baselineRssBytes = process.resourceUsage().maxRSS * 1024;
const loadStart = performance.now();
const backend = await createWasmBackend({ threads: args.threads });
const model = await LlamaForCausalLM.fromPretrained(args.dir, { dtype: args.dtype, backend });
const loadSeconds = (performance.now() - loadStart) / 1000;
const newCache = (maxSeqLen: number): KvCache => model.createKvCache({ maxSeqLen, allocator: backend });

interface Run {
  tokens: number[];
  prefillSeconds: number;
  decodeSeconds: number;
  /** Seconds per op (backend.opStats) in each phase. */
  prefillOps: Record<string, OpStats>;
  decodeOps: Record<string, OpStats>;
}

/** Prefill `prompt`, then `nGen` greedy steps; the tokens and the two phases' seconds. */
async function run(prompt: readonly number[], nGen: number): Promise<Run> {
  const cache = newCache(prompt.length + nGen + 16);
  backend.resetOpStats();
  const t0 = performance.now();
  const tokens = [argmax(await model.forward(prompt, cache))];
  const t1 = performance.now();
  const prefillOps = backend.opStats();
  backend.resetOpStats();
  for (let i = 0; i < nGen; i++) tokens.push(argmax(await model.forward([tokens.at(-1)!], cache)));
  const t2 = performance.now();
  cache.release();
  return { tokens, prefillSeconds: (t1 - t0) / 1000, decodeSeconds: (t2 - t1) / 1000, prefillOps, decodeOps: backend.opStats() };
}

if (args.tokensFile !== undefined) {
  const ref = JSON.parse(readFileSync(args.tokensFile, "utf8")) as { results: { prompt_ids: number[]; generated_ids: number[] }[] };
  const results = [];
  for (const r of ref.results) results.push((await run(r.prompt_ids, r.generated_ids.length - 1)).tokens);
  console.log(JSON.stringify({ tokens: results }));
} else {
  const prompt = anchorPrompt(args.promptTokens);
  await run(prompt.slice(0, Math.min(16, args.promptTokens)), 4); // warm-up, as the anchor does
  const prefill: number[] = [];
  const decode: number[] = [];
  let last: Run | undefined;
  for (let r = 0; r < args.reps; r++) {
    last = await run(prompt, args.genTokens);
    prefill.push(args.promptTokens / last.prefillSeconds);
    decode.push(args.genTokens / last.decodeSeconds);
  }
  console.log(JSON.stringify({
    dtype: args.dtype, build: preferredKernelBuild(), weightDType: model.weights.layers[0]!.attnQ.dtype, threads: backend.nThreads, loadSeconds,
    prefillTokS: median(prefill), decodeTokS: median(decode), prefillRuns: prefill, decodeRuns: decode,
    weightBytes: weightBytes(model.weights), arenaBytes: backend.arena.usedBytes(), baselineRssBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024,
    prefillSeconds: last?.prefillSeconds, decodeSeconds: last?.decodeSeconds, prefillOps: last?.prefillOps, decodeOps: last?.decodeOps,
  }));
}
await backend.close();
