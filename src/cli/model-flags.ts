// Flags shared by the commands that load a model (--model, --dtype, --rope-factor, --adapter) and the loading
// itself, so every command loads the same way: warnings on stderr, a progress bar on a terminal,
// and, without --model, $LLAMA3_MODEL or else the package's built-in tiny model (random weights;
// the CLI says in one line that its output is meaningless).

import { defaultModelDir } from "../loader/default-model.js";
import { DTYPE_OPTIONS, type DTypeOption, LlamaForCausalLM } from "../loader/pretrained.js";
import type { Backend } from "../backend/backend.js";
import { type FlagSpec, type ParsedArgs, numberFlag, stringFlag } from "./args.js";
import type { CliIo } from "./command.js";
import { UsageError } from "./command.js";
import { createProgress, stderrProgressTarget } from "./progress.js";

export const MODEL_FLAGS: FlagSpec = {
  model: { type: "string" },
  dtype: { type: "string" },
  "rope-factor": { type: "string" },
  adapter: { type: "string" },
};

/** Environment variable naming the model folder used when --model is absent. */
export const MODEL_ENV = "LLAMA3_MODEL";

/** Usage text of MODEL_FLAGS (--dtype q8_0, q4_k, ...: weights quantized to llama.cpp's blocks as they load). */
export const MODEL_FLAGS_USAGE = `[--model DIR] [--dtype ${DTYPE_OPTIONS.join("|")}] [--rope-factor F] [--adapter DIR]`;

/** Help lines for MODEL_FLAGS. */
export const MODEL_FLAGS_HELP = [
  `  --model DIR         a Hugging Face or Meta checkpoint folder, or a GGUF file (default: $${MODEL_ENV}, else the built-in tiny random model)`,
  `  --dtype D           weights in memory: ${DTYPE_OPTIONS.join(", ")} (default auto: the stored type, per tensor in a GGUF;`,
  "                      a block format (q8_0, q4_0, q4_k, q6_k, ...) quantizes matrices as they load, as llama.cpp's quantizer)",
  "  --rope-factor F     Meta folders only: the llama3 rope scaling factor (3.1: 8, 3.2: 32)",
  "  --adapter DIR       a PEFT LoRA adapter folder (llama3 finetune --lora-r ...) applied to every projection it targets",
].join("\n");

/** The folder to load: --model, else $LLAMA3_MODEL, else the built-in model (with a one-line note). */
export function modelDirFromFlags(args: ParsedArgs, io: CliIo): string {
  const flag = stringFlag(args, "model");
  if (flag !== undefined) return flag;
  const env = process.env[MODEL_ENV];
  if (env !== undefined && env !== "") return env;
  io.stderr(`note: no --model given: using the built-in tiny model with random weights, so the output is meaningless; point --model (or $${MODEL_ENV}) at a real Llama 3 checkpoint folder\n`);
  return defaultModelDir();
}

/**
 * Load the model named by the flags with the --dtype asked for (default auto: the stored width).
 * @param _usage the command's usage line (kept for callers; every model flag is optional)
 */
export async function loadModelFromFlags(args: ParsedArgs, _usage: string, io: CliIo, backend?: Backend): Promise<LlamaForCausalLM> {
  const dtype = stringFlag(args, "dtype") ?? "auto";
  if (!(DTYPE_OPTIONS as readonly string[]).includes(dtype)) throw new UsageError(`--dtype must be one of ${DTYPE_OPTIONS.join(", ")}, got "${dtype}"`);
  const ropeFactor = stringFlag(args, "rope-factor") === undefined ? undefined : numberFlag(args, "rope-factor", 8, Number.MIN_VALUE, 1e6);
  const dir = modelDirFromFlags(args, io);
  let progress: ReturnType<typeof createProgress> | undefined;
  const model = await LlamaForCausalLM.fromPretrained(dir, {
    dtype: dtype as DTypeOption,
    onWarning: (message) => io.stderr(`warning: ${message}\n`),
    onProgress: (loaded, total) => {
      progress ??= createProgress(stderrProgressTarget(io), "loading", total, { unit: "bytes" });
      progress.update(loaded);
    },
    ...(ropeFactor === undefined ? {} : { metaRopeFactor: ropeFactor }),
    ...(stringFlag(args, "adapter") === undefined ? {} : { adapter: stringFlag(args, "adapter")! }),
    ...(backend === undefined ? {} : { backend }),
  });
  progress?.finish();
  return model;
}
