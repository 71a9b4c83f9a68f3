// The training loop as a library: what transformers' Trainer.train does per optimizer step, on the
// building blocks of this folder. For each step: the loss and gradients of k micro-batches (gradient
// accumulation, normalised by the label tokens of all k, so the step is the full batch's), the global
// grad norm and its clipping, AdamW at the schedule's rate for this step, then the weights the
// kernels read brought up to date (bf16 roundings of float32 masters). A float16 model trains the
// same way with dynamic loss scaling (grad-scaler.ts): the step is skipped, and the scale halved,
// when the float16 backward overflows. The model is trained in place:
// full fine-tuning updates its own weight arrays; LoRA trains an adapter on the frozen model.
// `train()` wraps a Trainer as an async iterator of step events that stops at an AbortSignal; data
// loading, checkpoint folders and the CLI are elsewhere (train/data.ts, train/peft.ts, cli/).

import type { Backend } from "../backend/backend.js";
import { trainingBackend } from "../backend/training-backend.js";
import { ArgumentError, NumericalError, UnsupportedError } from "../errors.js";
import type { LlamaModel } from "../model/llama.js";
import type { LoraAdapter, LoraModule } from "../model/lora.js";
import { RopeTable, ropeInverseFrequencies } from "../model/rope.js";
import { Rng } from "../tensor/rng.js";
import { AdamW, type AdamWState, clipGradNorm } from "./adamw.js";
import { type ModelGrads, trainBackward } from "./backward.js";
import type { TrainBatch } from "./batch.js";
import { type TrainModelView, releaseLogits, trainForward } from "./forward.js";
import { GradScaler, type GradScalerOptions, type GradScalerState } from "./grad-scaler.js";
import { initLoraAdapter, loraParams } from "./lora.js";
import { type CausalLmLoss, causalLmLoss, countLabelTokens } from "./loss.js";
import { type TrainableParams, fullParams, zeroGrads } from "./params.js";
import { type LrScheduler, learningRate } from "./schedule.js";

/** LoRA settings (PEFT's LoraConfig); absent = full fine-tuning. */
export interface LoraOptions {
  /** default 8 */
  readonly rank?: number;
  /** default 16 */
  readonly alpha?: number;
  /** default 0.05 (the CLI's); dropout on the adapter's input */
  readonly dropout?: number;
  /** default q_proj, v_proj */
  readonly targetModules?: readonly LoraModule[] | "all-linear";
  /** start from this adapter (trained in place) instead of PEFT's init */
  readonly adapter?: LoraAdapter;
}

export interface TrainerOptions {
  /** optimizer steps of the run (the schedule decays to 0 there) */
  readonly maxSteps: number;
  /** default 5e-5 for full fine-tuning, 2e-4 for LoRA (the CLI's defaults) */
  readonly learningRate?: number;
  /** default "linear" */
  readonly lrScheduler?: LrScheduler;
  /** default 0 */
  readonly warmupSteps?: number;
  /** default 0 (Trainer's) */
  readonly weightDecay?: number;
  /** global gradient-norm clip, default 1.0; 0 or Infinity = none */
  readonly maxGradNorm?: number;
  /** default [0.9, 0.999] */
  readonly adamBetas?: readonly [number, number];
  /** default 1e-8 */
  readonly adamEpsilon?: number;
  readonly lora?: LoraOptions;
  /** recompute each layer's activations in the backward from its input (less memory, about a third more time) */
  readonly gradientCheckpointing?: boolean;
  /** seeds the LoRA init and dropout; default 42 (Trainer's) */
  readonly seed?: number;
  /**
   * kernels for the weight products (forward and backward); default the model's own. Full
   * fine-tuning needs the model's own (its weights live there and are updated in place); LoRA may
   * use any (the base is frozen).
   */
  readonly backend?: Backend;
  /**
   * dynamic loss scaling (torch's GradScaler); default: on, with torch's defaults, for a model whose
   * weights are float16, off otherwise. `false` for a float16 model is an UnsupportedError.
   */
  readonly gradScaler?: GradScalerOptions | false;
}

