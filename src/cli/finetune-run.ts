// The running part of `llama3 finetune` (prepared in finetune.ts): drives the training core's loop,
// reports each optimizer step (a JSON line with --json, else a progress bar with loss, tokens/s and
// ETA on a terminal), saves checkpoints every --save-steps and on Ctrl-C, and writes the output
// (a Hugging Face folder, or a PEFT adapter folder for LoRA) when done.

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

/** The --json line of a step (the field names: step, lr, loss, grad_norm, tokens_per_s). */
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
  if (firstStep >= totalSteps) throw new LlamaError(`${run.checkpointDir} is at step ${firstStep} of ${totalSteps}: nothing left to train`);
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
  const saveState = async (): Promise<void> => {
    const t = trainer!;
    await asWriteError(`the checkpoint ${run.checkpointDir}`, "an earlier checkpoint there is kept as it was", () => saveCheckpoint(run.checkpointDir, t.params.params, t.optimizer.state(), { step: t.stepCount, settings: run.settings as JsonObject, log, ...(t.gradScaler === undefined ? {} : { gradScaler: t.gradScaler.state() }) }));
  };
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
    await writeOutput(run, t, io);
  } finally {
    release();
  }
}

/** The finished run's output folder: the PEFT adapter, or the whole model as a Hugging Face folder. */
async function writeOutput(run: PreparedRun, trainer: Trainer, io: CliIo): Promise<void> {
  const { flags } = run;
  const overwrite = flags.overwriteOutputDir;
  await asWriteError(flags.outputDir, "nothing was written there", () => writeOutputFolder(run, trainer, io, overwrite));
  await rm(run.checkpointDir, { recursive: true, force: true }); // the output now holds the result
  const last = trainer.stepCount;
  io.stderr(`trained ${last} steps; wrote ${trainer.adapter === undefined ? "the model" : "the LoRA adapter"} to ${flags.outputDir}\n`);
}

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

/**
 * Run a folder write, turning a file system error (ENOSPC, EACCES, ...) into a LlamaError that says
 * what was being written; the atomic writers have removed their temporary files by then.
 */
async function asWriteError<T>(what: string, left: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof LlamaError || !(error instanceof Error) || typeof (error as NodeJS.ErrnoException).code !== "string") throw error;
    throw new LlamaError(`cannot write ${what}: ${error.message}; ${left}`, { cause: error });
  }
}
