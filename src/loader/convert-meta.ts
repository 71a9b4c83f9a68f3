// Converting a Meta original checkpoint folder (params.json, consolidated.NN.pth model-parallel
// shards, tokenizer.model) into a Hugging Face folder (config.json, generation_config.json,
// model(-0000i-of-0000N).safetensors + index, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json), streaming: one merged tensor is read, its q/k rows permuted into the
// rotary halves layout, cast, and written before the next is read, so peak memory is a few tensors,
// never the model. Follows transformers' models/llama/convert_llama_weights_to_hf.py for what is
// written (config keys, per-version rope scaling, special tokens, eos ids, tied 3.2 embeddings);
// differs in that it does not hold the model in RAM and writes the output folder atomically
// (convert/output-folder.ts). The model is never instantiated here: the output is checked by loading
// it in tests.

import { existsSync, join, readdir } from "#platform";
import { LLAMA3_EOS_TOKEN_ID, LLAMA_VERSION_FACTS, type LlamaVersion, isLlamaVersion } from "../convert/llama-versions.js";
import { mergeMetaShards } from "../convert/meta-shards.js";
import { type WeightName, isIgnoredTensor, weightNames } from "../convert/names.js";
import { writeFolderAtomically, checkOutputFolder } from "../convert/output-folder.js";
import { interleavedToHalves } from "../convert/rope-layout.js";
import { ArgumentError, FormatError, ShapeError, UnsupportedError } from "../errors.js";
import { openPytorchCheckpoint } from "../io/pytorch/checkpoint.js";
import { DEFAULT_MAX_SHARD_BYTES } from "../io/safetensors-index.js";
import { writeShardedSafetensors } from "../io/safetensors-sharded-writer.js";
import { type TensorToWrite, writeAtomically } from "../io/safetensors-writer.js";
import { writeRange } from "../io/positional-io.js";
import type { TensorSource } from "../io/tensor-source.js";
import { readJsonFile, readTextFile } from "../json.js";
import type { LlamaConfig } from "../model/config.js";
import { generationConfigJson, serializeConfigJson, serializeHfConfig } from "../model/hf-config-writer.js";
import type { ParsedConfig } from "../model/hf-config.js";
import { parseMetaParams } from "../model/meta-params.js";
import { expectedShapes } from "../model/weights.js";
import { castFloat } from "../tensor/cast.js";
import { DTYPE_BYTES, type FloatDType, isFloatDType } from "../tensor/dtype.js";
import type { FloatTensor } from "../tensor/tensor.js";
import { numel, sameShape } from "../tensor/tensor.js";
import { exportHfTokenizer, type HfTokenizerFiles } from "../tokenizer/export-hf.js";
import { END_OF_TEXT, END_OF_TURN } from "../tokenizer/special-tokens.js";
import { metaShardFiles } from "./pretrained.js";

/** Options of {@link convertMetaCheckpoint}. */
export interface ConvertMetaOptions {
  /**
   * Which release the checkpoint is (params.json cannot say): sets the rope scaling factor, context
   * length, special-token names, tied embeddings and the chat template. Default: "3" without
   * use_scaled_rope, else "3.2" for the 3.2 1B/3B shapes and "3.1" otherwise, with a warning.
   */
  readonly llamaVersion?: LlamaVersion;
  /** An Instruct model: writes the chat template and stops on <|eot_id|> too. Default false. */
  readonly instruct?: boolean;
  /** Element type of the written weights (default "bf16", what Meta ships). */
  readonly dtype?: FloatDType;
  /** Most tensor bytes per safetensors file (default 5 GB, as save_pretrained); one file when all fit. */
  readonly maxShardBytes?: number;
  /** Overrides the llama3 rope scaling factor the version implies (8 for 3.1, 32 for 3.2). */
  readonly ropeFactor?: number;
  /** Replace a non-empty output folder (default false: refused before anything is read). */
  readonly overwrite?: boolean;
  /** Called before the first tensor and after each one is converted; throwing aborts the conversion (nothing is left behind). */
  readonly onProgress?: (progress: ConvertProgress) => void;
  /** Receives non-fatal findings (assumed version, extra tensors, no tokenizer.model). */
  readonly onWarning?: (message: string) => void;
}

/** How far a conversion is. */
export interface ConvertProgress {
  /** The HF name of the tensor just converted ("" in the first report). */
  readonly tensor: string;
  /** Tensors converted so far, of `totalTensors`. */
  readonly doneTensors: number;
  readonly totalTensors: number;
  /** Output weight bytes converted so far, of `totalBytes`. */
  readonly doneBytes: number;
  readonly totalBytes: number;
}

