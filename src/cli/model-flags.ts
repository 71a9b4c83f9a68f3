// Flags shared by the commands that load a model (--model, --dtype, --rope-factor) and the loading
// itself, so every command loads the same way and reports warnings the same way.

import { DTYPE_OPTIONS, type DTypeOption, LlamaForCausalLM } from "../loader/pretrained.js";
import { type FlagSpec, type ParsedArgs, numberFlag, requiredString, stringFlag } from "./args.js";
import type { CliIo } from "./command.js";
import { UsageError } from "./command.js";

export const MODEL_FLAGS: FlagSpec = {
  model: { type: "string" },
  dtype: { type: "string" },
  "rope-factor": { type: "string" },
};

/** Usage text of MODEL_FLAGS. */
export const MODEL_FLAGS_USAGE = `--model DIR [--dtype ${DTYPE_OPTIONS.join("|")}] [--rope-factor F (Meta folders)]`;

/** Load the model named by --model with the --dtype asked for (default float32). */
export async function loadModelFromFlags(args: ParsedArgs, usage: string, io: CliIo): Promise<LlamaForCausalLM> {
  const dir = requiredString(args, "model", usage);
  const dtype = stringFlag(args, "dtype") ?? "float32";
  if (!(DTYPE_OPTIONS as readonly string[]).includes(dtype)) throw new UsageError(`--dtype must be one of ${DTYPE_OPTIONS.join(", ")}, got "${dtype}"`);
  const ropeFactor = stringFlag(args, "rope-factor") === undefined ? undefined : numberFlag(args, "rope-factor", 8, Number.MIN_VALUE, 1e6);
  return LlamaForCausalLM.fromPretrained(dir, {
    dtype: dtype as DTypeOption,
    onWarning: (message) => io.stderr(`warning: ${message}\n`),
    ...(ropeFactor === undefined ? {} : { metaRopeFactor: ropeFactor }),
  });
}
