// `llama3 finetune` option parsing: TrainingArguments defaults, the fixture's command line, LoRA
// switching and defaults, and one UsageError per kind of bad value, naming the flag.

import { test } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "./command.js";
import { FINETUNE_DEFAULTS, parseFinetuneFlags, targetModules } from "./finetune-flags.js";

const USAGE = "llama3 finetune ...";
const BASE = ["--model", "m", "--data", "d.jsonl", "--output", "out"];
const parse = (...extra: string[]) => parseFinetuneFlags([...BASE, ...extra], USAGE);

test("defaults: Trainer's, full fine-tuning at 5e-5 in bfloat16", () => {
  const f = parse();
  assert.deepEqual(
    [f.modelDir, f.dataFile, f.outputDir, f.learningRate, f.maxSteps, f.numTrainEpochs, f.batchSize, f.gradientAccumulationSteps, f.warmupSteps, f.lrScheduler, f.weightDecay, f.maxGradNorm, f.seed, f.dtype, f.maxSeqLen, f.saveSteps, f.json, f.lora],
    ["m", "d.jsonl", "out", 5e-5, undefined, 3, 8, 1, 0, "linear", 0, 1, 42, "bfloat16", 1024, 500, false, undefined],
  );
});

test("the fixture's command line parses to its settings", () => {
  const f = parse("--batch-size", "2", "--max-steps", "6", "--learning-rate", "1e-2", "--warmup-steps", "2", "--weight-decay", "0.01", "--max-grad-norm", "1.0", "--lr-scheduler", "linear", "--dtype", "float32", "--json");
  assert.deepEqual([f.batchSize, f.maxSteps, f.learningRate, f.warmupSteps, f.weightDecay, f.maxGradNorm, f.lrScheduler, f.dtype, f.json], [2, 6, 1e-2, 2, 0.01, 1, "linear", "float32", true]);
});

test("LoRA: on with --lora or any --lora-* flag, PEFT's defaults and 2e-4", () => {
  const plain = parse("--lora");
  assert.deepEqual(plain.lora, { r: 8, alpha: 16, dropout: 0.05, dropoutGiven: false, targetModules: ["q_proj", "v_proj"], initDir: undefined });
  assert.equal(plain.learningRate, FINETUNE_DEFAULTS.learningRateLora);
  const implied = parse("--lora-r", "4", "--lora-target-modules", "v_proj, q_proj,o_proj");
  assert.deepEqual([implied.lora?.r, implied.lora?.targetModules], [4, ["q_proj", "v_proj", "o_proj"]]);
  assert.deepEqual(targetModules("all-linear"), ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]);
  assert.equal(parse("--lora-init", "init", "--lora-dropout", "0").lora?.initDir, "init");
  assert.equal(parse("--lora", "--base-dtype", "q8_0").baseDType, "q8_0");
});

test("--resume continues the run in its folder", () => {
  const f = parseFinetuneFlags(["--data", "d.jsonl", "--resume", "out"], USAGE);
  assert.deepEqual([f.outputDir, f.resume, f.modelDir], ["out", "out", undefined]);
});

test("bad values are UsageErrors naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--data", "d"], /--output/],
    [["--output", "o"], /--data/],
    [[...BASE, "--learning-rate", "0"], /--learning-rate must be between/],
    [[...BASE, "--learning-rate", "fast"], /--learning-rate must be a number/],
    [[...BASE, "--batch-size", "0"], /--batch-size/],
    [[...BASE, "--batch-size", "2.5"], /--batch-size must be an integer/],
    [[...BASE, "--gradient-accumulation-steps", "-1"], /--gradient-accumulation-steps/],
    [[...BASE, "--max-steps", "0"], /--max-steps/],
    [[...BASE, "--max-steps", "5", "--num-train-epochs", "2"], /not both/],
    [[...BASE, "--lr-scheduler", "step"], /--lr-scheduler must be one of linear, cosine, constant/],
    [[...BASE, "--dtype", "q8_0"], /--dtype must be one of bfloat16, float32, float16/],
    [[...BASE, "--base-dtype", "q8_0"], /--base-dtype is for LoRA/],
    [[...BASE, "--max-seq-len", "1"], /--max-seq-len/],
    [[...BASE, "--seed", "-3"], /--seed/],
    [[...BASE, "--weight-decay", "-0.1"], /--weight-decay/],
    [[...BASE, "--lora-dropout", "1"], /--lora-dropout must be in \[0, 1\)/],
    [[...BASE, "--lora-r", "0"], /--lora-r/],
    [[...BASE, "--lora-target-modules", "q_proj,lm_head"], /"lm_head" is not a Llama projection/],
    [[...BASE, "--lora-init", "x", "--lora-r", "4"], /leave out --lora-r/],
    [[...BASE, "--resume", "other"], /same folder/],
    [["--data", "d", "--resume", "o", "--overwrite-output-dir"], /cannot be combined/],
    [[...BASE, "--learning-rat", "1"], /Unknown option/],
    [[...BASE, "--backend", "gpu"], /--backend must be wasm or reference/],
    [[...BASE, "--backend", "reference", "--threads", "2"], /--threads applies to the wasm backend/],
    [[...BASE, "extra"], /unexpected argument/],
  ];
  for (const [argv, pattern] of cases) {
    assert.throws(() => parseFinetuneFlags(argv, USAGE), (e: unknown) => e instanceof UsageError && pattern.test(e.message), `${argv.join(" ")} -> ${pattern}`);
  }
});