/** What {@link convertMetaCheckpoint} wrote. */
export interface ConvertMetaResult {
  readonly outputDir: string;
  readonly llamaVersion: LlamaVersion;
  /** The configuration written to config.json. */
  readonly config: LlamaConfig;
  /** The files of the output folder, sorted. */
  readonly files: readonly string[];
  /** Bytes of weights written. */
  readonly weightBytes: number;
  /** Whether tokenizer files were written (the input had a tokenizer.model). */
  readonly tokenizer: boolean;
}

const FLOAT_DTYPES: readonly FloatDType[] = ["bf16", "f16", "f32"];

/**
 * Convert a Meta checkpoint folder to a Hugging Face folder.
 * @param inputDir params.json + consolidated.NN.pth (+ tokenizer.model)
 * @param outputDir the folder to create; refused when it exists and is not empty, unless overwrite
 * @throws ArgumentError for bad options or an output folder in the way; ConfigError for a bad
 *   params.json key; FormatError for unreadable, hostile or inconsistent checkpoint files (shards
 *   that disagree, a missing tensor); ShapeError for a tensor that does not fit params.json;
 *   UnsupportedError for checkpoints this library cannot convert. In every case no output is left.
 * @example
 * await convertMetaCheckpoint("Llama3.1-8B-Instruct", "Llama-3.1-8B-Instruct-hf", { llamaVersion: "3.1", instruct: true });
 */
export async function convertMetaCheckpoint(inputDir: string, outputDir: string, options: ConvertMetaOptions = {}): Promise<ConvertMetaResult> {
  const warn = options.onWarning ?? ((): void => {});
  const dtype = options.dtype ?? "bf16";
  if (!FLOAT_DTYPES.includes(dtype)) throw new ArgumentError(`dtype must be one of ${FLOAT_DTYPES.join(", ")}; got ${JSON.stringify(dtype)}`);
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) throw new ArgumentError(`maxShardBytes must be a positive integer; got ${maxShardBytes}`);
  const folder = { overwrite: options.overwrite ?? false, protect: [inputDir] };
  // Everything that can be checked without reading tensors is checked before any output exists.
  await checkOutputFolder(outputDir, folder);
  const paramsPath = join(inputDir, "params.json");
  if (!existsSync(paramsPath)) throw new FormatError(inputDir, "no params.json: not a Meta checkpoint folder");
  const { config: paramsConfig, version } = resolveVersion(await readJsonFile(paramsPath), paramsPath, options, warn);
  const instruct = options.instruct ?? false;
  const facts = LLAMA_VERSION_FACTS[version];
  const tokenizer = await readTokenizer(inputDir, version, instruct, warn);

  const files = await metaShardFiles(inputDir);
  const shards: TensorSource[] = [];
  try {
    for (const file of files) shards.push(await openPytorchCheckpoint(join(inputDir, file)));
    const names = weightNames(paramsConfig.nLayers);
    const splits = new Map(names.map((w) => [w.meta, w.metaSplit]));
    const source = mergeMetaShards(shards, (name) => splits.get(name) ?? "replicated");
    const hasOutput = source.entries.has("output.weight");
    if (!hasOutput && !facts.tieWordEmbeddings) warn(`${inputDir}: no output.weight tensor: writing tie_word_embeddings: true (the output head reuses the embedding)`);
    const config: LlamaConfig = {
      ...paramsConfig,
      tieWordEmbeddings: facts.tieWordEmbeddings || !hasOutput,
      // Meta's special ids exist only with the full Llama 3 vocabulary (parseMetaParams decides).
      eosTokenIds: paramsConfig.bosTokenId === undefined ? [] : instruct ? facts.instructEosTokenIds : [LLAMA3_EOS_TOKEN_ID],
      storedDType: dtype,
    };
    if (tokenizer !== undefined && tokenizer.vocabSize !== config.vocabSize) {
      warn(`${inputDir}: tokenizer.model has ${tokenizer.vocabSize} tokens with the special ones but params.json says vocab_size ${config.vocabSize}`);
    }
    const tensors = weightsToWrite(source, config, { dtype, path: inputDir, warn, checkTiedOutput: hasOutput && config.tieWordEmbeddings });
    const totalBytes = tensors.reduce((sum, t) => sum + numel(t.shape) * DTYPE_BYTES[dtype], 0);
    let doneBytes = 0;
    let doneTensors = 0;
    // A first report before any work, so that a progress display can start its clock.
    options.onProgress?.({ tensor: "", doneTensors, totalTensors: tensors.length, doneBytes, totalBytes });
    const tracked = tensors.map((t): TensorToWrite => ({
      ...t,
      data: async () => {
        const tensor = await (t.data as () => Promise<FloatTensor>)();
        doneBytes += tensor.data.byteLength;
        doneTensors += 1;
        options.onProgress?.({ tensor: t.name, doneTensors, totalTensors: tensors.length, doneBytes, totalBytes });
        return tensor;
      },
    }));
    await writeFolderAtomically(outputDir, async (dir) => {
      await writeText(join(dir, "config.json"), serializeHfConfig(config));
      await writeText(join(dir, "generation_config.json"), serializeConfigJson(generationConfigJson(config)));
      if (tokenizer !== undefined) {
        await writeText(join(dir, "tokenizer.json"), tokenizer.tokenizerJson);
        await writeText(join(dir, "tokenizer_config.json"), tokenizer.tokenizerConfigJson);
        await writeText(join(dir, "special_tokens_map.json"), tokenizer.specialTokensMapJson);
      }
      await writeShardedSafetensors(dir, tracked, { maxShardBytes, metadata: { format: "pt" } });
    }, folder);
    const outFiles = (await readdir(outputDir)).sort();
    return { outputDir, llamaVersion: version, config, files: outFiles, weightBytes: totalBytes, tokenizer: tokenizer !== undefined };
  } finally {
    await Promise.all(shards.map((s) => s.close()));
  }
}

