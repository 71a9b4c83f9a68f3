// `llama3 finetune` end to end, in-process: the PyTorch fixtures reproduce from the command line
// (pre-tokenized data holding the fixture's batch, the flags, --json step lines), full and
// LoRA; the outputs load; Ctrl-C saves a checkpoint and --resume continues with the same losses as
// an uninterrupted run; bad input fails with one line and leaves no output.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CliIo } from "../src/cli/command.js";
import { runCli } from "../src/cli/main.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { readPeftAdapter } from "../src/train/peft.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";
import { fixturePath } from "./support/paths.js";
import { TRAIN_MODEL, type TrainFixture, maxAbsDiff, readTrainFixture } from "./support/train-fixture.js";

const tempDir = tempDirsRemovedAfter();
const BASE = fixturePath("hf", TRAIN_MODEL);
// The reference kernels (the specification; float64 sums): the default wasm backend sums in float32
// lanes, a third float32 summation order whose final weights land within ~4x PyTorch's own float32
// drift rather than a small multiple of it (train-core's test/train-wasm.test.ts checks it).
const FIXTURE_FLAGS = ["--backend", "reference", "--batch-size", "2", "--max-steps", "6", "--learning-rate", "1e-2", "--warmup-steps", "2", "--weight-decay", "0.01", "--max-grad-norm", "1.0", "--lr-scheduler", "linear", "--dtype", "float32", "--json"];

interface Run { code: number; stdout: string; stderr: string; steps: { step: number; lr: number; loss: number; grad_norm: number; tokens_per_s: number }[] }

/** Run the CLI in-process; `interruptAfter` sends Ctrl-C once that many step lines are out. */
async function cli(argv: string[], interruptAfter?: number): Promise<Run> {
  let stdout = "";
  let stderr = "";
  let handler: (() => void) | undefined;
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
      if (interruptAfter !== undefined && stdout.split("\n").length - 1 === interruptAfter) handler?.();
    },
    stdoutBytes: () => undefined,
    stderr: (text) => { stderr += text; },
    readStdin: async () => new Uint8Array(),
    onInterrupt: (h) => {
      handler = h;
      return () => { handler = undefined; };
    },
  };
  const code = await runCli(argv, io);
  const steps = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Run["steps"][number]);
  return { code, stdout, stderr, steps };
}

/** The fixture's batch as two pre-tokenized JSONL lines. */
function fixtureData(fixture: TrainFixture, dir: string): string {
  const { rows, seqLen, inputIds, attentionMask, labels } = fixture.batch;
  const lines = Array.from({ length: rows }, (_, r) => JSON.stringify({
    input_ids: [...inputIds.subarray(r * seqLen, (r + 1) * seqLen)],
    attention_mask: [...attentionMask.subarray(r * seqLen, (r + 1) * seqLen)],
    labels: [...labels.subarray(r * seqLen, (r + 1) * seqLen)],
  }));
  const file = join(dir, "batch.jsonl");
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** Steps against the fixture, with train-core's tolerances (test/train-steps.test.ts): before any
 * move (steps 1, 2 at lr 0 and the first update) 1e-6 relative, then twice PyTorch's own relative
 * float32 drift of the final loss. */
function assertSteps(run: Run, fixture: TrainFixture): void {
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.steps.length, fixture.steps.length);
  const drift = 2 * (fixture.checks.final_loss_f32_minus_f64 / fixture.finalLoss);
  run.steps.forEach((s, i) => {
    const golden = fixture.steps[i]!;
    const relative = i < 2 ? 1e-6 : drift;
    assert.equal(s.step, i + 1);
    assert.ok(Math.abs(s.lr - golden.lr) <= 1e-15, `step ${i + 1}: lr ${s.lr}, golden ${golden.lr}`);
    assert.ok(Math.abs(s.loss - golden.loss) <= relative * golden.loss, `step ${i + 1}: loss ${s.loss}, golden ${golden.loss}`);
    assert.ok(Math.abs(s.grad_norm - golden.grad_norm) <= relative * golden.grad_norm, `step ${i + 1}: grad_norm ${s.grad_norm}, golden ${golden.grad_norm}`);
    assert.ok(s.tokens_per_s > 0);
  });
}

