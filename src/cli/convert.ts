// `llama3 convert`: a Meta original checkpoint folder (params.json, consolidated.NN.pth,
// tokenizer.model) to a Hugging Face folder, streaming (memory: a few tensors, not the model), with
// a progress bar on a terminal. The conversion itself is loader/convert-meta.ts; this file parses
// flags (sizes like transformers' convert_file_size_to_int: "5GB" = 5e9 bytes, "5GiB" = 5 * 2^30)
// and reports.

import { LLAMA_VERSIONS, isLlamaVersion } from "../convert/llama-versions.js";
import { convertMetaCheckpoint } from "../loader/convert-meta.js";
import { GGUF_OUT_TYPES, type GgufOutType, convertToGguf } from "../loader/convert-gguf.js";
import type { FloatDType } from "../tensor/dtype.js";
import { type ParsedArgs, booleanFlag, numberFlag, parseFlags, requiredString, stringFlag } from "./args.js";
import { type CliIo, type Command, UsageError } from "./command.js";
import { createProgress, stderrProgressTarget } from "./progress.js";

const DTYPES: Readonly<Record<string, FloatDType>> = { bf16: "bf16", f16: "f16", f32: "f32" };

const GGUF_TYPES: readonly GgufOutType[] = GGUF_OUT_TYPES;

const USAGE = [
  "llama3 convert --input DIR --output DIR [--llama-version 3|3.1|3.2] [--instruct] [--dtype bf16|f16|f32]",
  "                      [--max-shard-size 5GB] [--rope-factor F] [--force]",
  `llama3 convert --to gguf --input DIR --output FILE.gguf [--dtype ${GGUF_TYPES.join("|")}] [--rope-factor F] [--force]`,
  "  converts Meta's original checkpoint folder to the Hugging Face layout, one tensor at a time;",
  "  with --to gguf, a Hugging Face or Meta folder to one GGUF file for llama.cpp (matrices in --dtype:",
  "  a float type, or a llama.cpp file type with llama.cpp's per-tensor formats and bytes;",
  "  default f16 as llama.cpp's converter; norms f32; q/k rows in llama.cpp's order)",
  "  --to hf|gguf          the output format (default hf)",
  "  --input DIR           params.json + consolidated.00.pth ... (+ tokenizer.model, converted to tokenizer.json)",
  "  --output DIR          the folder to create; written under a temporary name and renamed when complete",
  "  --llama-version V     3, 3.1 or 3.2 (3.3 converts as 3.1): rope scaling, context length, special-token",
  "                        names, tied embeddings (3.2), chat template. Default: guessed from params.json, with a warning",
  "  --instruct            an Instruct model: tokenizer_config.json gets the chat template, eos ids include <|eot_id|>",
  "  --dtype T             element type of the written weights (default bf16, as Meta ships them)",
  "  --max-shard-size S    most weight bytes per safetensors file: 5GB (default; GB = 1e9), 500MB, 2GiB, or bytes",
  "  --rope-factor F       override the llama3 rope scaling factor the version implies (3.1: 8, 3.2: 32)",
  "  --force               replace OUTPUT if it exists and is not empty (default: refuse)",
].join("\n");

/** Size units of --max-shard-size (transformers convert_file_size_to_int). */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40,
};

/**
 * A size such as "5GB", "500MB", "2GiB" or "123456" in bytes.
 * @throws UsageError for anything else, or a size that is not a positive whole number of bytes
 */
export function parseSize(raw: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw);
  const unit = match === null ? undefined : SIZE_UNITS[match[2]!.toUpperCase()];
  if (match === null || unit === undefined) throw new UsageError(`--${flag} must be a size like 5GB, 500MB, 2GiB or a number of bytes; got "${raw}"`);
  const bytes = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`--${flag} must be a positive size; got "${raw}"`);
  return bytes;
}

