// Builds the model's weights record from a checkpoint's named tensors: looks each weight up under
// the checkpoint's naming scheme (convert/names.ts), checks its shape before reading a byte, reads
// tensors one at a time (so peak memory is the weights plus one tensor), moves Meta-layout q/k rows
// into the rotary halves layout, and casts to the requested dtype, or quantizes matrices to Q8_0 row
// by row (tensor/q8_0.ts; so peak memory is the Q8_0 weights plus one stored tensor). A backend
// with convertWeight does that cast or quantization itself, in its memory (the wasm backend on every
// thread), with the same bytes as a result. Knows no file format: the TensorSource hides
// safetensors or .pth.

import type { Backend } from "../backend/backend.js";
import { FormatError, ShapeError, UnsupportedError } from "../errors.js";
import type { TensorEntry, TensorSource } from "../io/tensor-source.js";
import { type NameScheme, type WeightName, isIgnoredTensor, nameIn, weightNames } from "../convert/names.js";
import { interleavedToHalves } from "../convert/rope-layout.js";
import type { LlamaConfig } from "../model/config.js";
import { type LayerWeights, type LlamaWeights, expectedShapes } from "../model/weights.js";
import { castFloat, floatTensorToF32 } from "../tensor/cast.js";
import { type FloatDType, isFloatDType, viewAs } from "../tensor/dtype.js";
import { type QuantType, checkQuantShape, isQuantType, quantizeTensor } from "../tensor/quant-formats.js";
import type { FloatTensor, WeightTensor } from "../tensor/tensor.js";
import { numel, sameShape } from "../tensor/tensor.js";

/**
 * Most bytes the reused read buffer (for a backend's convertWeight) may exceed the tensor read into
 * it before it is replaced by one of the tensor's size: a few layer matrices' worth.
 */
const READ_BUFFER_SLACK_BYTES = 64 * 1024 * 1024;

export interface LoadWeightsOptions {
  readonly scheme: NameScheme;
  /**
   * Element type of the loaded matrices; "auto" keeps what the checkpoint stores; a block format
   * ("q8_0", ...) quantizes every matrix (norms stay float32, widened from the stored values).
   */
  readonly dtype: FloatDType | QuantType | "auto";
  /** The checkpoint folder, for error messages. */
  readonly path: string;
  /**
   * Where weights go: when it has allocateWeight, each matrix is read into its memory; when it has
   * convertWeight, a matrix stored in another dtype is converted by it (after the q/k permutation).
   */
  readonly backend?: Backend;
  /** Called after each tensor with the stored bytes read so far and in all. */
  readonly onProgress?: (loadedBytes: number, totalBytes: number) => void;
}

export interface LoadedWeights {
  readonly weights: LlamaWeights;
  /** Checkpoint tensors the model does not use (reported, as transformers does). */
  readonly unusedTensors: readonly string[];
}

/** The shape a weight must have: its field's shape in expectedShapes (norms are all (dim)). */
function expectedShape(config: LlamaConfig, weight: WeightName): number[] {
  const shapes = expectedShapes(config);
  return weight.field.endsWith("Norm") ? shapes.norm : shapes[weight.field as keyof typeof shapes];
}

/**
 * Read a model's weights from `source`.
 * @throws FormatError for a missing tensor; ShapeError for a wrong shape; UnsupportedError for a
 *   weight that is not f32/f16/bf16, or (q8_0) a matrix whose rows are not whole 32-weight blocks;
 *   NumericalError (q8_0) for a non-finite weight
 */