/** What one optimizer step reports. */
export interface TrainStepEvent {
  /** optimizer steps done, counting this one (1-based, as Trainer's global_step) */
  readonly step: number;
  /** the learning rate this step used */
  readonly lr: number;
  /** loss of the step's batch before the update (the mean over its label tokens) */
  readonly loss: number;
  /** global gradient norm before clipping */
  readonly gradNorm: number;
  /** real (unpadded) input tokens per second of this step */
  readonly tokensPerS: number;
  /** label tokens the loss averaged over */
  readonly nLabelTokens: number;
  /** true when loss scaling found inf/NaN gradients and the update was skipped (gradNorm is then not finite) */
  readonly skipped: boolean;
  /** with loss scaling: the scale this step's loss gradient was multiplied by */
  readonly lossScale?: number;
}

/** A checkpoint of the run's progress (with the weights or adapter, which the caller saves). */
export interface TrainerState {
  /** steps done, skipped ones included (optimizer.step counts the updates) */
  readonly step: number;
  readonly optimizer: AdamWState;
  /** with loss scaling */
  readonly gradScaler?: GradScalerState;
}

/**
 * The loss of one (micro-)batch and its gradients, added to `grads`.
 * @param normalizer label tokens of the whole accumulated batch (default: this batch's)
 * @param lossScale the gradients are those of lossScale * loss (the loss returned is unscaled)
 * @param float16Grads round the activation gradients to float16 (float16 training, grad-scaler.ts)
 * @throws ArgumentError for bad ids, labels or a batch without labels
 */
export function lossAndGradients(
  view: TrainModelView, batch: TrainBatch, grads: ModelGrads,
  options: { normalizer?: number; rng?: Rng; gradientCheckpointing?: boolean; lossScale?: number; float16Grads?: boolean } = {},
): CausalLmLoss {
  const acts = trainForward(view, batch, { ...(options.rng === undefined ? {} : { rng: options.rng }), checkpointLayers: options.gradientCheckpointing === true });
  const result = causalLmLoss(acts.logits, batch, view.config.vocabSize, options.normalizer, acts.logits, trainingBackend(view.backend));
  // GradScaler's scale(loss).backward(): the gradient of scale * loss (the scale times d loss / d logits).
  const scale = options.lossScale ?? 1;
  if (scale !== 1) for (let i = 0; i < acts.logits.length; i++) acts.logits[i] = acts.logits[i]! * scale;
  trainBackward(view, acts, acts.logits, grads, { float16Grads: options.float16Grads === true });
  releaseLogits(view, acts);
  return result;
}

/** One training run on a model: parameters, optimizer, schedule. */
export class Trainer {
  readonly params: TrainableParams;
  readonly optimizer: AdamW;
  /** the adapter being trained (LoRA), else undefined */
  readonly adapter: LoraAdapter | undefined;
  readonly view: TrainModelView;
  private readonly options: TrainerOptions;
  private readonly seed: number;
  private readonly baseLr: number;
  /** loss scaling (float16), else undefined */
  readonly gradScaler: GradScaler | undefined;
  /** whether the compute is float16 (the weights the kernels read are float16) */
  readonly float16: boolean;
  private globalStep = 0;

