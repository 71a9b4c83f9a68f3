// Loading a model from a GGUF file: config from its `llama.*` keys (model/gguf-config.ts), weights
// from its tensors, whose names are our canonical names already (convert/names.ts). Every tensor's
// name, shape and type is checked before a byte of weights is read, so a file with a type we lack
// (IQ*, TQ*, MXFP4, ...) fails at once with an UnsupportedError naming tensor and type. Then one
// tensor at a time: with dtype "auto" each keeps its stored type (F32/F16/BF16 as float tensors,
// block formats as QuantTensors, straight into the backend's memory when nothing is to be done);
// a float dtype dequantizes (ggml's dequantize_row_*) and casts; a block dtype keeps a tensor
// already in it and quantizes any other from its float values. q/k rows are stored interleaved for
// llama.cpp's RoPE (convert_hf_to_gguf.py `permute`); they are moved to the halves layout once here
// (whole rows, so block rows move losslessly), in the backend's memory when they are read there.

import type { Backend } from "../backend/backend.js";
import { type WeightName, weightNames } from "../convert/names.js";
import { interleavedToHalves, interleavedToHalvesInPlace } from "../convert/rope-layout.js";
import { FormatError, ShapeError, UnsupportedError } from "../errors.js";
import { GGML_TYPE_BF16, GGML_TYPE_F16, GGML_TYPE_F32 } from "../io/gguf/gguf-constants.js";
import type { GgufTensorInfo } from "../io/gguf/gguf-header.js";
import { GgufMetadataReader } from "../io/gguf/gguf-metadata.js";
import { type GgufFile, openGguf } from "../io/gguf/gguf-reader.js";
import type { LlamaConfig } from "../model/config.js";
import { parseGgufConfig } from "../model/gguf-config.js";
import type { ParsedConfig } from "../model/hf-config.js";
import type { LlamaWeights } from "../model/weights.js";
import { bytesOf, expectedShape, loadEach } from "./load-weights.js";
import { castFloat, floatTensorToF32 } from "../tensor/cast.js";
import { type FloatDType, viewAs } from "../tensor/dtype.js";
import { type QuantTensor, type QuantType, checkQuantShape, dequantizeTensor, formatOfGgmlType, isQuantType, makeQuantTensor, quantizeTensor } from "../tensor/quant-formats.js";
import type { FloatTensor, WeightTensor } from "../tensor/tensor.js";
import { numel, sameShape } from "../tensor/tensor.js";

/** The float ggml types and what they are here. */
const FLOAT_TYPES: ReadonlyMap<number, FloatDType> = new Map([[GGML_TYPE_F32, "f32"], [GGML_TYPE_F16, "f16"], [GGML_TYPE_BF16, "bf16"]]);

/** The tensor holding llama3 rope divisors (llama.cpp LLM_TENSOR_ROPE_FREQS); read into the config. */
const ROPE_FREQS_TENSOR = "rope_freqs.weight";

/** How a tensor is stored: a float dtype or one of our block formats. */
export type GgufStoredType = FloatDType | QuantType;

/**
 * The dtype a GGUF tensor is held in here.
 * @throws UnsupportedError naming the tensor and its ggml type when we have no such type
 */
export function storedTypeOf(info: GgufTensorInfo, path: string): GgufStoredType {
  const float = FLOAT_TYPES.get(info.ggmlType.id);
  if (float !== undefined) return float;
  const format = formatOfGgmlType(info.ggmlType.id);
  if (format !== undefined && isQuantType(format.type)) return format.type;
  throw new UnsupportedError(`${path}: tensor "${info.name}" has type ${info.ggmlType.name}, which llama3-ts does not support (supported: F32, F16, BF16 and the block formats of tensor/quant-formats.ts)`);
}

/**
 * What the loader needs of an open GGUF: its header and tensors read by position. GgufFile (a file
 * on disk) is one; browser/gguf-web.ts (a URL or Blob in a page) is another.
 */
export type GgufTensorFile = Pick<GgufFile, "path" | "metadata" | "tensors" | "tensor" | "readInto" | "readBytes" | "close">;

/** An open GGUF model file: its config and the file, for loadGgufWeights. */
export interface OpenedGguf {
  readonly file: GgufTensorFile;
  readonly parsed: ParsedConfig;
}

/**
 * Open a GGUF and parse its config (reads the header and rope_freqs.weight only).
 * @throws as openGguf and parseGgufConfig; FormatError when token_embd.weight is missing
 */
export async function openGgufModel(path: string): Promise<OpenedGguf> {
  return ggufModelOf(await openGguf(path));
}

/**
 * The config of an open GGUF (reads rope_freqs.weight only); closes the file when it fails.
 * @throws as parseGgufConfig; FormatError when token_embd.weight is missing
 */
export async function ggufModelOf(file: GgufTensorFile): Promise<OpenedGguf> {
  const path = file.path;
  try {
    const embed = file.tensors.get("token_embd.weight");
    if (embed === undefined || embed.shape.length !== 2) throw new FormatError(path, 'no 2-D tensor "token_embd.weight"');
    const rope = file.tensors.get(ROPE_FREQS_TENSOR);
    let ropeFreqs: Float32Array | undefined;
    if (rope !== undefined) {
      if (rope.ggmlType.id !== GGML_TYPE_F32) throw new UnsupportedError(`${path}: ${ROPE_FREQS_TENSOR} is ${rope.ggmlType.name}; F32 expected`);
      const bytes = await file.readBytes(ROPE_FREQS_TENSOR);
      ropeFreqs = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    }
    const reader = new GgufMetadataReader(file.metadata, path);
    const parsed = parseGgufConfig(reader, { vocabSize: embed.shape[0]!, hasOutput: file.tensors.has("output.weight"), ropeFreqs });
    return { file, parsed };
  } catch (error) {
    await file.close();
    throw error;
  }
}