/**
 * params.json -> LlamaConfig, with the release chosen or inferred and the options checked against
 * what params.json says about rope scaling.
 */
function resolveVersion(json: unknown, path: string, options: ConvertMetaOptions, warn: (m: string) => void): { config: LlamaConfig; version: LlamaVersion } {
  const given = options.llamaVersion;
  if (given !== undefined && !isLlamaVersion(given)) throw new ArgumentError(`llamaVersion must be "3", "3.1" or "3.2"; got ${JSON.stringify(given)}`);
  // A first parse says whether rope is scaled and, for scaled rope, guesses 3.2 from the 1B/3B shapes.
  const probe = parseMetaParams(json, path, { ropeFactor: 1 });
  const guess = parseMetaParams(json, path);
  const scaled = probe.config.ropeScaling.kind === "llama3";
  const guessedFactor = guess.config.ropeScaling.kind === "llama3" ? guess.config.ropeScaling.factor : undefined;
  const version: LlamaVersion = given ?? (!scaled ? "3" : guessedFactor === LLAMA_VERSION_FACTS["3.2"].ropeFactor ? "3.2" : "3.1");
  if (version === "3" && scaled) throw new ArgumentError(`${path} has use_scaled_rope: true (Llama 3.1 and later), which contradicts llama version 3`);
  if (version !== "3" && !scaled) throw new ArgumentError(`${path} has no use_scaled_rope: true, which every Llama ${version} params.json has; is this Llama 3 (--llama-version 3)?`);
  if (options.ropeFactor !== undefined && !scaled) throw new ArgumentError(`a rope factor was given but ${path} does not use scaled rope`);
  if (given === undefined) {
    const why = !scaled ? "no use_scaled_rope" : version === "3.2" ? "use_scaled_rope with the 3.2 1B/3B shape: rope factor 32" : "use_scaled_rope: rope factor 8";
    warn(`${path}: no Llama version given; converting as Llama ${version} (${why}); pass --llama-version to choose`);
  }
  const ropeFactor = options.ropeFactor ?? LLAMA_VERSION_FACTS[version].ropeFactor;
  const parsed: ParsedConfig = scaled ? parseMetaParams(json, path, { ropeFactor: ropeFactor! }) : probe;
  if (parsed.unknownKeys.length > 0) warn(`${path}: unknown keys ignored: ${parsed.unknownKeys.join(", ")}`);
  parsed.warnings.forEach(warn);
  return { config: parsed.config, version };
}