  /**
   * @throws ArgumentError for bad options; UnsupportedError for a model full fine-tuning cannot
   *   train (block-format weights: use LoRA), or float16 without loss scaling
   * @example
   * const trainer = new Trainer(model, { maxSteps: 100, lora: { rank: 8 } });
   * const event = trainer.step([batch]);
   */
  constructor(model: LlamaModel, options: TrainerOptions) {
    if (!Number.isInteger(options.maxSteps) || options.maxSteps < 1) throw new ArgumentError(`maxSteps must be a positive integer; got ${options.maxSteps}`);
    const dropout = options.lora?.dropout ?? 0.05;
    if (!(dropout >= 0 && dropout < 1)) throw new ArgumentError(`LoRA dropout must be in [0, 1); got ${dropout}`);
    this.options = options;
    this.seed = options.seed ?? 42;
    const { config } = model;
    this.baseLr = options.learningRate ?? (options.lora === undefined ? 5e-5 : 2e-4);
    if (!(this.baseLr >= 0 && Number.isFinite(this.baseLr))) throw new ArgumentError(`learning rate must be finite and >= 0; got ${this.baseLr}`);
    const lora = options.lora;
    this.adapter = lora === undefined ? undefined : lora.adapter ?? initLoraAdapter(config, {
      rng: new Rng(this.seed),
      ...(lora.rank === undefined ? {} : { rank: lora.rank }),
      ...(lora.alpha === undefined ? {} : { alpha: lora.alpha }),
      ...(lora.targetModules === undefined ? {} : { targetModules: lora.targetModules }),
    });
    this.float16 = model.weights.layers[0]?.attnQ.dtype === "f16";
    if (this.float16 && options.gradScaler === false) {
      throw new UnsupportedError("float16 training needs dynamic loss scaling (its gradients overflow and underflow float16's range); leave gradScaler on, or train in bfloat16 or float32");
    }
    const scalerOptions = options.gradScaler ?? (this.float16 ? {} : false);
    this.gradScaler = scalerOptions === false ? undefined : new GradScaler(scalerOptions);
    this.params = this.adapter === undefined ? fullParams(model.weights) : loraParams(config, this.adapter);
    const backend = options.backend ?? model.backend;
    if (this.adapter === undefined && backend !== model.backend) {
      throw new ArgumentError(`full fine-tuning runs on the backend the model was loaded with (${model.backend.name}), whose memory holds the weights it updates; got ${backend.name}`);
    }
    this.view = {
      config,
      weights: model.weights,
      adapter: this.adapter,
      loraDropout: this.adapter === undefined ? 0 : dropout,
      backend,
      rope: new RopeTable(ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling)),
    };
    this.optimizer = new AdamW(this.params.params, {
      weightDecay: options.weightDecay ?? 0,
      ...(options.adamBetas === undefined ? {} : { betas: options.adamBetas }),
      ...(options.adamEpsilon === undefined ? {} : { eps: options.adamEpsilon }),
    });
    learningRate(0, this.schedule()); // validates the schedule options
  }

  /** Steps done (skipped ones included, as Trainer's global_step). */
  get stepCount(): number {
    return this.globalStep;
  }

  /** The learning rate optimizer step `step` (0-based) runs at. */
  learningRateAt(step: number): number {
    return learningRate(Math.min(step, this.options.maxSteps), this.schedule());
  }

  /**
   * One optimizer step over `microBatches` (gradient accumulation: their gradients add up, each loss
   * normalised by the label tokens of all of them).
   * With loss scaling, inf/NaN gradients skip the update (weights, optimizer state and schedule
   * stay; the event says `skipped`) and halve the scale, as GradScaler.step/update do; the
   * schedule advances with the updates made (accelerate's optimizer_step_was_skipped).
   * @throws ArgumentError for bad batches or when maxSteps are done; NumericalError (with the step
   *   number) for a loss that is not finite, or a gradient without loss scaling, before any weight
   *   is touched
   */
  step(microBatches: readonly TrainBatch[]): TrainStepEvent {
    if (microBatches.length === 0) throw new ArgumentError("a training step needs at least one batch");
    const index = this.globalStep;
    if (index >= this.options.maxSteps) throw new ArgumentError(`the run's ${this.options.maxSteps} steps are done`);
    const started = performance.now();
    const normalizer = microBatches.reduce((sum, b) => sum + countLabelTokens(b), 0);
    if (normalizer === 0) throw new ArgumentError(`step ${index + 1}: its batches have no label to train on (every label is -100)`);
    zeroGrads(this.params);
    // Dropout masks drawn from a generator seeded by (seed, step): a resumed run draws the same ones.
    const rng = new Rng((Math.imul(this.seed, 0x9e3779b1) + index + 1) >>> 0);
    let loss = 0;
    let nTokens = 0;
    const scaler = this.gradScaler;
    const lossScale = scaler?.scale;
    for (const batch of microBatches) {
      loss += lossAndGradients(this.view, batch, this.params.grads, {
        normalizer, rng, gradientCheckpointing: this.options.gradientCheckpointing === true, float16Grads: this.float16, ...(lossScale === undefined ? {} : { lossScale }),
      }).loss;
      for (const m of batch.attentionMask) nTokens += m;
    }
    if (!Number.isFinite(loss)) throw new NumericalError(`step ${index + 1}: the loss is ${loss}; the weights are left as they were after step ${index}`);
    const foundInf = scaler?.unscale(this.params.params) ?? false;
    const lr = this.learningRateAt(this.optimizer.step);
    const done = (gradNorm: number, skipped: boolean): TrainStepEvent => {
      this.globalStep = index + 1;
      const seconds = (performance.now() - started) / 1000;
      return { step: index + 1, lr, loss, gradNorm, tokensPerS: seconds > 0 ? nTokens / seconds : 0, nLabelTokens: normalizer, skipped, ...(lossScale === undefined ? {} : { lossScale }) };
    };
    if (foundInf) {
      scaler!.update(true);
      return done(Number.POSITIVE_INFINITY, true);
    }
    const gradNorm = clipGradNorm(this.params.params, this.options.maxGradNorm ?? 1.0);
    if (!Number.isFinite(gradNorm)) {
      throw new NumericalError(`step ${index + 1}: the gradient norm is ${gradNorm}; the weights are left as they were after step ${index}`);
    }
    this.optimizer.update(lr);
    this.params.sync();
    scaler?.update(false);
    return done(gradNorm, false);
  }

  /**
   * The loss of a batch without training (no gradients kept, no dropout).
   * @throws ArgumentError for bad batches
   */
  evaluate(batch: TrainBatch): number {
    const acts = trainForward({ ...this.view, loraDropout: 0 }, batch);
    const loss = causalLmLoss(acts.logits, batch, this.view.config.vocabSize, undefined, undefined, trainingBackend(this.view.backend)).loss;
    releaseLogits(this.view, acts);
    return loss;
  }

  /** The run's progress for a checkpoint (the caller saves the weights or adapter beside it). */
  state(): TrainerState {
    return { step: this.globalStep, optimizer: this.optimizer.state(), ...(this.gradScaler === undefined ? {} : { gradScaler: this.gradScaler.state() }) };
  }

  /** Resume from a checkpoint's state (the weights or adapter already restored). */
  loadState(state: TrainerState): void {
    if (!Number.isInteger(state.step) || state.step < state.optimizer.step) throw new ArgumentError(`bad trainer state: step ${state.step} with ${state.optimizer.step} optimizer updates`);
    this.optimizer.loadState(state.optimizer);
    this.globalStep = state.step;
    if (state.gradScaler !== undefined) this.gradScaler?.loadState(state.gradScaler);
  }

  private schedule(): Parameters<typeof learningRate>[1] {
    return { scheduler: this.options.lrScheduler ?? "linear", baseLr: this.baseLr, warmupSteps: this.options.warmupSteps ?? 0, totalSteps: this.options.maxSteps };
  }
}

