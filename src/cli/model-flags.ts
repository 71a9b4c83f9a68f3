// Flags shared by the commands that load a model (--model, --dtype) and the loading itself, so
// every command loads the same way and reports warnings the same way.

import { type DTypeOption, LlamaForCausalLM } from "../loader/pretrained.js";
import { type FlagSpec, type ParsedArgs, requiredString, stringFlag } from "./args.js";
import type { CliIo } from "./command.js";
import { UsageError } from "./command.js";

export const MODEL_FLAGS: FlagSpec = {
  model: { type: "string" },
  dtype: { type: "string" },
};

const DTYPES: readonly DTypeOption[] = ["auto", "float32", "bfloat16", "float16"];

/** Load the model named by --model with the --dtype asked for (default float32). */
export async function loadModelFromFlags(args: ParsedArgs, usage: string, io: CliIo): Promise<LlamaForCausalLM> {
  const dir = requiredString(args, "model", usage);
  const dtype = stringFlag(args, "dtype") ?? "float32";
  if (!(DTYPES as readonly string[]).includes(dtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(", ")}, got "${dtype}"`);
  return LlamaForCausalLM.fromPretrained(dir, { dtype: dtype as DTypeOption, onWarning: (message) => io.stderr(`warning: ${message}\n`) });
}
