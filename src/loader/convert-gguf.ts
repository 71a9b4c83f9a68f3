// Writing a GGUF from a Hugging Face or Meta checkpoint folder, as llama.cpp's convert_hf_to_gguf.py
// does for Llama (`--outtype f32|f16|bf16|q8_0`), and as llama.cpp's quantizer then does for its file
// types (Q4_0 ... Q6_K, Q4_K_M, ...), one tensor in memory at a time, atomically (a temporary sibling
// renamed when complete: no partial output on failure). Keys: the config's (model/gguf-config.ts),
// the tokenizer's (tokenizer/export-gguf.ts) when the folder has one, and general.file_type.
// Tensors: rope_freqs.weight (F32) for a llama3 scaling, norms F32, every matrix in the asked float
// type (casts as tensor/cast.ts) or, for a quantized file type, in the block format llama.cpp's
// quantizer picks for it (gguf-quant-mix.ts), quantized with our ports of llama.cpp's reference
// quantizers, so the tensor bytes are llama.cpp's. q/k rows go back to the interleaved layout
// llama.cpp's RoPE wants.

import { basename, existsSync, join } from "#platform";
import { weightNames } from "../convert/names.js";
import { writeFileAtomically } from "../convert/output-folder.js";
import { halvesToInterleaved } from "../convert/rope-layout.js";
import { ArgumentError, ShapeError, TokenizerError, UnsupportedError } from "../errors.js";
import { GGML_TYPE_BF16, GGML_TYPE_F16, GGML_TYPE_F32 } from "../io/gguf/gguf-constants.js";
import type { GgufValue } from "../io/gguf/gguf-header.js";
import { type GgufTensorToWrite, writeGguf } from "../io/gguf/gguf-writer.js";
import { ggufConfigMetadata } from "../model/gguf-config.js";
import { castFloat, floatTensorToF32 } from "../tensor/cast.js";
import { type FloatDType, isFloatDType } from "../tensor/dtype.js";
import { BLOCK_FORMATS, checkQuantShape, quantizeTensor } from "../tensor/quant-formats.js";
import type { FloatTensor } from "../tensor/tensor.js";
import { sameShape } from "../tensor/tensor.js";
import { ggufTokenizerMetadata } from "../tokenizer/export-gguf.js";
import { readPretrained } from "../tokenizer/pretrained.js";
import { type GgufFileType, GGUF_FILE_TYPES, isGgufFileType, mixTensorType } from "./gguf-quant-mix.js";
import { expectedShape } from "./load-weights.js";
import { detectLayout, openHf, openMeta } from "./pretrained.js";

/** Types a GGUF may be written in: a float type, or one of llama.cpp's quantized file types. */
export type GgufOutType = FloatDType | GgufFileType;

/** Every GgufOutType, in the order options list them. */
export const GGUF_OUT_TYPES: readonly GgufOutType[] = ["f32", "f16", "bf16", ...(Object.keys(GGUF_FILE_TYPES) as GgufFileType[])];

/** llama.cpp's `enum llama_ftype` (llama.h) of the float file types. */
const FLOAT_FILE_TYPES: Readonly<Record<FloatDType, number>> = { f32: 0, f16: 1, bf16: 32 };

/** general.quantization_version llama.cpp writes for block formats (GGML_QNT_VERSION). */
const GGML_QNT_VERSION = 2;

const FLOAT_GGML_TYPES: Readonly<Record<FloatDType, number>> = { f32: GGML_TYPE_F32, f16: GGML_TYPE_F16, bf16: GGML_TYPE_BF16 };

