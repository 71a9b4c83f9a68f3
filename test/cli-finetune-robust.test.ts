// `llama3 finetune` when things go wrong, through the real CLI entry in-process: a run that diverges
// (a NaN loss) fails with the step, after saving the last good checkpoint, which --resume loads; bad
// input of every kind the issue lists fails with a message naming file, line and field (or the
// adapter, or the disk) and leaves no output folder, no checkpoint and no temporary sibling. A final
// write that fails keeps the trained steps in a checkpoint of the last step, from which --resume
// writes the very output an undisturbed run writes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { mock } from "node:test";
import { join } from "node:path";
import type { CliIo } from "../src/cli/command.js";
import { finetuneCommand } from "../src/cli/finetune.js";
import { TrainedOutputError } from "../src/cli/finetune-run.js";
import { runCli } from "../src/cli/main.js";
import { NumericalError, ShapeError } from "../src/errors.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Rng } from "../src/tensor/rng.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { initLoraAdapter } from "../src/train/lora.js";
import { writePeftAdapter } from "../src/train/peft.js";
import { runCliCaptured } from "./support/cli.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";
import { fixturePath } from "./support/paths.js";
import { TRAIN_MODEL } from "./support/train-fixture.js";

const tempDir = tempDirsRemovedAfter();
const BASE = fixturePath("hf", TRAIN_MODEL);

/** `n` pre-tokenized rows of 8 ids in the fixture's 512-token vocabulary. */
function rows(dir: string, n: number): string {
  const file = join(dir, "rows.jsonl");
  writeFileSync(file, `${Array.from({ length: n }, (_, i) => JSON.stringify({ input_ids: Array.from({ length: 8 }, (_, t) => (17 * i + 5 * t) % 512) })).join("\n")}\n`);
  return file;
}

/** An io that keeps what the command writes (for calling the command itself, to see the error's type). */
function quietIo(): CliIo & { err: string[]; out: string[] } {
  const err: string[] = [];
  const out: string[] = [];
  return { err, out, stdout: (t) => void out.push(t), stdoutBytes: () => undefined, stderr: (t) => void err.push(t), readStdin: async () => new Uint8Array() };
}

test("a diverging run: NumericalError naming the step, exit 1, the last good checkpoint saved and resumable, no output folder", async () => {
  const dir = tempDir("ft-nan");
  const out = join(dir, "out");
  // A real divergence, not an injected NaN: AdamW's decoupled decay at lr 10 and weight decay 100
  // multiplies every decayed weight by 1 - 1000 per step, so activations overflow float32 within a
  // few steps (the loss is NaN at step 7 on this fixture; steps 1-6 are finite).
  const flags = ["--model", BASE, "--data", rows(dir, 4), "--backend", "reference", "--dtype", "float32", "--learning-rate", "10", "--weight-decay", "100", "--lr-scheduler", "constant", "--max-steps", "30", "--json"];
  const run = await runCliCaptured(["finetune", ...flags, "--output", out]);
  assert.equal(run.code, 1, run.stderr);
  const steps = run.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { step: number; loss: number });
  assert.ok(steps.length >= 1 && steps.length < 30, `diverged after ${steps.length} steps`);
  const bad = steps.length + 1;
  for (const s of steps) assert.ok(Number.isFinite(s.loss), `step ${s.step} reported a finite loss`);
  assert.match(run.stderr, new RegExp(`llama3 finetune: step ${bad}: the loss is NaN; the weights are left as they were after step ${bad - 1}; the last good state \\(step ${bad - 1}\\) is saved in .*out\\.checkpoint`));
  assert.equal(existsSync(out), false, "no output folder");
  assert.deepEqual(readdirSync(dir).sort(), ["out.checkpoint", "rows.jsonl"], "no temporary folder left beside it");
  const saved = await loadCheckpoint(`${out}.checkpoint`);
  assert.equal(saved.state.step, bad - 1);
  assert.equal(saved.optimizer.step, bad - 1);
  assert.deepEqual(saved.state.log.map((l) => l.loss), steps.map((s) => s.loss), "the log of the good steps");
  for (const [name, values] of saved.params) assert.ok(values.every(Number.isFinite), `${name} is finite in the saved state`);
  // --resume loads it and continues at the failing step (no step is redone; the same settings
  // diverge again, deterministically): the typed error, and the checkpoint kept as it was.
  const io = quietIo();
  await assert.rejects(finetuneCommand.run([...flags, "--resume", out], io), (e: unknown) => e instanceof NumericalError && new RegExp(`^step ${bad}: the loss is NaN.*checkpoint of step ${bad - 1} in .*out\\.checkpoint is kept`).test(e.message));
  assert.deepEqual(io.out, [], "no step was redone");
  assert.equal((await loadCheckpoint(`${out}.checkpoint`)).state.step, bad - 1);
  assert.equal(existsSync(out), false);
});

