// Resumable training checkpoints: the float32 master of every trained tensor, AdamW's moments and
// step, and a JSON record of where the run is (optimizer step, the settings that must not change,
// the step log), as Trainer's checkpoint-N folders hold model, optimizer.pt, scheduler.pt and
// trainer_state.json. Safetensors, never pickles. Written atomically (a temporary sibling renamed
// over the previous checkpoint), so an interrupted save leaves the last good one.
//
// Layout: `params.safetensors` (the masters by their HF / PEFT names), `optimizer.safetensors`
// (`NAME.exp_avg`, `NAME.exp_avg_sq`), `trainer_state.json`. The caller decides where the folder
// lives (`llama3 finetune` keeps it beside its output, `OUT.checkpoint`).

import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFolderAtomically } from "../convert/output-folder.js";
import { ArgumentError, FormatError } from "../errors.js";
import { openSafetensors } from "../io/safetensors.js";
import { writeSafetensors, type TensorToWrite } from "../io/safetensors-writer.js";
import { isJsonObject, parseJsonText, readTextFile, type JsonObject } from "../json.js";
import type { AdamWMoments, AdamWState } from "./adamw.js";
import type { GradScalerState } from "./grad-scaler.js";
import type { TrainParam } from "./params.js";

/** trainer_state.json's `format`, so a folder of something else is not mistaken for a checkpoint. */
export const CHECKPOINT_FORMAT = "llama3-ts-training-checkpoint";
export const CHECKPOINT_VERSION = 1;
const STATE_FILE = "trainer_state.json";
const PARAMS_FILE = "params.safetensors";
const OPTIMIZER_FILE = "optimizer.safetensors";

/** One optimizer step as the log and `--json` report it. */
export interface StepLog {
  readonly step: number;
  readonly lr: number;
  readonly loss: number;
  readonly gradNorm: number;
}

/** What a checkpoint records besides tensors. */
export interface CheckpointState {
  /** Optimizer steps done. */
  readonly step: number;
  /** Settings a resumed run must share (model, data, batch, LoRA...), compared key by key. */
  readonly settings: JsonObject;
  readonly log: readonly StepLog[];
  /** float16 runs: the loss scaler's state (torch's scaler.pt) */
  readonly gradScaler?: GradScalerState;
}

/**
 * Write a checkpoint folder, replacing an older one at `dir` atomically.
 * @throws the file system's errors (the previous checkpoint is then intact)
 */
export async function saveCheckpoint(dir: string, params: readonly TrainParam[], optimizer: AdamWState, state: CheckpointState): Promise<void> {
  const tensor = (name: string, shape: readonly number[], data: Float32Array): TensorToWrite => ({ name, dtype: "f32", shape, data: { dtype: "f32", shape, data } });
  const paramTensors = params.map((p) => tensor(p.name, p.shape, p.data));
  const momentTensors = params.flatMap((p) => {
    const m = optimizer.moments.get(p.name);
    if (m === undefined) throw new ArgumentError(`optimizer state has no moments for ${p.name}`);
    return [tensor(`${p.name}.exp_avg`, p.shape, m.expAvg), tensor(`${p.name}.exp_avg_sq`, p.shape, m.expAvgSq)];
  });
  const json = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    global_step: state.step,
    optimizer_step: optimizer.step,
    settings: state.settings,
    log_history: state.log.map((s) => ({ step: s.step, learning_rate: s.lr, loss: s.loss, grad_norm: s.gradNorm })),
    ...(state.gradScaler === undefined ? {} : { grad_scaler: { scale: state.gradScaler.scale, growth_tracker: state.gradScaler.growthTracker } }),
  };
  await writeFolderAtomically(dir, async (temp) => {
    await writeSafetensors(join(temp, PARAMS_FILE), paramTensors, { metadata: { format: "pt" } });
    await writeSafetensors(join(temp, OPTIMIZER_FILE), momentTensors, { metadata: { format: "pt" } });
    await writeFile(join(temp, STATE_FILE), `${JSON.stringify(json, null, 2)}\n`);
  }, { overwrite: true });
}

/** A checkpoint read back. */
export interface LoadedCheckpoint {
  readonly state: CheckpointState;
  readonly optimizer: AdamWState;
  /** The masters by name. */
  readonly params: ReadonlyMap<string, Float32Array>;
}

/** Whether `dir` holds a checkpoint. */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, STATE_FILE));
}

