// Child process of the train benchmark (train.ts): loads one checkpoint in one dtype on the
// WebAssembly backend in a fresh process (so its peak RSS is its own), runs warm-up steps and then
// timed optimizer steps (forward, loss, backward, clipping, AdamW: Trainer.step) of full fine-tuning
// or LoRA r 8 on q_proj, v_proj (dropout 0) on a seeded random batch, and with --profile one more
// step under the CPU profiler (train-profile.ts). Prints one JSON line: seconds per step, the
// breakdown, peak RSS (VmHWM) and the byte counts peak RSS is judged against.

import { readFileSync } from "node:fs";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { type DTypeOption, LlamaForCausalLM } from "../src/loader/pretrained.js";
import { preferredKernelBuild } from "../src/kernels/wasm/module.js";
import { weightBytes } from "../src/model/weights.js";
import { Rng } from "../src/tensor/rng.js";
import { allocateLayerActivations } from "../src/train/activations.js";
import type { TrainBatch } from "../src/train/batch.js";
import { Trainer } from "../src/train/trainer.js";
import { profileStep } from "./train-profile.js";

/** Peak resident set of this process (VmHWM), bytes. */
export function peakRssBytes(): number {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
  return line === undefined ? process.resourceUsage().maxRSS * 1024 : Number(line.split(/\s+/)[1]) * 1024;
}

const argv = process.argv.slice(2);
const value = (name: string, fallback: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1]! : fallback;
};
const dir = value("--dir", "");
const dtype = value("--dtype", "float32") as DTypeOption;
const lora = argv.includes("--lora");
const checkpointing = argv.includes("--gradient-checkpointing");
const threads = Number(value("--threads", "2"));
const rows = Number(value("--rows", "4"));
const seqLen = Number(value("--seq-len", "128"));
const steps = Number(value("--steps", "2"));
const warmup = Number(value("--warmup", "1"));

const baselineRssBytes = peakRssBytes();
const backend = await createWasmBackend({ threads });
const model = await LlamaForCausalLM.fromPretrained(dir, { dtype, backend });
const { config } = model;
const rng = new Rng(1);
const ids = Int32Array.from({ length: rows * seqLen }, () => rng.int(config.vocabSize));
const batch: TrainBatch = { rows, seqLen, inputIds: ids, attentionMask: new Uint8Array(ids.length).fill(1), labels: ids };
const trainer = new Trainer(model, {
  maxSteps: warmup + steps + 1, learningRate: 1e-5, gradientCheckpointing: checkpointing, ...(lora ? { lora: { rank: 8, alpha: 16, dropout: 0 } } : {}),
});
const loadedRssBytes = peakRssBytes();
const stepSeconds: number[] = [];
let loss = Number.NaN;
for (let s = 0; s < warmup + steps; s++) {
  const t0 = performance.now();
  loss = trainer.step([batch]).loss;
  if (s >= warmup) stepSeconds.push((performance.now() - t0) / 1000);
}
const peak = peakRssBytes();
const profile = argv.includes("--profile") ? await profileStep(() => trainer.step([batch])) : undefined;

// What peak RSS is judged against: the weights the kernels read, the float32 masters beside them
// (bf16 mixed precision, and the adapter), gradients and both AdamW moments, and the activations
// the forward keeps (activations.ts: every layer's, or with checkpointing each layer's input and one
// layer's recomputed set) plus logits.
const n = rows * seqLen;
const trainable = trainer.params.params.reduce((sum, p) => sum + p.data.length, 0);
const mastersApart = lora || dtype !== "float32";
const perLayer = Object.values(allocateLayerActivations(config, 1)).reduce((sum: number, a) => sum + (ArrayBuffer.isView(a) ? a.byteLength : 0), 0) * n;
const activationBytes = (checkpointing ? config.nLayers * n * config.dim * 4 + perLayer : config.nLayers * perLayer) + n * config.vocabSize * 4 + 2 * n * config.dim * 4;
console.log(JSON.stringify({
  dtype, lora, checkpointing, threads, rows, seqLen, stepSeconds, loss, build: preferredKernelBuild(), node: process.versions.node,
  weightBytes: weightBytes(model.weights), nTrainable: trainable, trainStateBytes: trainable * 4 * (mastersApart ? 4 : 3), activationBytes,
  baselineRssBytes, loadedRssBytes, peakRssBytes: peak, ...(profile === undefined ? {} : { profile }),
}));
await backend.close();
