// `llama3 finetune --model DIR --data train.jsonl --output OUT [options]`: fine-tunes a model on a
// JSONL file, fully (a Hugging Face folder out, train/save.ts) or with LoRA (a PEFT adapter folder
// out, train/peft.ts). Around the training loop (train/train.ts, the training core) this command
// does the data (train/data.ts), the pad token (train/pad-token.ts), the adapter's initialisation,
// checkpoints and resuming (train/checkpoint.ts, kept in `OUT.checkpoint` beside the output), the
// step report (--json lines, else a progress bar on a terminal) and Ctrl-C (the loop stops after
// the step in flight, a checkpoint is saved, `--resume OUT` continues). OUT itself is written only
// when training is done, atomically: an interrupted or failed run leaves no output folder.

import { checkOutputFolder } from "../convert/output-folder.js";
import { LlamaError } from "../errors.js";
import type { LlamaForCausalLM } from "../loader/pretrained.js";
import { Tokenizer } from "../tokenizer/index.js";
import { type LoadedCheckpoint, hasCheckpoint, loadCheckpoint, settingsDiff } from "../train/checkpoint.js";
import { type Dataset, batchesPerEpoch, needsPadding, readJsonlDataset } from "../train/data.js";
import { initLoraAdapter } from "../train/lora.js";
import type { LoraAdapter } from "../model/lora.js";
import { ensurePadToken } from "../train/pad-token.js";
import { readPeftAdapter } from "../train/peft.js";
import { Rng } from "../tensor/rng.js";
import type { Backend } from "../backend/backend.js";
import { createWasmBackend } from "../backend/wasm/index.js";
import { type FlagSpec, parseFlags } from "./args.js";
import { type CliIo, type Command, UsageError } from "./command.js";
import { FINETUNE_DEFAULTS, type FinetuneFlags, TRAIN_DTYPES, parseFinetuneFlags } from "./finetune-flags.js";
import { runFinetuneLoop } from "./finetune-run.js";
import { loadModelFromFlags } from "./model-flags.js";

const d = FINETUNE_DEFAULTS;
const USAGE = `llama3 finetune --model DIR --data train.jsonl --output OUT [options]

Fine-tunes a model on a JSONL file (one example a line: {"text"}, {"prompt","completion"},
{"messages"} or pre-tokenized {"input_ids","attention_mask"?,"labels"?}). Full fine-tuning writes a
Hugging Face folder to OUT; with LoRA (--lora or any --lora-* option) a PEFT adapter folder.

  --model DIR                       the model to fine-tune (default: $LLAMA3_MODEL, else the built-in tiny model)
  --data FILE                       the training data, JSONL
  --output OUT                      where the result goes (written when training is done)
  --tokenizer DIR                   tokenizer folder (default: the model folder's)
  --learning-rate LR                peak learning rate (default ${d.learningRateFull}, LoRA ${d.learningRateLora})
  --max-steps N                     optimizer steps (default: --num-train-epochs decides)
  --num-train-epochs E              passes over the data (default ${d.numTrainEpochs})
  --batch-size N                    examples per micro-batch (default ${d.batchSize})
  --gradient-accumulation-steps N   micro-batches per optimizer step (default ${d.gradientAccumulationSteps})
  --warmup-steps N                  linear warmup from 0 (default ${d.warmupSteps})
  --lr-scheduler S                  linear, cosine, constant or constant_with_warmup (default ${d.lrScheduler})
  --weight-decay W                  AdamW's decoupled weight decay, not on norm weights (default ${d.weightDecay})
  --max-grad-norm G                 clip the global gradient norm to G; 0: no clipping (default ${d.maxGradNorm})
  --seed N                          data order, LoRA init and dropout (default ${d.seed})
  --dtype D                         ${TRAIN_DTYPES.join(", ")}: bf16 compute with float32 masters, float32, or float16
                                    with dynamic loss scaling (default ${d.dtype})
  --max-seq-len N                   longer examples are truncated to their first N tokens, with a count (default ${d.maxSeqLen})
  --save-steps N                    save a resumable checkpoint every N optimizer steps; 0: only on Ctrl-C (default ${d.saveSteps})
  --resume OUT                      continue the interrupted run whose output is OUT (its checkpoint OUT.checkpoint)
  --overwrite-output-dir            replace an existing OUT (and start over from a stale checkpoint)
  --gradient-checkpointing          keep only each layer's input, recompute the layer in the backward (less memory)
  --backend B                       wasm (default: SIMD kernels, --threads workers) or reference (plain loops)
  --threads N                       compute threads of the wasm backend (default: all cores)
  --json                            one JSON line per optimizer step on stdout: step, lr, loss, grad_norm, tokens_per_s
  --lora                            train a LoRA adapter on a frozen base instead of every weight
  --lora-r R                        adapter rank (default ${d.loraR})
  --lora-alpha A                    scale alpha / r (default ${d.loraAlpha})
  --lora-dropout P                  dropout on the adapter's input (default ${d.loraDropout})
  --lora-target-modules LIST        comma-separated projections, or all-linear (default ${d.loraTargetModules.join(",")})
  --lora-init DIR                   start from this PEFT adapter folder (its r, alpha, targets, and dropout unless given)
  --base-dtype D                    LoRA: the frozen base's weights in memory (auto, bfloat16, float32, q8_0, ...)`;

