// The running part of `llama3 finetune` (prepared in finetune.ts): drives the training core's loop,
// reports each optimizer step (a JSON line with --json, else a progress bar with loss, tokens/s and
// ETA on a terminal), saves checkpoints every --save-steps and on Ctrl-C, and writes the output
// (a Hugging Face folder, or a PEFT adapter folder for LoRA) when done. When that final write fails
// (a full disk, a permission), the trained state is saved as a checkpoint of the last step (beside
// the output, else in the OS temp folder), which --resume turns into the output without training.

import { LlamaError, NumericalError } from "../errors.js";
import type { JsonObject } from "../json.js";
import { type StepLog, restoreParams, saveCheckpoint } from "../train/checkpoint.js";
import { microBatches } from "../train/data.js";
import { writePeftAdapter } from "../train/peft.js";
import { saveHfModel } from "../train/save.js";
import { type Trainer, train } from "../train/trainer.js";
import type { CliIo } from "./command.js";
import type { PreparedRun } from "./finetune.js";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { createProgress, stderrProgressTarget } from "./progress.js";

/** One optimizer step as reported. */
export interface StepReport {
  readonly step: number;
  readonly lr: number;
  /** before the step */
  readonly loss: number;
  /** before clipping */
  readonly gradNorm: number;
  readonly tokensPerSecond: number;
  /** float16 loss scaling: the update was skipped (inf/NaN gradients) */
  readonly skipped?: boolean;
  /** float16 loss scaling: the scale of this step */
  readonly lossScale?: number;
}

/**
 * The finished run's output could not be written (a file system error): `keptIn` is the checkpoint
 * of the last step that was saved instead (`--resume` writes the output from it), or undefined when
 * that failed too.
 */
export class TrainedOutputError extends LlamaError {
  override readonly name = "TrainedOutputError";
  /** the output folder */
  readonly path: string;
  /** the optimizer steps trained */
  readonly step: number;
  readonly keptIn: string | undefined;
  constructor(message: string, path: string, step: number, keptIn: string | undefined, options: { cause: unknown }) {
    super(message, options);
    this.path = path;
    this.step = step;
    this.keptIn = keptIn;
  }
}

/** The --json line of a step (the issue's field names: step, lr, loss, grad_norm, tokens_per_s). */
export function stepJsonLine(s: StepReport): string {
  return `${JSON.stringify({ step: s.step, lr: s.lr, loss: s.loss, grad_norm: s.gradNorm, tokens_per_s: Math.round(s.tokensPerSecond * 10) / 10, ...(s.lossScale === undefined ? {} : { skipped: s.skipped === true, loss_scale: s.lossScale }) })}\n`;
}

/** "1m05s" style durations for the ETA. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** The step reporter: JSON lines, or a progress bar (silent when stderr is not a terminal). */
export function stepReporter(io: CliIo, json: boolean, totalSteps: number, firstStep: number): { report(s: StepReport): void; finish(): void } {
  if (json) return { report: (s) => io.stdout(stepJsonLine(s)), finish: () => undefined };
  const progress = createProgress(stderrProgressTarget(io), "training", totalSteps);
  const start = performance.now();
  return {
    report(s) {
      const elapsed = (performance.now() - start) / 1000;
      const done = s.step - firstStep;
      const eta = done > 0 ? (elapsed / done) * (totalSteps - s.step) : Number.NaN;
      progress.update(s.step, `loss ${s.loss.toFixed(4)} | ${s.tokensPerSecond.toFixed(0)} tok/s | ETA ${formatDuration(eta)}`);
    },
    finish: () => progress.finish(),
  };
}

/**
 * Run the prepared fine-tuning to the end (or to Ctrl-C) and write its output.
 * @throws NumericalError (with the step) after saving the last good checkpoint; LlamaError when
 *   interrupted (after saving a checkpoint: the message says how to resume)
 */
