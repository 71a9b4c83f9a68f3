// The options of `llama3 finetune`: transformers' TrainingArguments names in kebab-case
// (--learning-rate, --max-steps, --num-train-epochs, --gradient-accumulation-steps, --warmup-steps,
// --lr-scheduler (lr_scheduler_type), --weight-decay, --max-grad-norm, --seed, --save-steps,
// --overwrite-output-dir, --gradient-checkpointing), --batch-size for per_device_train_batch_size,
// and PEFT's LoraConfig fields as --lora-*. Parsed and validated here, before any model is loaded,
// into one camelCase record; every bad value is a UsageError naming the flag.
//
// Decisions: LoRA is on with --lora or any --lora-* flag. Defaults are Trainer's (batch 8, 3 epochs,
// seed 42, save every 500 steps, linear schedule, no warmup or decay, max_grad_norm 1.0) and the
// issue's (learning rate 5e-5 full / 2e-4 LoRA, bfloat16) and TRL's SFTConfig max_length 1024 for
// --max-seq-len. --resume OUT continues the run whose output folder is OUT (--output may be left out).

import { LORA_MODULES, type LoraModule } from "../model/lora.js";
import { LR_SCHEDULERS, type LrScheduler } from "../train/schedule.js";
import { type FlagSpec, booleanFlag, intFlag, numberFlag, parseFlags, stringFlag } from "./args.js";
import { UsageError } from "./command.js";

/** Training precisions (--dtype): Trainer's bf16=True, plain float32, fp16=True with loss scaling. */
export const TRAIN_DTYPES = ["bfloat16", "float32", "float16"] as const;
export type TrainDType = (typeof TRAIN_DTYPES)[number];

/** Trainer's and the defaults. */
export const FINETUNE_DEFAULTS = {
  learningRateFull: 5e-5,
  learningRateLora: 2e-4,
  batchSize: 8,
  numTrainEpochs: 3,
  gradientAccumulationSteps: 1,
  warmupSteps: 0,
  lrScheduler: "linear" as LrScheduler,
  weightDecay: 0,
  maxGradNorm: 1.0,
  seed: 42,
  dtype: "bfloat16" as TrainDType,
  maxSeqLen: 1024,
  saveSteps: 500,
  loraR: 8,
  loraAlpha: 16,
  loraDropout: 0.05,
  loraTargetModules: ["q_proj", "v_proj"] as readonly LoraModule[],
} as const;

export const FINETUNE_FLAGS: FlagSpec = {
  model: { type: "string" },
  data: { type: "string" },
  output: { type: "string" },
  tokenizer: { type: "string" },
  resume: { type: "string" },
  "overwrite-output-dir": { type: "boolean" },
  "learning-rate": { type: "string" },
  "max-steps": { type: "string" },
  "num-train-epochs": { type: "string" },
  "batch-size": { type: "string" },
  "gradient-accumulation-steps": { type: "string" },
  "warmup-steps": { type: "string" },
  "lr-scheduler": { type: "string" },
  "weight-decay": { type: "string" },
  "max-grad-norm": { type: "string" },
  seed: { type: "string" },
  dtype: { type: "string" },
  "base-dtype": { type: "string" },
  "max-seq-len": { type: "string" },
  "save-steps": { type: "string" },
  "gradient-checkpointing": { type: "boolean" },
  backend: { type: "string" },
  threads: { type: "string" },
  json: { type: "boolean" },
  lora: { type: "boolean" },
  "lora-r": { type: "string" },
  "lora-alpha": { type: "string" },
  "lora-dropout": { type: "string" },
  "lora-target-modules": { type: "string" },
  "lora-init": { type: "string" },
};

/** LoRA settings of a run. */
export interface LoraFlags {
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  /** --lora-dropout was given (else --lora-init's folder's lora_dropout is used) */
  readonly dropoutGiven: boolean;
  readonly targetModules: readonly LoraModule[];
  /** A PEFT folder holding the initial adapter (its r, alpha and targets are used). */
  readonly initDir: string | undefined;
}