/** The checkpoint folder of a run whose output is `outputDir`. */
export function checkpointDirOf(outputDir: string): string {
  return `${outputDir.replace(/[\\/]+$/, "")}.checkpoint`;
}

/** A run's settings that a resumed run must repeat (compared with the checkpoint's). */
function runSettings(flags: FinetuneFlags, modelDir: string): Record<string, string | number | boolean | null | string[]> {
  return {
    model: modelDir,
    data: flags.dataFile,
    learning_rate: flags.learningRate,
    max_steps: flags.maxSteps ?? null,
    num_train_epochs: flags.numTrainEpochs,
    batch_size: flags.batchSize,
    gradient_accumulation_steps: flags.gradientAccumulationSteps,
    warmup_steps: flags.warmupSteps,
    lr_scheduler: flags.lrScheduler,
    weight_decay: flags.weightDecay,
    max_grad_norm: flags.maxGradNorm,
    seed: flags.seed,
    dtype: flags.dtype,
    max_seq_len: flags.maxSeqLen,
    lora_r: flags.lora?.r ?? null,
    lora_alpha: flags.lora?.alpha ?? null,
    lora_dropout: flags.lora?.dropout ?? null,
    lora_target_modules: flags.lora === undefined ? null : [...flags.lora.targetModules],
    lora_init: flags.lora?.initDir ?? null,
  };
}

/** Everything the loop needs, prepared and checked before the first step. */
export interface PreparedRun {
  readonly flags: FinetuneFlags;
  readonly modelDir: string;
  readonly model: LlamaForCausalLM;
  readonly tokenizer: Tokenizer | undefined;
  readonly dataset: Dataset;
  readonly padTokenId: number | undefined;
  readonly adapter: LoraAdapter | undefined;
  readonly totalSteps: number;
  readonly checkpointDir: string;
  readonly settings: Record<string, unknown>;
  readonly resumeFrom: LoadedCheckpoint | undefined;
}

export const finetuneCommand: Command = {
  name: "finetune",
  summary: "fine-tune a model on a JSONL file (full or LoRA), PyTorch's exact math",
  usage: USAGE,
  async run(argv, io) {
    const flags = parseFinetuneFlags(argv, USAGE);
    const backend = flags.backend === "reference" ? undefined : await createWasmBackend(flags.threads === undefined ? {} : { threads: flags.threads });
    try {
      const run = await prepare(flags, io, backend);
      await runFinetuneLoop(run, io);
    } finally {
      await backend?.close();
    }
  },
};