export async function runFinetuneLoop(run: PreparedRun, io: CliIo): Promise<void> {
  const { flags, model, dataset, totalSteps, resumeFrom } = run;
  const firstStep = resumeFrom?.state.step ?? 0;
  if (firstStep > totalSteps) throw new LlamaError(`${run.checkpointDir} is at step ${firstStep} of ${totalSteps}: nothing left to train`);
  // A checkpoint of the last step: the run whose output could not be written; write it now.
  if (firstStep === totalSteps) io.stderr(`${run.checkpointDir} holds all ${totalSteps} steps: writing the output\n`);
  const controller = new AbortController();
  let routed = true;
  const unroute = io.onInterrupt?.(() => {
    io.stderr("\ninterrupted: finishing the step in flight, then saving a checkpoint (Ctrl-C again quits without saving)\n");
    controller.abort();
    release(); // a second Ctrl-C gets the default behaviour: the process ends
  });
  const release = (): void => {
    if (routed) unroute?.();
    routed = false;
  };
  const log: StepLog[] = [...(resumeFrom?.state.log ?? [])];
  let trainer: Trainer | undefined;
  /** the step of the checkpoint in run.checkpointDir, if there is one */
  let savedStep = resumeFrom?.state.step;
  const saveTo = async (dir: string): Promise<void> => {
    const t = trainer!;
    await saveCheckpoint(dir, t.params.params, t.optimizer.state(), { step: t.stepCount, settings: run.settings as JsonObject, log, ...(t.gradScaler === undefined ? {} : { gradScaler: t.gradScaler.state() }) });
    if (dir === run.checkpointDir) savedStep = t.stepCount;
  };
  const saveState = (): Promise<void> => asWriteError(`the checkpoint ${run.checkpointDir}`, "an earlier checkpoint there is kept as it was", () => saveTo(run.checkpointDir));
  const reporter = stepReporter(io, flags.json, totalSteps, firstStep);
  const batches = (function* () {
    for (const b of microBatches(dataset, { batchSize: flags.batchSize, padTokenId: run.padTokenId, seed: flags.seed, start: firstStep * flags.gradientAccumulationSteps })) yield b.batch;
  })();
  try {
    const events = train(model, batches, {
      maxSteps: totalSteps,
      learningRate: flags.learningRate,
      lrScheduler: flags.lrScheduler,
      warmupSteps: flags.warmupSteps,
      weightDecay: flags.weightDecay,
      maxGradNorm: flags.maxGradNorm,
      seed: flags.seed,
      gradientAccumulationSteps: flags.gradientAccumulationSteps,
      gradientCheckpointing: flags.gradientCheckpointing,
      signal: controller.signal,
      ...(run.adapter === undefined ? {} : { lora: { adapter: run.adapter, dropout: flags.lora!.dropout } }),
      ...(resumeFrom === undefined ? {} : { resume: { step: resumeFrom.state.step, optimizer: resumeFrom.optimizer, ...(resumeFrom.state.gradScaler === undefined ? {} : { gradScaler: resumeFrom.state.gradScaler }) } }),
      onTrainer: (t) => {
        trainer = t;
        if (resumeFrom !== undefined) {
          restoreParams(t.params.params, resumeFrom.params);
          t.params.sync();
        }
      },
    });
    try {
      for await (const e of events) {
        log.push({ step: e.step, lr: e.lr, loss: e.loss, gradNorm: e.gradNorm });
        reporter.report({ step: e.step, lr: e.lr, loss: e.loss, gradNorm: e.gradNorm, tokensPerSecond: e.tokensPerS, skipped: e.skipped, ...(e.lossScale === undefined ? {} : { lossScale: e.lossScale }) });
        if (flags.saveSteps > 0 && e.step % flags.saveSteps === 0 && e.step < totalSteps) await saveState();
      }
    } catch (error) {
      if (error instanceof NumericalError && trainer !== undefined && trainer.stepCount > firstStep) {
        await saveState();
        throw new NumericalError(`${error.message}; the last good state (step ${trainer.stepCount}) is saved in ${run.checkpointDir}`, { cause: error });
      }
      // Diverged at the first step after --resume: the checkpoint it started from is that last good state.
      if (error instanceof NumericalError && resumeFrom !== undefined) {
        throw new NumericalError(`${error.message}; the checkpoint of step ${firstStep} in ${run.checkpointDir} is kept`, { cause: error });
      }
      throw error;
    } finally {
      reporter.finish();
    }
    const t = trainer!;
    if (t.stepCount < totalSteps) {
      await saveState();
      throw new LlamaError(`interrupted after step ${t.stepCount} of ${totalSteps}: checkpoint saved in ${run.checkpointDir}; continue with the same command and --resume ${flags.outputDir}`);
    }
    try {
      await writeOutputFolder(run, t, io, flags.overwriteOutputDir);
    } catch (error) {
      // Ours too (an output that appeared meanwhile, ArgumentError); a bug is not wrapped.
      if (!isFileSystemError(error) && !(error instanceof LlamaError)) throw error;
      throw await keepTrainedState(run, t.stepCount, error, saveTo, savedStep);
    }
    await rm(run.checkpointDir, { recursive: true, force: true }); // the output now holds the result
    io.stderr(`trained ${t.stepCount} steps; wrote ${t.adapter === undefined ? "the model" : "the LoRA adapter"} to ${flags.outputDir}\n`);
  } finally {
    release();
  }
}