/** Everything `llama3 finetune` was asked to do. */
export interface FinetuneFlags {
  /** undefined: $LLAMA3_MODEL, else the built-in model (cli/model-flags.ts) */
  readonly modelDir: string | undefined;
  readonly dataFile: string;
  readonly outputDir: string;
  readonly tokenizerDir: string | undefined;
  /** The output folder of an interrupted run to continue. */
  readonly resume: string | undefined;
  readonly overwriteOutputDir: boolean;
  readonly learningRate: number;
  /** Optimizer steps; undefined: numTrainEpochs decides. */
  readonly maxSteps: number | undefined;
  readonly numTrainEpochs: number;
  readonly batchSize: number;
  readonly gradientAccumulationSteps: number;
  readonly warmupSteps: number;
  readonly lrScheduler: LrScheduler;
  readonly weightDecay: number;
  /** 0: no clipping (Trainer clips only when max_grad_norm > 0) */
  readonly maxGradNorm: number;
  readonly seed: number;
  readonly dtype: TrainDType;
  /** The frozen base's weights in memory for LoRA (fromPretrained's dtype; "q8_0" included). */
  readonly baseDType: string | undefined;
  readonly maxSeqLen: number;
  /** Save a checkpoint every this many optimizer steps; 0: only at the end and on Ctrl-C. */
  readonly saveSteps: number;
  readonly gradientCheckpointing: boolean;
  /** The kernels: "wasm" (default: SIMD, --threads workers) or "reference" (plain loops). */
  readonly backend: "wasm" | "reference";
  readonly threads: number | undefined;
  readonly json: boolean;
  /** undefined: full fine-tuning */
  readonly lora: LoraFlags | undefined;
}

const LORA_FLAGS = ["lora-r", "lora-alpha", "lora-dropout", "lora-target-modules", "lora-init"] as const;

/**
 * Parse and check `llama3 finetune`'s arguments.
 * @throws UsageError naming the flag for anything missing, unknown, malformed or out of range
 */
export function parseFinetuneFlags(argv: readonly string[], usage: string): FinetuneFlags {
  const args = parseFlags(argv, FINETUNE_FLAGS, usage, 0);
  const d = FINETUNE_DEFAULTS;
  const dataFile = stringFlag(args, "data");
  if (dataFile === undefined) throw new UsageError(`missing --data FILE (a JSONL training file); usage: ${usage}`);
  const resume = stringFlag(args, "resume");
  const output = stringFlag(args, "output");
  if (output === undefined && resume === undefined) throw new UsageError(`missing --output DIR; usage: ${usage}`);
  if (output !== undefined && resume !== undefined && output !== resume) throw new UsageError(`--resume ${resume} continues the run written to that folder; leave out --output or give the same folder`);
  if (resume !== undefined && booleanFlag(args, "overwrite-output-dir")) throw new UsageError("--resume continues the run in its folder; it cannot be combined with --overwrite-output-dir");
  const useLora = booleanFlag(args, "lora") || LORA_FLAGS.some((f) => args.values[f] !== undefined);
  const lora = useLora ? loraFlags(args) : undefined;
  if (lora === undefined && stringFlag(args, "base-dtype") !== undefined) throw new UsageError("--base-dtype is for LoRA (a frozen base); full fine-tuning trains the weights in --dtype");
  const dtype = stringFlag(args, "dtype") ?? d.dtype;
  if (!(TRAIN_DTYPES as readonly string[]).includes(dtype)) throw new UsageError(`--dtype must be one of ${TRAIN_DTYPES.join(", ")}, got "${dtype}"`);
  const scheduler = stringFlag(args, "lr-scheduler") ?? d.lrScheduler;
  if (!(LR_SCHEDULERS as readonly string[]).includes(scheduler)) throw new UsageError(`--lr-scheduler must be one of ${LR_SCHEDULERS.join(", ")}, got "${scheduler}"`);
  const maxSteps = stringFlag(args, "max-steps") === undefined ? undefined : intFlag(args, "max-steps", 1, 1, Number.MAX_SAFE_INTEGER);
  if (maxSteps !== undefined && stringFlag(args, "num-train-epochs") !== undefined) throw new UsageError("give --max-steps or --num-train-epochs, not both (Trainer lets max_steps win; say which you mean)");
  const threads = stringFlag(args, "threads") === undefined ? undefined : intFlag(args, "threads", 1, 1, 1024);
  const backend = stringFlag(args, "backend") ?? "wasm";
  if (backend !== "wasm" && backend !== "reference") throw new UsageError(`--backend must be wasm or reference, got "${backend}"`);
  if (backend === "reference" && threads !== undefined) throw new UsageError("--threads applies to the wasm backend");
  return {
    modelDir: stringFlag(args, "model"),
    dataFile,
    outputDir: (output ?? resume)!,
    tokenizerDir: stringFlag(args, "tokenizer"),
    resume,
    overwriteOutputDir: booleanFlag(args, "overwrite-output-dir"),
    learningRate: numberFlag(args, "learning-rate", lora === undefined ? d.learningRateFull : d.learningRateLora, Number.MIN_VALUE, 10),
    maxSteps,
    numTrainEpochs: numberFlag(args, "num-train-epochs", d.numTrainEpochs, Number.MIN_VALUE, 1e9),
    batchSize: intFlag(args, "batch-size", d.batchSize, 1, 1 << 20),
    gradientAccumulationSteps: intFlag(args, "gradient-accumulation-steps", d.gradientAccumulationSteps, 1, 1 << 20),
    warmupSteps: intFlag(args, "warmup-steps", d.warmupSteps, 0, Number.MAX_SAFE_INTEGER),
    lrScheduler: scheduler as LrScheduler,
    weightDecay: numberFlag(args, "weight-decay", d.weightDecay, 0, 1e6),
    maxGradNorm: numberFlag(args, "max-grad-norm", d.maxGradNorm, 0, 1e12),
    seed: intFlag(args, "seed", d.seed, 0, 0xffffffff),
    dtype: dtype as TrainDType,
    baseDType: stringFlag(args, "base-dtype"),
    maxSeqLen: intFlag(args, "max-seq-len", d.maxSeqLen, 2, 1 << 24),
    saveSteps: intFlag(args, "save-steps", d.saveSteps, 0, Number.MAX_SAFE_INTEGER),
    gradientCheckpointing: booleanFlag(args, "gradient-checkpointing"),
    backend,
    threads,
    json: booleanFlag(args, "json"),
    lora,
  };
}