/** Nothing but the inputs is left in `dir`: no output, no checkpoint, no temporary sibling. */
function assertNothingWritten(dir: string, inputs: readonly string[], what: string): void {
  assert.deepEqual(readdirSync(dir).sort(), [...inputs].sort(), `${what}: nothing written beside the inputs`);
}

test("bad data: malformed JSONL, labels of the wrong length, an id outside the vocabulary, an empty file, examples left empty by --max-seq-len; each names file, line and field, and nothing is written", async () => {
  const dir = tempDir("ft-bad-data");
  const out = join(dir, "out");
  const data = join(dir, "data.jsonl");
  const cases: { what: string; text: string; extra?: string[]; message: RegExp }[] = [
    { what: "malformed JSONL", text: `${JSON.stringify({ input_ids: [1, 2, 3] })}\n{"input_ids": [1, 2\n`, message: /data\.jsonl:2: .*not valid JSON/ },
    { what: "labels of the wrong length", text: `${JSON.stringify({ input_ids: [1, 2, 3], labels: [1, 2] })}\n`, message: /data\.jsonl:1: labels: .*has 2 entries; input_ids has 3/ },
    { what: "an id outside the vocabulary", text: `${JSON.stringify({ input_ids: [1, 2, 999999] })}\n`, message: /data\.jsonl:1: input_ids\[2\]: .*999999 is outside the model's vocabulary \[0, 512\)/ },
    { what: "an empty dataset", text: "\n\n", message: /data\.jsonl: .*no examples/ },
    // --max-seq-len truncates (with a warning, below); an example whose labels all fall past the cut is dropped, and a file left with none is an error.
    { what: "every example's labels past --max-seq-len", text: `${JSON.stringify({ input_ids: [1, 2, 3, 4], labels: [-100, -100, -100, 4] })}\n`, extra: ["--max-seq-len", "2"], message: /data\.jsonl: .*none of its 1 examples/ },
  ];
  for (const c of cases) {
    writeFileSync(data, c.text);
    const run = await runCliCaptured(["finetune", "--model", BASE, "--data", data, "--output", out, "--backend", "reference", "--max-steps", "1", ...(c.extra ?? [])]);
    assert.equal(run.code, 1, `${c.what}: ${run.stderr}`);
    assert.match(run.stderr, c.message, c.what);
    assert.equal(run.stderr.split("\n").filter((l) => l.startsWith("llama3 finetune:")).length, 1, `${c.what}: one error line`);
    assertNothingWritten(dir, ["data.jsonl"], c.what);
  }
});

test("a sequence longer than --max-seq-len is truncated to its first tokens, with a warning saying how many", async () => {
  const dir = tempDir("ft-long");
  const out = join(dir, "out");
  const run = await runCliCaptured(["finetune", "--model", BASE, "--data", rows(dir, 3), "--output", out, "--backend", "reference", "--dtype", "float32", "--max-steps", "1", "--max-seq-len", "4"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /warning: .*rows\.jsonl: 3 of 3 examples were longer than 4 tokens/);
  assert.equal(existsSync(out), true);
});

test("--lora-init with an adapter for another model (hidden size 128, not 64): a ShapeError naming the tensor, nothing written", async () => {
  const dir = tempDir("ft-foreign");
  const out = join(dir, "out");
  const { config } = await LlamaForCausalLM.fromPretrained(BASE);
  const wider = { ...config, dim: 128, headDim: 32 };
  await writePeftAdapter(join(dir, "adapter"), initLoraAdapter(wider, { rng: new Rng(1) }));
  const data = rows(dir, 2);
  const run = await runCliCaptured(["finetune", "--model", BASE, "--data", data, "--output", out, "--backend", "reference", "--max-steps", "1", "--lora-init", join(dir, "adapter")]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^llama3 finetune: the adapter does not fit the model: tensor base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight has shape \[8, 128\], expected \[8, 64\]$/m);
  const argv = ["--model", BASE, "--data", data, "--output", out, "--backend", "reference", "--max-steps", "1", "--lora-init", join(dir, "adapter")];
  await assert.rejects(finetuneCommand.run(argv, quietIo()), (e: unknown) => e instanceof ShapeError && e.tensor.endsWith("q_proj.lora_A.weight"));
  assertNothingWritten(dir, ["adapter", "rows.jsonl"], "foreign adapter");
});

/** A disk that fills up: `room` bytes more fit (Infinity: no limit yet); past them FileHandle.write
 * moves what fits (a short write, as write(2) does), then fails with ENOSPC as Node reports it. */
interface FillingDisk { room: number; failed: number }

/** Run `body` with every FileHandle.write to a file in `dir` going through a {@link FillingDisk}
 * (the real writes, limited; files elsewhere, on "another disk", are not). Linux: a handle's path
 * is read from /proc/self/fd. */
async function withFillingDisk<T>(dir: string, room: number, body: (disk: FillingDisk) => Promise<T>): Promise<{ disk: FillingDisk; result: T }> {
  const onDisk = `${realpathSync(dir)}/`;
  const probePath = join(dir, ".probe");
  const probe = await open(probePath, "w");
  const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<{ bytesWritten: number; buffer: unknown }> };
  await probe.close();
  rmSync(probePath);
  const original = proto.write;
  const disk: FillingDisk = { room, failed: 0 };
  mock.method(proto, "write", async function (this: { fd: number }, buffer: Uint8Array, offset: number, length: number, position: number) {
    if (!readlinkSync(`/proc/self/fd/${this.fd}`).startsWith(onDisk)) return original.call(this, buffer, offset, length, position);
    if (disk.room <= 0) {
      disk.failed += 1;
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
    }
    const n = Math.min(length, disk.room);
    disk.room -= n;
    return original.call(this, buffer, offset, n, position);
  });
  try {
    return { disk, result: await body(disk) };
  } finally {
    mock.restoreAll();
  }
}

/** Every file of `dir` by name, with its bytes. */
function folderBytes(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((name) => [name, readFileSync(join(dir, name))]));
}