export interface GgufConvertOptions {
  readonly outType: GgufOutType;
  /** Replace an existing output file (default: refuse). */
  readonly overwrite?: boolean;
  /** Meta folders: the llama3 rope factor params.json cannot state (see FromPretrainedOptions). */
  readonly metaRopeFactor?: number;
  readonly onWarning?: (message: string) => void;
  /** Called after each tensor with tensors written and in all. */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Convert a checkpoint folder to one GGUF file.
 * @returns the file written and how many tensors it holds
 * @throws ArgumentError for an output in the way; FormatError / ShapeError / ConfigError for a bad
 *   checkpoint; UnsupportedError for a shape the block format cannot hold or a type without quantizer
 * @example
 * await convertToGguf("models/Llama-3.2-1B-Instruct", "Llama-3.2-1B-Instruct-Q8_0.gguf", { outType: "q8_0" });
 */
export async function convertToGguf(inputDir: string, outputFile: string, options: GgufConvertOptions): Promise<{ outputFile: string; tensors: number }> {
  const warn = options.onWarning ?? ((): void => {});
  const { outType } = options;
  if (!(GGUF_OUT_TYPES as readonly string[]).includes(outType)) throw new ArgumentError(`cannot write a GGUF of type "${outType}": one of ${GGUF_OUT_TYPES.join(", ")}`);
  const layout = await detectLayout(inputDir);
  if (layout === "gguf") throw new ArgumentError(`${inputDir} is a GGUF already; convert takes a Hugging Face or Meta folder`);
  const { config, source, scheme } = layout === "hf" ? await openHf(inputDir, warn) : await openMeta(inputDir, warn, options.metaRopeFactor);
  try {
    const names = weightNames(config.nLayers).filter((w) => !(config.tieWordEmbeddings && w.canonical === "output.weight"));
    const nameOf = (w: (typeof names)[number]): string => (scheme === "hf" ? w.hf : w.meta);
    // The block format of each matrix (undefined: a float file type, or a norm).
    const blockType = (w: (typeof names)[number], shape: readonly number[]) =>
      isGgufFileType(outType) && !w.field.endsWith("Norm") ? mixTensorType(outType, w, shape[1]!, config) : undefined;
    for (const w of names) {
      const entry = source.entries.get(nameOf(w));
      if (entry === undefined) throw new ArgumentError(`${inputDir}: missing tensor "${nameOf(w)}"`);
      const expected = expectedShape(config, w);
      if (!sameShape(expected, entry.shape)) throw new ShapeError(nameOf(w), expected, entry.shape, entry.path);
      if (!isFloatDType(entry.dtype)) throw new UnsupportedError(`${entry.path}: tensor "${nameOf(w)}" is ${entry.dtype}; weights must be f32, f16 or bf16`);
      const type = blockType(w, entry.shape);
      if (type !== undefined) checkQuantShape(type, entry.shape, `"${nameOf(w)}" of ${inputDir}`);
    }
    const { metadata: configKeys, ropeFreqs } = ggufConfigMetadata(config);
    const metadata = new Map<string, GgufValue>([
      configKeys[0]!,
      ["general.name", { type: "string", value: basename(inputDir) }],
      ["general.file_type", { type: "u32", value: isGgufFileType(outType) ? GGUF_FILE_TYPES[outType].ftype : FLOAT_FILE_TYPES[outType] }],
      ...(!isGgufFileType(outType) ? [] : [["general.quantization_version", { type: "u32", value: GGML_QNT_VERSION }] as [string, GgufValue]]),
      ...configKeys.slice(1),
      ...(await tokenizerKeys(inputDir, config.vocabSize, warn)),
    ]);
    const tensors: GgufTensorToWrite[] = [];
    let written = ropeFreqs === undefined ? 0 : 1;
    if (ropeFreqs !== undefined) tensors.push({ name: "rope_freqs.weight", ggmlType: GGML_TYPE_F32, shape: [ropeFreqs.length], bytes: () => asBytes(ropeFreqs) });
    for (const w of names) {
      const isNorm = w.field.endsWith("Norm");
      const shape = source.entries.get(nameOf(w))!.shape;
      const type = blockType(w, shape);
      tensors.push({
        name: w.canonical,
        ggmlType: isNorm ? GGML_TYPE_F32 : type !== undefined ? BLOCK_FORMATS[type].ggmlType : FLOAT_GGML_TYPES[outType as FloatDType],
        shape,
        bytes: async () => {
          let t = (await source.read(nameOf(w))) as FloatTensor;
          // HF rows are in the halves layout; llama.cpp's are interleaved, as Meta's are.
          if (scheme === "hf" && w.rotary !== "none") t = { ...t, data: halvesToInterleaved(t.data, w.rotary === "query" ? config.nHeads : config.nKvHeads, config.headDim) } as FloatTensor;
          const name = `"${nameOf(w)}" of ${inputDir}`;
          const out = isNorm ? floatTensorToF32(t) : type !== undefined ? quantizeTensor(t, type, name).data : castFloat(t, outType as FloatDType).data;
          options.onProgress?.(++written, tensors.length);
          return asBytes(out);
        },
      });
    }
    await writeFileAtomically(outputFile, (temp) => writeGguf(temp, metadata, tensors), options.overwrite === undefined ? {} : { overwrite: options.overwrite });
    return { outputFile, tensors: tensors.length };
  } finally {
    await source.close();
  }
}

/** The tokenizer keys, or none (with a warning: llama.cpp cannot load such a file) when the folder has no tokenizer. */
async function tokenizerKeys(dir: string, vocabSize: number, warn: (message: string) => void): Promise<[string, GgufValue][]> {
  const has = ["tokenizer.json", "tokenizer.model", join("original", "tokenizer.model")].some((f) => existsSync(join(dir, f)));
  if (!has) {
    warn(`${dir}: no tokenizer; the GGUF gets no tokenizer.* keys (llama3-ts loads it, llama.cpp does not)`);
    return [];
  }
  try {
    return ggufTokenizerMetadata(await readPretrained(dir), vocabSize);
  } catch (error) {
    if (error instanceof TokenizerError) throw new ArgumentError(`${dir}: ${error.message}`, { cause: error });
    throw error;
  }
}

function asBytes(a: Float32Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