async function probe(model: LlamaForCausalLM, fixture: TrainFixture): Promise<number> {
  const logits = await model.forward([...fixture.probeIds], model.createKvCache({ maxSeqLen: fixture.probeIds.length }));
  return maxAbsDiff(logits, fixture.probeLogitsLast);
}

test("llama3 finetune --json reproduces the full fine-tuning fixture; the output folder loads with PyTorch's final weights and probe logits", async () => {
  const fixture = readTrainFixture("full");
  const dir = tempDir("ft-full");
  const out = join(dir, "out");
  const run = await cli(["finetune", "--model", BASE, "--data", fixtureData(fixture, dir), "--output", out, ...FIXTURE_FLAGS]);
  assertSteps(run, fixture);
  assert.equal(existsSync(`${out}.checkpoint`), false, "a finished run removes its checkpoint");
  const model = await LlamaForCausalLM.fromPretrained(out);
  assert.equal(model.config.storedDType, "f32", "saved in the dtype it was trained in");
  const limit = 4 * fixture.checks.final_param_max_abs_f32_minus_f64;
  const q = fixture.final.get("model.layers.1.self_attn.q_proj.weight")!;
  const diffQ = maxAbsDiff((model.weights.layers[1]!.attnQ as { data: Float32Array }).data, q.data);
  assert.ok(diffQ <= limit, `final q_proj differs by ${diffQ}`);
  const diff = await probe(model, fixture);
  assert.ok(diff <= 4 * fixture.checks.probe_logits_max_abs_f32_minus_f64, `probe logits differ by ${diff}`);
});

test("llama3 finetune --lora-init reproduces the LoRA fixture; the adapter folder holds PyTorch's final A and B", async () => {
  const fixture = readTrainFixture("lora-qv");
  const dir = tempDir("ft-lora");
  const out = join(dir, "adapter");
  const init = fixturePath("train", `lora-qv-${TRAIN_MODEL}`, "initial");
  const run = await cli(["finetune", "--model", BASE, "--data", fixtureData(fixture, dir), "--output", out, "--lora-init", init, ...FIXTURE_FLAGS]);
  assertSteps(run, fixture);
  const { adapter, dropout } = await readPeftAdapter(out);
  assert.equal(dropout, 0, "the dropout of the --lora-init folder");
  const limit = 4 * fixture.checks.final_param_max_abs_f32_minus_f64;
  const b = fixture.final.get("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight")!;
  assert.ok(maxAbsDiff(adapter.layers[0]!.v_proj!.b, b.data) <= limit);
  const model = await LlamaForCausalLM.fromPretrained(BASE, { adapter: out });
  const diff = await probe(model, fixture);
  assert.ok(diff <= 4 * fixture.checks.probe_logits_max_abs_f32_minus_f64, `probe logits differ by ${diff}`);
});