/** The output of the same run undisturbed (in a folder of its own). */
async function undisturbedOutput(argv: readonly string[], what: string): Promise<Map<string, Buffer>> {
  const out = join(tempDir(`ft-${what}-clean`), "out");
  const run = await runCliCaptured(["finetune", ...argv, "--output", out]);
  assert.equal(run.code, 0, run.stderr);
  return folderBytes(out);
}

/** `--resume out` of a run whose checkpoint holds every step: no step trained, the output written. */
async function resumeToOutput(argv: readonly string[], out: string): Promise<Map<string, Buffer>> {
  const run = await runCliCaptured(["finetune", ...argv, "--resume", out]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "", "no step was trained again");
  assert.match(run.stderr, /out\.checkpoint holds all 2 steps: writing the output/);
  assert.equal(existsSync(`${out}.checkpoint`), false, "the checkpoint is removed once the output holds the result");
  return folderBytes(out);
}

test("a full disk while the output is written (ENOSPC from the file system's write, through the real atomic save): no output folder, the trained steps saved on another disk, from which --resume writes the undisturbed run's output", async () => {
  const dir = tempDir("ft-full-disk");
  const other = tempDir("ft-other-disk");
  const out = join(dir, "out");
  const data = rows(dir, 2);
  const argv = ["--model", BASE, "--data", data, "--backend", "reference", "--dtype", "float32", "--max-steps", "2", "--json"];
  // The disk of `dir` fills after 64 KiB (within the output's safetensors), so the checkpoint beside
  // the output fails too; the OS temp folder (TMPDIR) is another disk, with room.
  const tmpBefore = process.env["TMPDIR"];
  process.env["TMPDIR"] = other;
  const { disk, result: run } = await withFillingDisk(dir, 64 * 1024, () => runCliCaptured(["finetune", ...argv, "--output", out])).finally(() => {
    if (tmpBefore === undefined) delete process.env["TMPDIR"];
    else process.env["TMPDIR"] = tmpBefore;
  });
  assert.ok(disk.failed > 0, "the simulated disk filled up");
  assert.equal(run.code, 1, run.stderr);
  const [rescue, ...more] = readdirSync(other);
  assert.ok(rescue !== undefined && more.length === 0, `one folder on the other disk: ${readdirSync(other).join(", ")}`);
  const line = run.stderr.split("\n").find((l) => l.startsWith("llama3 finetune:")) ?? "";
  assert.match(line, /^llama3 finetune: cannot write .*out: ENOSPC: no space left on device, write; nothing was written there; nor could the trained state be saved in .*out\.checkpoint: ENOSPC: no space left on device, write; the 2 trained steps are saved in (.*): when that is fixed, move that folder to .*out\.checkpoint and run the same command with --resume .*out to write the output \(no step is trained again\)$/);
  assert.ok(line.includes(join(other, rescue)), "the message names the folder the state went to");
  assert.doesNotMatch(run.stderr, /unexpected error/);
  assertNothingWritten(dir, ["rows.jsonl"], "full disk");
  assert.equal((await loadCheckpoint(join(other, rescue))).state.step, 2, "a checkpoint of the last step");
  // As the message says: the folder moved beside the output, the same command with --resume.
  renameSync(join(other, rescue), `${out}.checkpoint`);
  assert.deepEqual(await resumeToOutput(argv, out), await undisturbedOutput(argv, "full-disk"), "the output of the run that did not fail, byte for byte");
});

