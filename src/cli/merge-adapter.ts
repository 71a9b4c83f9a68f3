// `llama3 merge-adapter --model DIR --adapter DIR --output OUT`: folds a PEFT LoRA adapter into its
// base model (W + scale * B A, PEFT's merge_and_unload) and writes the result as an ordinary Hugging
// Face folder (train/save.ts: atomic, tokenizer files and generation config copied), which every
// command then loads without --adapter. Weights are merged in float32 and stored in the model's
// dtype (--dtype float32 keeps the merge exact to float32).

import { booleanFlag, parseFlags, requiredString, stringFlag } from "./args.js";
import { type Command, UsageError } from "./command.js";
import { MODEL_FLAGS, loadModelFromFlags } from "./model-flags.js";
import { readPeftAdapter } from "../train/peft.js";
import { saveHfModel } from "../train/save.js";
import { isQuantType } from "../tensor/quant-formats.js";

const USAGE = `llama3 merge-adapter --model DIR --adapter DIR --output OUT [--dtype auto|float32|bfloat16|float16] [--force]

Merges a PEFT LoRA adapter into its base model and writes a Hugging Face folder.

  --model DIR     the base model the adapter was trained on
  --adapter DIR   the PEFT adapter folder (adapter_config.json, adapter_model.safetensors)
  --output OUT    the merged model's folder (written atomically)
  --dtype D       the merged weights' dtype (default auto: the base model's)
  --force         replace an existing checkpoint folder at OUT`;

export const mergeAdapterCommand: Command = {
  name: "merge-adapter",
  summary: "merge a LoRA adapter into its base model, writing a Hugging Face folder",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, { ...MODEL_FLAGS, output: { type: "string" }, force: { type: "boolean" } }, USAGE, 0);
    const modelDir = requiredString(args, "model", USAGE);
    const adapterDir = requiredString(args, "adapter", USAGE);
    const output = requiredString(args, "output", USAGE);
    const dtype = stringFlag(args, "dtype");
    if (dtype !== undefined && isQuantType(dtype)) throw new UsageError(`--dtype ${dtype}: a merged model is written in a float dtype (float32, bfloat16, float16)`);
    // Loaded without the adapter (mergeAdapter folds it in): --adapter is not passed to the loader.
    const baseArgs = { ...args, values: { ...args.values, adapter: undefined } };
    const model = await loadModelFromFlags(baseArgs, USAGE, io);
    const { adapter, warnings } = await readPeftAdapter(adapterDir);
    for (const w of warnings) io.stderr(`warning: ${w}\n`);
    model.mergeAdapter(adapter);
    const weightDType = model.weights.layers[0]?.attnQ.dtype;
    const saveDType = weightDType === "f32" || weightDType === "bf16" || weightDType === "f16" ? weightDType : undefined;
    const result = await saveHfModel(output, model, { sourceDir: modelDir, overwrite: booleanFlag(args, "force"), ...(saveDType === undefined ? {} : { dtype: saveDType }) });
    for (const w of result.warnings) io.stderr(`warning: ${w}\n`);
    io.stdout(`merged ${adapterDir} (r ${adapter.rank}, ${adapter.targetModules.join(", ")}) into ${modelDir}: wrote ${output} (${result.files.join(", ")})\n`);
  },
};