/**
 * Read a checkpoint folder.
 * @throws FormatError for a folder that is not a checkpoint of this version, or whose files are
 *   damaged or incomplete
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const statePath = join(dir, STATE_FILE);
  if (!existsSync(statePath)) throw new FormatError(dir, `not a training checkpoint (no ${STATE_FILE})`);
  const json = parseJsonText(await readTextFile(statePath), statePath);
  if (!isJsonObject(json) || json["format"] !== CHECKPOINT_FORMAT) throw new FormatError(statePath, `not a llama3-ts training checkpoint (format is not "${CHECKPOINT_FORMAT}")`);
  if (json["version"] !== CHECKPOINT_VERSION) throw new FormatError(statePath, `checkpoint version ${JSON.stringify(json["version"])}; this llama3-ts reads version ${CHECKPOINT_VERSION}`);
  const step = json["global_step"];
  const optimizerStep = json["optimizer_step"];
  if (!isCount(step) || !isCount(optimizerStep)) throw new FormatError(statePath, "global_step and optimizer_step must be integers >= 0");
  const settings = json["settings"];
  if (!isJsonObject(settings)) throw new FormatError(statePath, "settings must be an object");
  const history = json["log_history"];
  if (!Array.isArray(history)) throw new FormatError(statePath, "log_history must be a list");
  const log = history.map((entry: unknown, i): StepLog => {
    // grad_norm null: a step loss scaling skipped (its norm was inf/NaN, which JSON cannot hold).
    if (!isJsonObject(entry) || ![entry["step"], entry["learning_rate"], entry["loss"]].every((v) => typeof v === "number") || !(typeof entry["grad_norm"] === "number" || entry["grad_norm"] === null)) {
      throw new FormatError(statePath, `log_history[${i}] must hold numbers step, learning_rate, loss, grad_norm`);
    }
    return { step: entry["step"] as number, lr: entry["learning_rate"] as number, loss: entry["loss"] as number, gradNorm: entry["grad_norm"] === null ? Number.POSITIVE_INFINITY : entry["grad_norm"] as number };
  });
  const scalerJson = json["grad_scaler"];
  let gradScaler: GradScalerState | undefined;
  if (scalerJson !== undefined) {
    if (!isJsonObject(scalerJson) || typeof scalerJson["scale"] !== "number" || !(scalerJson["scale"] > 0) || !isCount(scalerJson["growth_tracker"])) {
      throw new FormatError(statePath, "grad_scaler must hold a positive scale and an integer growth_tracker >= 0");
    }
    gradScaler = { scale: scalerJson["scale"], growthTracker: scalerJson["growth_tracker"] };
  }
  const params = await readAllF32(join(dir, PARAMS_FILE));
  const raw = await readAllF32(join(dir, OPTIMIZER_FILE));
  const moments = new Map<string, AdamWMoments>();
  for (const name of params.keys()) {
    const expAvg = raw.get(`${name}.exp_avg`);
    const expAvgSq = raw.get(`${name}.exp_avg_sq`);
    if (expAvg === undefined || expAvgSq === undefined) throw new FormatError(join(dir, OPTIMIZER_FILE), `no moments for ${name}`);
    moments.set(name, { expAvg, expAvgSq });
  }
  return { state: { step, settings, log, ...(gradScaler === undefined ? {} : { gradScaler }) }, optimizer: { step: optimizerStep, moments }, params };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

async function readAllF32(path: string): Promise<Map<string, Float32Array>> {
  if (!existsSync(path)) throw new FormatError(path, "missing: the checkpoint is incomplete");
  const file = await openSafetensors(path);
  try {
    const out = new Map<string, Float32Array>();
    for (const name of file.entries.keys()) {
      const t = await file.read(name);
      if (t.dtype !== "f32") throw new FormatError(path, `tensor ${name} is ${t.dtype}; checkpoints hold float32`);
      out.set(name, t.data);
    }
    return out;
  } finally {
    await file.close();
  }
}

/**
 * Copy a checkpoint's masters into the parameters of a run rebuilt the same way.
 * @throws ArgumentError naming a parameter the checkpoint lacks or holds in another size
 */
export function restoreParams(params: readonly TrainParam[], saved: ReadonlyMap<string, Float32Array>): void {
  for (const p of params) {
    const values = saved.get(p.name);
    if (values === undefined) throw new ArgumentError(`the checkpoint has no ${p.name}; it was made by another kind of run`);
    if (values.length !== p.data.length) throw new ArgumentError(`the checkpoint's ${p.name} has ${values.length} values; this run's has ${p.data.length}`);
    p.data.set(values);
  }
  if (saved.size !== params.length) throw new ArgumentError(`the checkpoint holds ${saved.size} tensors; this run trains ${params.length}`);
}

/**
 * The settings of a resumed run that differ from the checkpoint's, as "key: was X, now Y" lines.
 * @example settingsDiff({ batchSize: 2 }, { batchSize: 4 }) // ["batchSize: was 2, now 4"]
 */
export function settingsDiff(saved: JsonObject, now: JsonObject): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  return keys.filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k])).map((k) => `${k}: was ${JSON.stringify(saved[k])}, now ${JSON.stringify(now[k])}`);
}