async function prepare(parsed: FinetuneFlags, io: CliIo, backend: Backend | undefined): Promise<PreparedRun> {
  let flags = parsed;
  const checkpointDir = checkpointDirOf(flags.outputDir);
  // Loading flags for the shared loader: full fine-tuning holds the weights in the training dtype;
  // LoRA's frozen base in --base-dtype (default: --dtype).
  const loadDType = flags.lora === undefined ? flags.dtype : flags.baseDType ?? flags.dtype;
  const modelSpec: FlagSpec = { model: { type: "string" }, dtype: { type: "string" } };
  const modelArgs = parseFlags([...(flags.modelDir === undefined ? [] : ["--model", flags.modelDir]), "--dtype", loadDType], modelSpec, USAGE);
  // Training runs on the model's backend (full fine-tuning updates the weights in its memory).
  const model = await loadModelFromFlags(modelArgs, USAGE, io, backend);
  const modelDir = model.nameOrPath;
  if (flags.resume === undefined) {
    await checkOutputFolder(flags.outputDir, { overwrite: flags.overwriteOutputDir, protect: [modelDir] });
    if (hasCheckpoint(checkpointDir) && !flags.overwriteOutputDir) {
      throw new UsageError(`${checkpointDir} holds the checkpoint of an earlier run; continue it with --resume ${flags.outputDir}, or start over with --overwrite-output-dir`);
    }
  } else if (!hasCheckpoint(checkpointDir)) {
    throw new UsageError(`--resume ${flags.resume}: no checkpoint at ${checkpointDir} to continue from`);
  }
  const tokenizer = await loadTokenizerIfAny(flags.tokenizerDir ?? modelDir, flags.tokenizerDir !== undefined, io);
  const dataset = await readJsonlDataset(flags.dataFile, { vocabSize: model.config.vocabSize, tokenizer, maxSeqLen: flags.maxSeqLen });
  for (const w of dataset.warnings) io.stderr(`warning: ${flags.dataFile}: ${w}\n`);
  let padTokenId = tokenizer?.padTokenId ?? model.config.padTokenId;
  if (needsPadding(dataset.examples, flags.batchSize)) {
    const pad = ensurePadToken(model, tokenizer, { resize: flags.lora === undefined, rng: new Rng(flags.seed) });
    padTokenId = pad.padTokenId;
    if (pad.message !== undefined) io.stderr(`note: ${pad.message}\n`);
  }
  const initial = flags.lora === undefined ? undefined : await initialAdapter(flags, model);
  const adapter = initial?.adapter;
  // --lora-init's folder gives the dropout too, unless --lora-dropout was given.
  if (initial !== undefined && flags.lora!.initDir !== undefined && !flags.lora!.dropoutGiven) flags = { ...flags, lora: { ...flags.lora!, dropout: initial.dropout } };
  const settings = runSettings(flags, modelDir);
  let resumeFrom: LoadedCheckpoint | undefined;
  if (flags.resume !== undefined) {
    resumeFrom = await loadCheckpoint(checkpointDir);
    const diff = settingsDiff(resumeFrom.state.settings, settings);
    if (diff.length > 0) throw new UsageError(`--resume: the run in ${checkpointDir} used other settings (${diff.join("; ")}); repeat the original command with --resume`);
  }
  const perEpoch = batchesPerEpoch(dataset, flags.batchSize);
  // Trainer: num_update_steps_per_epoch = len(dataloader) // gradient_accumulation_steps (at least 1).
  const totalSteps = flags.maxSteps ?? Math.max(1, Math.ceil(flags.numTrainEpochs * Math.max(1, Math.floor(perEpoch / flags.gradientAccumulationSteps))));
  return { flags, modelDir, model, tokenizer, dataset, padTokenId, adapter, totalSteps, checkpointDir, settings, resumeFrom };
}

/** The tokenizer, or undefined when the folder has none (then only pre-tokenized data works). */
async function loadTokenizerIfAny(dir: string, asked: boolean, io: CliIo): Promise<Tokenizer | undefined> {
  try {
    return await Tokenizer.fromPretrained(dir);
  } catch (error) {
    if (asked || !(error instanceof LlamaError)) throw error;
    io.stderr(`note: ${dir} has no tokenizer; only pre-tokenized lines ({"input_ids": [...]}) can be used (--tokenizer DIR gives one)\n`);
    return undefined;
  }
}

/** A new adapter initialised as PEFT does, or the --lora-init folder's (one entry per layer). */
async function initialAdapter(flags: FinetuneFlags, model: LlamaForCausalLM): Promise<{ adapter: LoraAdapter; dropout: number }> {
  const lora = flags.lora!;
  if (lora.initDir === undefined) return { adapter: initLoraAdapter(model.config, { rank: lora.r, alpha: lora.alpha, targetModules: lora.targetModules, rng: new Rng(flags.seed) }), dropout: lora.dropout };
  const { adapter, dropout } = await readPeftAdapter(lora.initDir);
  const layers = Array.from({ length: model.config.nLayers }, (_, l) => adapter.layers[l] ?? {});
  const full = { ...adapter, layers };
  model.setAdapter(full); // checks that it fits (ShapeError otherwise); the loop trains it
  model.setAdapter(undefined);
  return { adapter: full, dropout };
}