export interface GgufLoadOptions {
  /** "auto" keeps each tensor's stored type; a float dtype dequantizes; a block format (re)quantizes. */
  readonly dtype: FloatDType | QuantType | "auto";
  readonly backend?: Backend;
  readonly onProgress?: (loadedBytes: number, totalBytes: number) => void;
}

/**
 * Read the model's weights from an open GGUF.
 * @returns the weights and the tensors not used (rope_freqs.weight is used by the config)
 * @throws FormatError for a missing tensor; ShapeError for a wrong shape; UnsupportedError for a
 *   tensor type we lack or a shape the target block format cannot hold; NumericalError when
 *   quantizing a non-finite weight
 */
export async function loadGgufWeights(file: GgufTensorFile, config: LlamaConfig, options: GgufLoadOptions): Promise<{ weights: LlamaWeights; unusedTensors: string[] }> {
  const path = file.path;
  const names = weightNames(config.nLayers).filter((w) => !(config.tieWordEmbeddings && w.canonical === "output.weight"));
  const stored = new Map<string, GgufStoredType>();
  for (const weight of names) {
    const info = file.tensors.get(weight.canonical);
    if (info === undefined) throw new FormatError(path, `missing tensor "${weight.canonical}"`);
    const expected = expectedShape(config, weight);
    if (!sameShape(expected, info.shape)) throw new ShapeError(weight.canonical, expected, info.shape, path);
    const type = storedTypeOf(info, path);
    const isNorm = weight.field.endsWith("Norm");
    if (isNorm && isQuantType(type)) throw new UnsupportedError(`${path}: norm "${weight.canonical}" is ${info.ggmlType.name}; norms must be F32, F16 or BF16`);
    if (!isNorm && isQuantType(options.dtype) && options.dtype !== type) checkQuantShape(options.dtype, info.shape, `"${weight.canonical}" of ${path}`);
    stored.set(weight.canonical, type);
  }
  const allocate = options.backend?.allocateWeight?.bind(options.backend);
  const rotaryHeads = (weight: WeightName): number => (weight.rotary === "query" ? config.nHeads : config.nKvHeads);
  const readStored = async (weight: WeightName, type: GgufStoredType): Promise<WeightTensor> => {
    const info = file.tensor(weight.canonical);
    let bytes = await file.readBytes(weight.canonical);
    if (weight.rotary !== "none") bytes = interleavedToHalves(bytes, rotaryHeads(weight), config.headDim);
    if (isQuantType(type)) return makeQuantTensor(type, info.shape, bytes, weight.canonical);
    return { dtype: type, shape: info.shape, data: viewAs(type, bytes.buffer, bytes.byteOffset, numel(info.shape)) } as FloatTensor;
  };
  // The converted tensor, and whether the backend made it in its own memory (convertWeight).
  const convert = (tensor: WeightTensor, weight: WeightName): { tensor: WeightTensor; inBackend: boolean } => {
    const target = options.dtype === "auto" ? tensor.dtype : options.dtype;
    if (target === tensor.dtype) return { tensor, inBackend: false };
    const float: FloatTensor = isQuantType(tensor.dtype) ? { dtype: "f32", shape: tensor.shape, data: dequantizeTensor(tensor as QuantTensor) } : (tensor as FloatTensor);
    const name = `"${weight.canonical}" of ${path}`;
    const inBackend = options.backend?.convertWeight?.(float, target, name);
    if (inBackend !== undefined) return { tensor: inBackend, inBackend: true };
    return { tensor: isQuantType(target) ? quantizeTensor(float, target, name) : castFloat(float, target), inBackend: false };
  };
  const load = async (weight: WeightName): Promise<WeightTensor | Float32Array> => {
    const type = stored.get(weight.canonical)!;
    const isNorm = weight.field.endsWith("Norm");
    const keep = options.dtype === "auto" || options.dtype === type;
    if (!isNorm && keep && allocate !== undefined) {
      // Straight from the file into the backend's memory, q/k rows moved there: no second copy.
      const target = allocate(type, file.tensor(weight.canonical).shape);
      await file.readInto(weight.canonical, bytesOf(target));
      if (weight.rotary !== "none") interleavedToHalvesInPlace(bytesOf(target), rotaryHeads(weight), config.headDim);
      return target;
    }
    const tensor = await readStored(weight, type);
    if (isNorm) return floatTensorToF32(tensor as FloatTensor);
    const loaded = convert(tensor, weight);
    if (allocate === undefined || loaded.inBackend) return loaded.tensor;
    const target = allocate(loaded.tensor.dtype, loaded.tensor.shape);
    bytesOf(target).set(bytesOf(loaded.tensor));
    return target;
  };
  const weights = await loadEach(names, config.nLayers, load, (w) => file.tensor(w.canonical).byteLength, options.onProgress);
  const used = new Set([...names.map((w) => w.canonical), ROPE_FREQS_TENSOR]);
  return {
    weights,
    unusedTensors: [...file.tensors.keys()].filter((name) => !used.has(name)),
  };
}
