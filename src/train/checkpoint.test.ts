// Checkpoints: save then load gives back the masters, AdamW's moments and step, and the run record
// exactly; an optimizer restored from it takes the same next step as the one that never stopped;
// damaged or foreign folders are FormatErrors; a rebuilt run of another shape is refused.

import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirsRemovedAfter } from "../../test/support/checkpoints.js";
import { ArgumentError, FormatError } from "../errors.js";
import { Rng } from "../tensor/rng.js";
import { AdamW } from "./adamw.js";
import { hasCheckpoint, loadCheckpoint, restoreParams, saveCheckpoint, settingsDiff } from "./checkpoint.js";
import type { TrainParam } from "./params.js";

const tempDir = tempDirsRemovedAfter();

function params(seed: number): TrainParam[] {
  const rng = new Rng(seed);
  const make = (name: string, shape: number[], decay: boolean): TrainParam => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { name, shape, decay, data: Float32Array.from({ length: n }, () => rng.normal()), grad: Float32Array.from({ length: n }, () => rng.normal()) };
  };
  return [make("model.layers.0.self_attn.q_proj.weight", [4, 3], true), make("model.norm.weight", [3], false)];
}

test("save -> load round-trips masters, moments and state; the resumed optimizer's next step equals the uninterrupted one", async () => {
  const a = params(1);
  const optA = new AdamW(a, { weightDecay: 0.01 });
  optA.update(1e-2);
  optA.update(5e-3);
  const dir = join(tempDir("ckpt"), "run.checkpoint");
  const settings = { batchSize: 2, lora: null, data: "train.jsonl" };
  const log = [{ step: 1, lr: 1e-2, loss: 2.5, gradNorm: 1.25 }, { step: 2, lr: 5e-3, loss: 2.25, gradNorm: 0.5 }];
  await saveCheckpoint(dir, a, optA.state(), { step: 2, settings, log });
  assert.ok(hasCheckpoint(dir));

  const loaded = await loadCheckpoint(dir);
  assert.deepEqual(loaded.state, { step: 2, settings, log });
  assert.equal(loaded.optimizer.step, 2);
  const b = params(99); // other values: everything must come from the checkpoint
  b.forEach((p, i) => p.grad.set(a[i]!.grad));
  restoreParams(b, loaded.params);
  const optB = new AdamW(b, { weightDecay: 0.01 });
  optB.loadState(loaded.optimizer);
  optA.update(2e-3);
  optB.update(2e-3);
  b.forEach((p, i) => assert.deepEqual(p.data, a[i]!.data, `${p.name} after the resumed step`));

  await saveCheckpoint(dir, a, optA.state(), { step: 3, settings, log });
  assert.equal((await loadCheckpoint(dir)).state.step, 3, "a newer checkpoint replaces the old one");
});

test("foreign, damaged and mismatched checkpoints are refused", async () => {
  const p = params(2);
  const opt = new AdamW(p);
  const dir = join(tempDir("ckpt-bad"), "c");
  await saveCheckpoint(dir, p, opt.state(), { step: 0, settings: {}, log: [] });
  assert.throws(() => restoreParams([p[0]!], new Map([[p[0]!.name, p[0]!.data], [p[1]!.name, p[1]!.data]])), ArgumentError);
  assert.throws(() => restoreParams([{ ...p[0]!, name: "other" }], new Map([[p[0]!.name, p[0]!.data]])), /has no other/);
  assert.throws(() => restoreParams([{ ...p[0]!, data: new Float32Array(2) }], new Map([[p[0]!.name, p[0]!.data]])), /12 values; this run's has 2/);
  rmSync(join(dir, "optimizer.safetensors"));
  await assert.rejects(loadCheckpoint(dir), (e: unknown) => e instanceof FormatError && /incomplete/.test(e.message));
  writeFileSync(join(dir, "trainer_state.json"), JSON.stringify({ format: "something-else" }));
  await assert.rejects(loadCheckpoint(dir), FormatError);
  await assert.rejects(loadCheckpoint(tempDir("empty")), /not a training checkpoint/);
  assert.deepEqual(settingsDiff({ batchSize: 2, seed: 1 }, { batchSize: 4, seed: 1 }), ["batchSize: was 2, now 4"]);
});