/**
 * After the output failed with `error` (a file system error or one of ours): save the trained state
 * as a checkpoint of the last step in the run's checkpoint folder, else (the same disk or folder is
 * likely what failed) in a new folder of the OS temp folder; the error says where and how to resume.
 * @param savedStep the step of the checkpoint already in run.checkpointDir, if any
 */
async function keepTrainedState(run: PreparedRun, step: number, error: Error, saveTo: (dir: string) => Promise<void>, savedStep: number | undefined): Promise<TrainedOutputError> {
  const out = run.flags.outputDir;
  const ckpt = run.checkpointDir;
  const failed = error instanceof LlamaError ? error.message : `cannot write ${out}: ${error.message}; nothing was written there`;
  const resume = `run the same command with --resume ${out} to write the output (no step is trained again${run.flags.overwriteOutputDir ? `; --resume does not replace a folder, remove the old ${out} first` : ""})`;
  const problems: string[] = [];
  try {
    await saveTo(ckpt);
    return new TrainedOutputError(`${failed}; the ${step} trained steps are saved in ${ckpt}: when that is fixed, ${resume}`, out, step, ckpt, { cause: error });
  } catch (second) {
    if (!isFileSystemError(second)) throw second;
    problems.push(`${ckpt}: ${second.message}`);
  }
  const kept = savedStep === undefined ? "" : `; the earlier checkpoint of step ${savedStep} in ${ckpt} is kept as it was`;
  const rescue = join(tmpdir(), `llama3-ts-finetune-${basename(ckpt)}-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    await saveTo(rescue);
    return new TrainedOutputError(`${failed}; nor could the trained state be saved in ${problems[0]}${kept}; the ${step} trained steps are saved in ${rescue}: when that is fixed, move that folder to ${ckpt}${savedStep === undefined ? "" : " (in place of the earlier one)"} and ${resume}`, out, step, rescue, { cause: error });
  } catch (third) {
    if (!isFileSystemError(third)) throw third;
    problems.push(`${rescue}: ${third.message}`);
  }
  const resumeEarlier = savedStep === undefined ? "" : `${kept}: --resume ${out} continues from it`;
  return new TrainedOutputError(`${failed}; saving the trained state failed too (${problems.join("; ")}): the ${step} trained steps are lost${resumeEarlier}`, out, step, undefined, { cause: error });
}

/** The finished run's output folder: the PEFT adapter, or the whole model as a Hugging Face folder. */
async function writeOutputFolder(run: PreparedRun, trainer: Trainer, io: CliIo, overwrite: boolean): Promise<void> {
  const { flags, model } = run;
  if (trainer.adapter !== undefined) {
    await writePeftAdapter(flags.outputDir, trainer.adapter, { dropout: flags.lora!.dropout, baseModelNameOrPath: run.modelDir, overwrite });
  } else {
    // Saved in the dtype the weights were trained in (as save_pretrained saves the model's dtype):
    // float32 with --dtype float32, bf16 with bfloat16.
    const trained = model.weights.layers[0]?.attnQ.dtype;
    const dtype = trained === "f32" || trained === "bf16" || trained === "f16" ? trained : model.config.storedDType;
    const result = await saveHfModel(flags.outputDir, model, { sourceDir: run.modelDir, tokenizer: run.tokenizer, overwrite, ...(dtype === undefined ? {} : { dtype }) });
    for (const w of result.warnings) io.stderr(`warning: ${w}\n`);
  }
}

/** An error of the file system (ENOSPC, EACCES, EIO...), not one of ours or a bug. */
function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && !(error instanceof LlamaError) && typeof (error as NodeJS.ErrnoException).code === "string";
}

/**
 * Run a folder write, turning a file system error into a LlamaError that says what was being
 * written; the atomic writers have removed their temporary files by then.
 */
async function asWriteError<T>(what: string, left: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isFileSystemError(error)) throw error;
    throw new LlamaError(`cannot write ${what}: ${error.message}; ${left}`, { cause: error });
  }
}