function loraFlags(args: ReturnType<typeof parseFlags>): LoraFlags {
  const d = FINETUNE_DEFAULTS;
  const initDir = stringFlag(args, "lora-init");
  if (initDir !== undefined) {
    const clash = ["lora-r", "lora-alpha", "lora-target-modules"].filter((f) => args.values[f] !== undefined);
    if (clash.length > 0) throw new UsageError(`--lora-init ${initDir} gives the adapter's r, alpha and target modules; leave out --${clash.join(", --")}`);
  }
  return {
    r: intFlag(args, "lora-r", d.loraR, 1, 1 << 16),
    alpha: numberFlag(args, "lora-alpha", d.loraAlpha, Number.MIN_VALUE, 1e9),
    dropout: loraDropout(args),
    dropoutGiven: args.values["lora-dropout"] !== undefined,
    targetModules: targetModules(stringFlag(args, "lora-target-modules")),
    initDir,
  };
}

function loraDropout(args: ReturnType<typeof parseFlags>): number {
  const value = numberFlag(args, "lora-dropout", FINETUNE_DEFAULTS.loraDropout, 0, 1);
  if (value >= 1) throw new UsageError(`--lora-dropout must be in [0, 1), got ${value}`);
  return value;
}

/** "q_proj,v_proj" or "all-linear" (PEFT's name for every linear layer but the output head). */
export function targetModules(raw: string | undefined): readonly LoraModule[] {
  if (raw === undefined) return FINETUNE_DEFAULTS.loraTargetModules;
  if (raw.trim() === "all-linear") return LORA_MODULES;
  const names = raw.split(",").map((s) => s.trim());
  const modules: LoraModule[] = [];
  for (const name of names) {
    if (!(LORA_MODULES as readonly string[]).includes(name)) throw new UsageError(`--lora-target-modules: "${name}" is not a Llama projection; use all-linear or a list of ${LORA_MODULES.join(", ")}`);
    if (!modules.includes(name as LoraModule)) modules.push(name as LoraModule);
  }
  // In the model's order, as PEFT lists them.
  return LORA_MODULES.filter((m) => modules.includes(m));
}