test("an output folder that appears while training runs (LoRA): a TrainedOutputError, the trained steps saved beside it, --resume writes the undisturbed run's adapter", async () => {
  const dir = tempDir("ft-appeared");
  const out = join(dir, "out");
  const argv = ["--model", BASE, "--data", rows(dir, 4), "--backend", "reference", "--dtype", "float32", "--lora", "--max-steps", "2", "--json"];
  // Someone else's folder, made while the last step runs (its report comes before the output is written).
  const io: CliIo = {
    ...quietIo(),
    stdout: (t) => {
      if (!t.startsWith('{"step":2,')) return;
      mkdirSync(out);
      writeFileSync(join(out, "theirs.txt"), "not the trainer's");
    },
  };
  await assert.rejects(finetuneCommand.run([...argv, "--output", out], io), (e: unknown) => {
    assert.ok(e instanceof TrainedOutputError, String(e));
    assert.equal(e.step, 2);
    assert.equal(e.keptIn, `${out}.checkpoint`);
    assert.match(e.message, /^output folder .*out exists and is not empty; .*; the 2 trained steps are saved in .*out\.checkpoint: when that is fixed, run the same command with --resume .*out to write the output/);
    return true;
  });
  assert.deepEqual(readdirSync(out), ["theirs.txt"], "their folder is left as it was");
  assertNothingWritten(dir, ["out", "out.checkpoint", "rows.jsonl"], "appeared output");
  rmSync(out, { recursive: true });
  assert.deepEqual(await resumeToOutput(argv, out), await undisturbedOutput(argv, "appeared"), "the adapter of the run that did not fail, byte for byte");
});

test("a full disk while a --save-steps checkpoint is written: a clear error, the previous checkpoint kept as it was, no output", async () => {
  const dir = tempDir("ft-full-disk-ckpt");
  const out = join(dir, "out");
  const data = rows(dir, 4);
  const argv = ["finetune", "--model", BASE, "--data", data, "--output", out, "--backend", "reference", "--dtype", "float32", "--max-steps", "4", "--save-steps", "1", "--json"];
  const { disk, result: stderr } = await withFillingDisk(dir, Number.POSITIVE_INFINITY, async (d) => {
    let err = "";
    const io: CliIo = {
      // Step 2's line comes before its checkpoint is saved: the disk is full from then on.
      stdout: (t) => { if (t.startsWith('{"step":2,')) d.room = 0; },
      stdoutBytes: () => undefined,
      stderr: (t) => { err += t; },
      readStdin: async () => new Uint8Array(),
    };
    assert.equal(await runCli(argv, io), 1);
    return err;
  });
  assert.ok(disk.failed > 0, "the simulated disk filled up");
  assert.match(stderr, /^llama3 finetune: cannot write the checkpoint .*out\.checkpoint: ENOSPC: no space left on device, write; an earlier checkpoint there is kept as it was$/m);
  assert.equal((await loadCheckpoint(`${out}.checkpoint`)).state.step, 1, "step 1's checkpoint, whole");
  assertNothingWritten(dir, ["out.checkpoint", "rows.jsonl"], "full disk at a checkpoint");
});