export const convertCommand: Command = {
  name: "convert",
  summary: "convert a Meta original checkpoint to the Hugging Face layout",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, {
      input: { type: "string" },
      output: { type: "string" },
      "llama-version": { type: "string" },
      instruct: { type: "boolean" },
      dtype: { type: "string" },
      "max-shard-size": { type: "string" },
      "rope-factor": { type: "string" },
      force: { type: "boolean" },
      to: { type: "string" },
    }, USAGE, 0);
    const input = requiredString(args, "input", USAGE);
    const output = requiredString(args, "output", USAGE);
    const to = stringFlag(args, "to") ?? "hf";
    if (to !== "hf" && to !== "gguf") throw new UsageError(`--to must be hf or gguf; got "${to}"`);
    if (to === "gguf") return convertGguf(args, input, output, io);
    const version = stringFlag(args, "llama-version");
    if (version !== undefined && !isLlamaVersion(version)) throw new UsageError(`--llama-version must be one of ${LLAMA_VERSIONS.join(", ")}; got "${version}"`);
    const dtypeName = stringFlag(args, "dtype") ?? "bf16";
    const dtype = DTYPES[dtypeName];
    if (dtype === undefined) throw new UsageError(`--dtype must be one of ${Object.keys(DTYPES).join(", ")}; got "${dtypeName}"`);
    const shardSize = stringFlag(args, "max-shard-size");
    const ropeFactor = stringFlag(args, "rope-factor") === undefined ? undefined : numberFlag(args, "rope-factor", 8, Number.MIN_VALUE, 1e6);

    let progress: ReturnType<typeof createProgress> | undefined;
    const result = await convertMetaCheckpoint(input, output, {
      dtype,
      instruct: booleanFlag(args, "instruct"),
      overwrite: booleanFlag(args, "force"),
      ...(version === undefined ? {} : { llamaVersion: version }),
      ...(shardSize === undefined ? {} : { maxShardBytes: parseSize(shardSize, "max-shard-size") }),
      ...(ropeFactor === undefined ? {} : { ropeFactor }),
      onWarning: (message) => io.stderr(`warning: ${message}\n`),
      onProgress: (p) => {
        progress ??= createProgress(stderrProgressTarget(io), "converting", p.totalBytes, { unit: "bytes" });
        progress.update(p.doneBytes, p.tensor);
      },
    }).finally(() => progress?.finish());
    const gb = (result.weightBytes / 1e9).toFixed(2);
    io.stdout(`converted ${input} (Llama ${result.llamaVersion}) to ${output}: ${gb} GB of ${dtypeName} weights; ${result.files.join(", ")}\n`);
  },
};

/** `convert --to gguf`: a Hugging Face or Meta folder to one GGUF file. */
async function convertGguf(args: ParsedArgs, input: string, output: string, io: CliIo): Promise<void> {
  for (const flag of ["llama-version", "instruct", "max-shard-size"]) {
    if (args.values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to --to gguf`);
  }
  const outType = (stringFlag(args, "dtype") ?? "f16") as GgufOutType;
  if (!GGUF_TYPES.includes(outType)) throw new UsageError(`--dtype must be one of ${GGUF_TYPES.join(", ")} for --to gguf; got "${outType}"`);
  const ropeFactor = stringFlag(args, "rope-factor") === undefined ? undefined : numberFlag(args, "rope-factor", 8, Number.MIN_VALUE, 1e6);
  let progress: ReturnType<typeof createProgress> | undefined;
  const result = await convertToGguf(input, output, {
    outType,
    overwrite: booleanFlag(args, "force"),
    ...(ropeFactor === undefined ? {} : { metaRopeFactor: ropeFactor }),
    onWarning: (message) => io.stderr(`warning: ${message}\n`),
    onProgress: (done, total) => {
      progress ??= createProgress(stderrProgressTarget(io), "converting", total, { unit: "items" });
      progress.update(done);
    },
  }).finally(() => progress?.finish());
  io.stdout(`converted ${input} to ${result.outputFile}: ${result.tensors} tensors, matrices in ${outType}\n`);
}