export interface TrainOptions extends TrainerOptions {
  /** micro-batches per optimizer step, default 1 */
  readonly gradientAccumulationSteps?: number;
  /** stops the run between steps (the trainer's state is then that of the last completed step) */
  readonly signal?: AbortSignal;
  /** continue a run (with its weights or adapter already restored) */
  readonly resume?: TrainerState;
  /** receives the Trainer before the first step (to checkpoint it, or read its adapter) */
  readonly onTrainer?: (trainer: Trainer) => void;
}

/**
 * Train `model` in place on `batches`, an event per optimizer step, until maxSteps or the batches
 * run out (a last partial group of micro-batches is still a step) or `signal` aborts.
 * @throws as Trainer and Trainer.step
 * @example
 * for await (const e of train(model, batches, { maxSteps: 100, learningRate: 1e-4, lora: {} })) console.log(e.step, e.loss);
 */
export async function* train(model: LlamaModel, batches: Iterable<TrainBatch> | AsyncIterable<TrainBatch>, options: TrainOptions): AsyncGenerator<TrainStepEvent, Trainer> {
  const accumulation = options.gradientAccumulationSteps ?? 1;
  if (!Number.isInteger(accumulation) || accumulation < 1) throw new ArgumentError(`gradientAccumulationSteps must be a positive integer; got ${accumulation}`);
  const trainer = new Trainer(model, options);
  if (options.resume !== undefined) trainer.loadState(options.resume);
  options.onTrainer?.(trainer);
  let group: TrainBatch[] = [];
  for await (const batch of batches) {
    if (options.signal?.aborted === true || trainer.stepCount >= options.maxSteps) return trainer;
    group.push(batch);
    if (group.length < accumulation) continue;
    yield trainer.step(group);
    group = [];
    // Let timers and signal handlers run between steps (a step is synchronous work).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (group.length > 0 && options.signal?.aborted !== true && trainer.stepCount < options.maxSteps) yield trainer.step(group);
  return trainer;
}