test("Ctrl-C saves a checkpoint and no output; --resume continues with the uninterrupted run's losses", async () => {
  const dir = tempDir("ft-resume");
  const data = join(dir, "rows.jsonl");
  // Rows of different lengths: batches pad, so the model gets a <pad> row (no tokenizer: id 512).
  writeFileSync(data, Array.from({ length: 6 }, (_, i) => JSON.stringify({ input_ids: Array.from({ length: 4 + i }, (_, t) => (17 * i + 5 * t) % 512) })).join("\n"));
  const flags = ["--model", BASE, "--data", data, "--batch-size", "2", "--gradient-accumulation-steps", "2", "--max-steps", "5", "--learning-rate", "1e-3", "--warmup-steps", "1", "--dtype", "float32", "--json"];
  const whole = await cli(["finetune", ...flags, "--output", join(dir, "whole")]);
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stderr, /added <pad> \(id 512\)/);
  const out = join(dir, "parted");
  const first = await cli(["finetune", ...flags, "--output", out], 2);
  assert.equal(first.code, 1);
  assert.match(first.stderr, /interrupted after step 2 of 5: checkpoint saved in .*parted\.checkpoint; continue with the same command and --resume/);
  assert.equal(existsSync(out), false, "no output folder for an interrupted run");
  const refused = await cli(["finetune", ...flags, "--output", out]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--resume/);
  const changed = await cli(["finetune", ...flags.map((f) => (f === "1e-3" ? "2e-3" : f)), "--resume", out]);
  assert.equal(changed.code, 2);
  assert.match(changed.stderr, /learning_rate: was 0\.001, now 0\.002/);
  const rest = await cli(["finetune", ...flags, "--resume", out]);
  assert.equal(rest.code, 0, rest.stderr);
  const strip = (r: Run) => r.steps.map(({ step, lr, loss, grad_norm }) => ({ step, lr, loss, grad_norm }));
  assert.deepEqual([...strip(first), ...strip(rest)], strip(whole), "the same steps, bit for bit");
  // The resized embedding and head live in the wasm backend's memory and are trained there: the
  // reference kernels (here with --gradient-checkpointing, which recomputes each layer) give the same losses (float32 summation order apart; 1e-5 relative is far
  // below a step's change of the loss, which a stale copy of the head would show from step 2 on).
  const reference = await cli(["finetune", ...flags, "--backend", "reference", "--gradient-checkpointing", "--output", join(dir, "reference")]);
  assert.equal(reference.code, 0, reference.stderr);
  reference.steps.forEach((s, i) => assert.ok(Math.abs(s.loss - whole.steps[i]!.loss) <= 1e-5 * s.loss, `step ${s.step}: wasm ${whole.steps[i]!.loss}, reference ${s.loss}`));
  assert.ok(Math.abs(whole.steps[4]!.loss - whole.steps[0]!.loss) > 1e-3 * whole.steps[0]!.loss, "the loss moves, so a stale head would show");
  const a = await LlamaForCausalLM.fromPretrained(join(dir, "whole"));
  const b = await LlamaForCausalLM.fromPretrained(out);
  assert.deepEqual(b.weights.layers[0]!.ffnUp.data, a.weights.layers[0]!.ffnUp.data);
  assert.equal(b.config.padTokenId, 512);
});

test("bad input: one line naming file, line and field; nothing written", async () => {
  const dir = tempDir("ft-bad");
  const out = join(dir, "out");
  const data = join(dir, "bad.jsonl");
  writeFileSync(data, `${JSON.stringify({ input_ids: [1, 2, 3] })}\n${JSON.stringify({ input_ids: [1, 2, 9999] })}\n`);
  const run = await cli(["finetune", "--model", BASE, "--data", data, "--output", out, "--max-steps", "1"]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /bad\.jsonl:2: input_ids\[2\]: token id 9999 is outside the model's vocabulary \[0, 512\)/);
  writeFileSync(data, JSON.stringify({ text: "hello" }));
  const noTokenizer = await cli(["finetune", "--model", BASE, "--data", data, "--output", out, "--max-steps", "1"]);
  assert.equal(noTokenizer.code, 1);
  assert.match(noTokenizer.stderr, /bad\.jsonl:1: text: text needs a tokenizer/);
  const usage = await cli(["finetune", "--model", BASE, "--data", data, "--output", out, "--lora-r", "0"]);
  assert.equal(usage.code, 2);
  assert.equal(existsSync(out), false);
  assert.equal(existsSync(`${out}.checkpoint`), false);
});

test("--dtype float16 trains with loss scaling (skipped steps in the JSON lines) and saves float16", async () => {
  const fixture = readTrainFixture("full");
  const dir = tempDir("ft-f16");
  const data = fixtureData(fixture, dir);
  const out = join(dir, "f16");
  const run = await cli(["finetune", "--model", BASE, "--data", data, "--output", out, "--batch-size", "2", "--max-steps", "4", "--learning-rate", "1e-3", "--dtype", "float16", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.steps.length, 4);
  for (const s of run.steps as unknown as { skipped: boolean; loss_scale: number; loss: number }[]) assert.ok(typeof s.skipped === "boolean" && s.loss_scale > 0 && Number.isFinite(s.loss));
  const saved = await LlamaForCausalLM.fromPretrained(out);
  assert.equal(saved.config.storedDType, "f16");
});