/** The HF tokenizer files of the folder's tokenizer.model, or undefined (with a warning) when it has none. */
async function readTokenizer(inputDir: string, version: LlamaVersion, instruct: boolean, warn: (m: string) => void): Promise<HfTokenizerFiles | undefined> {
  const path = join(inputDir, "tokenizer.model");
  if (!existsSync(path)) {
    warn(`${inputDir}: no tokenizer.model: writing the model without tokenizer files${instruct ? " (and without the chat template)" : ""}`);
    return undefined;
  }
  const facts = LLAMA_VERSION_FACTS[version];
  return exportHfTokenizer(await readTextFile(path), path, {
    specialTokenNames: facts.specialTokenNames,
    eosToken: instruct ? END_OF_TURN : END_OF_TEXT,
    chatTemplate: instruct ? facts.chatTemplate : undefined,
    modelMaxLength: facts.maxPositionEmbeddings,
  });
}

interface PlanOptions {
  readonly dtype: FloatDType;
  readonly path: string;
  readonly warn: (message: string) => void;
  /** Tied embeddings but the checkpoint has output.weight: it must equal the embedding. */
  readonly checkTiedOutput: boolean;
}

/**
 * The tensors to write, in HF checkpoint order, each produced lazily from the merged source.
 * Checks every name, shape and dtype first, so a bad checkpoint fails before anything is written.
 */
function weightsToWrite(source: TensorSource, config: LlamaConfig, options: PlanOptions): TensorToWrite[] {
  const { dtype, path } = options;
  const weights = weightNames(config.nLayers).filter((w) => !(config.tieWordEmbeddings && w.canonical === "output.weight"));
  const shapes = expectedShapes(config);
  for (const weight of weights) {
    const entry = source.entries.get(weight.meta);
    if (entry === undefined) throw new FormatError(path, `missing tensor "${weight.meta}"`);
    const expected = weight.field.endsWith("Norm") ? shapes.norm : shapes[weight.field as keyof typeof shapes];
    if (!sameShape(expected, entry.shape)) throw new ShapeError(weight.meta, expected, entry.shape, entry.path);
    if (!isFloatDType(entry.dtype)) throw new UnsupportedError(`${entry.path}: tensor "${weight.meta}" has dtype ${entry.dtype}; weights must be f32, f16 or bf16`);
  }
  const used = new Set(weights.map((w) => w.meta));
  if (options.checkTiedOutput) used.add("output.weight");
  const extra = [...source.entries.keys()].filter((name) => !used.has(name) && !isIgnoredTensor("meta", name));
  if (extra.length > 0) options.warn(`${path}: ${extra.length} tensors are not converted: ${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", ..." : ""}`);

  return weights.map((weight) => {
    const expected = source.entries.get(weight.meta)!.shape;
    return {
      name: weight.hf,
      dtype,
      shape: expected,
      data: async (): Promise<FloatTensor> => {
        const tensor = await readConverted(source, weight, config, dtype);
        if (options.checkTiedOutput && weight.canonical === "token_embd.weight") await checkTied(source, tensor, config, dtype, path);
        return tensor;
      },
    };
  });
}

/** One weight, merged from the shards, q/k rows in the halves layout, in `dtype`. */
async function readConverted(source: TensorSource, weight: WeightName, config: LlamaConfig, dtype: FloatDType): Promise<FloatTensor> {
  const stored = (await source.read(weight.meta)) as FloatTensor; // (rows, cols) in the stored dtype
  if (weight.rotary === "none") return castFloat(stored, dtype);
  const nHeads = weight.rotary === "query" ? config.nHeads : config.nKvHeads;
  return castFloat({ ...stored, data: interleavedToHalves(stored.data, nHeads, config.headDim) } as FloatTensor, dtype);
}

/** With tied embeddings the output head is dropped: refuse when it is not the embedding. */
async function checkTied(source: TensorSource, embedding: FloatTensor, config: LlamaConfig, dtype: FloatDType, path: string): Promise<void> {
  const output = castFloat((await source.read("output.weight")) as FloatTensor, dtype); // (vocabSize, dim)
  const a = new Uint8Array(embedding.data.buffer, embedding.data.byteOffset, embedding.data.byteLength);
  const b = new Uint8Array(output.data.buffer, output.data.byteOffset, output.data.byteLength);
  if (a.length === b.length && Buffer.compare(a, b) === 0) return;
  throw new FormatError(path, `output.weight differs from tok_embeddings.weight, but Llama 3.2 ties them (tie_word_embeddings); convert as another version (vocab ${config.vocabSize})`);
}

/** Write a small text file durably (synced, renamed into place). */
async function writeText(path: string, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  await writeAtomically(path, (handle, tempPath) => writeRange(handle, tempPath, bytes.buffer, bytes.byteOffset, bytes.length, 0));
}