export async function loadWeights(source: TensorSource, config: LlamaConfig, options: LoadWeightsOptions): Promise<LoadedWeights> {
  const { scheme, path } = options;
  const names = weightNames(config.nLayers).filter((w) => !(config.tieWordEmbeddings && w.canonical === "output.weight"));
  // Check every name, shape and dtype before reading anything: a bad checkpoint fails in milliseconds.
  for (const weight of names) {
    const name = nameIn(scheme, weight);
    const entry = source.entries.get(name);
    if (entry === undefined) {
      const hint = weight.canonical === "output.weight" ? " (set tie_word_embeddings: true if the output head shares the embedding)" : "";
      throw new FormatError(path, `missing tensor "${name}"${hint}`);
    }
    const expected = expectedShape(config, weight);
    if (!sameShape(expected, entry.shape)) throw new ShapeError(name, expected, entry.shape, entry.path);
    if (!isFloatDType(entry.dtype)) throw new UnsupportedError(`${entry.path}: tensor "${name}" has dtype ${entry.dtype}; weights must be f32, f16 or bf16`);
    if (isQuantType(options.dtype) && !weight.field.endsWith("Norm")) checkQuantShape(options.dtype, entry.shape, `"${name}" of ${entry.path}`);
  }
  const firstDType = source.entries.get(nameIn(scheme, names[0]!))!.dtype as FloatDType;
  const dtype = options.dtype === "auto" ? firstDType : options.dtype;

  const allocate = options.backend?.allocateWeight?.bind(options.backend);
  const convertInBackend = options.backend?.convertWeight?.bind(options.backend);
  let readBuffer: ArrayBuffer | undefined;
  // The stored tensor is done with when convertWeight returns. With allocateFloat32/freeFloat32 it is
  // read into the backend's memory, whose pages the next weights reuse (a JS buffer of a large
  // tensor stays resident until a garbage collection that a quiet loader may never trigger); else
  // into one reused JS buffer (fresh pages per tensor cost about as much as the conversion), dropped
  // when far larger than the tensor.
  const readForConversion = async (entry: TensorEntry): Promise<{ stored: FloatTensor; release: () => void }> => {
    const backend = options.backend!;
    const n = numel(entry.shape);
    let buffer: ArrayBufferLike;
    let release = (): void => {};
    if (backend.allocateFloat32 !== undefined && backend.freeFloat32 !== undefined) {
      const block = backend.allocateFloat32(Math.ceil(entry.byteLength / 4));
      buffer = block.buffer;
      release = () => backend.freeFloat32!(block);
      await source.readInto(entry.name, new Uint8Array(buffer, block.byteOffset, entry.byteLength)).catch((error: unknown) => {
        release();
        throw error;
      });
      return { stored: { dtype: entry.dtype, shape: entry.shape, data: viewAs(entry.dtype, buffer, block.byteOffset, n) } as FloatTensor, release };
    }
    if (readBuffer === undefined || readBuffer.byteLength < entry.byteLength || readBuffer.byteLength - entry.byteLength > READ_BUFFER_SLACK_BYTES) {
      readBuffer = undefined; // unreachable before the next one is allocated
      readBuffer = new ArrayBuffer(entry.byteLength);
    }
    buffer = readBuffer;
    await source.readInto(entry.name, new Uint8Array(buffer, 0, entry.byteLength));
    return { stored: { dtype: entry.dtype, shape: entry.shape, data: viewAs(entry.dtype, buffer, 0, n) } as FloatTensor, release };
  };
  const read = async (weight: WeightName): Promise<WeightTensor | Float32Array> => {
    const entry = source.entries.get(nameIn(scheme, weight))!;
    const isMatrix = !weight.field.endsWith("Norm");
    if (allocate !== undefined && isMatrix && entry.dtype === dtype && (scheme !== "meta" || weight.rotary === "none")) {
      // Straight from the file into the backend's memory: no second copy of the tensor.
      const target = allocate(dtype, entry.shape);
      await source.readInto(entry.name, bytesOf(target));
      return target;
    }
    if (convertInBackend !== undefined && isMatrix) {
      // Cast or quantized by the backend into its own memory: the bytes convert() would give.
      const { stored, release } = await readForConversion(entry);
      try {
        const tensor = scheme === "meta" ? toHalvesLayout(stored, weight, config) : stored;
        return convertInBackend(tensor, dtype, `"${nameIn(scheme, weight)}" of ${path}`);
      } finally {
        release();
      }
    }
    const loaded = await convert(weight);
    if (allocate === undefined || !isMatrix) return loaded;
    const target = allocate((loaded as WeightTensor).dtype, (loaded as WeightTensor).shape);
    bytesOf(target).set(bytesOf(loaded as WeightTensor));
    return target;
  };
  const convert = async (weight: WeightName): Promise<WeightTensor | Float32Array> => {
    const stored = (await source.read(nameIn(scheme, weight))) as FloatTensor;
    const tensor = scheme === "meta" ? toHalvesLayout(stored, weight, config) : stored;
    const isNorm = weight.field.endsWith("Norm");
    if (isQuantType(dtype)) return isNorm ? floatTensorToF32(tensor) : quantizeTensor(tensor, dtype, `"${nameIn(scheme, weight)}" of ${path}`);
    const cast = castFloat(tensor, dtype);
    return isNorm ? floatTensorToF32(cast) : cast;
  };
  const layers: Record<string, WeightTensor | Float32Array>[] = Array.from({ length: config.nLayers }, () => ({}));
  const globals: Record<string, WeightTensor | Float32Array> = {};
  const storedBytes = (weight: WeightName): number => source.entries.get(nameIn(scheme, weight))!.byteLength;
  const totalBytes = names.reduce((sum, weight) => sum + storedBytes(weight), 0);
  let loadedBytes = 0;
  for (const weight of names) {
    const value = await read(weight);
    loadedBytes += storedBytes(weight);
    options.onProgress?.(loadedBytes, totalBytes);
    if (weight.layer === undefined) globals[weight.field] = value;
    else layers[weight.layer]![weight.field] = value;
  }
  const used = new Set(names.map((w) => nameIn(scheme, w)));
  const unusedTensors = [...source.entries.keys()].filter((name) => !used.has(name) && !isIgnoredTensor(scheme, name));
  return {
    weights: {
      tokenEmbedding: globals["tokenEmbedding"] as WeightTensor,
      layers: layers as unknown as LayerWeights[],
      outputNorm: globals["outputNorm"] as Float32Array,
      output: (globals["output"] ?? globals["tokenEmbedding"]) as WeightTensor,
    },
    unusedTensors,
  };
}

/** The bytes of a tensor's data. */
function bytesOf(t: WeightTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Meta's q/k rows are interleaved pairs; the kernels want halves (see convert/rope-layout.ts). */
function toHalvesLayout(t: FloatTensor, weight: WeightName, config: LlamaConfig): FloatTensor {
  if (weight.rotary === "none") return t;
  const nHeads = weight.rotary === "query" ? config.nHeads : config.nKvHeads;
  const data = interleavedToHalves(t.data, nHeads, config.headDim);
  return { ...t, data } as FloatTensor;
}
