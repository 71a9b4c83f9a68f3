// Builds the model's weights record from a checkpoint's named tensors: looks each weight up under
// the checkpoint's naming scheme (convert/names.ts), checks its shape before reading a byte, reads
// tensors one at a time (so peak memory is the weights plus one tensor), moves Meta-layout q/k rows
// into the rotary halves layout, and casts to the requested dtype. Knows no file format: the
// TensorSource hides safetensors or .pth.

import { FormatError, ShapeError, UnsupportedError } from "../errors.js";
import type { TensorSource } from "../io/tensor-source.js";
import { type NameScheme, type WeightName, isIgnoredTensor, nameIn, weightNames } from "../convert/names.js";
import { interleavedToHalves } from "../convert/rope-layout.js";
import type { LlamaConfig } from "../model/config.js";
import { type LayerWeights, type LlamaWeights, expectedShapes } from "../model/weights.js";
import { castFloat, floatTensorToF32 } from "../tensor/cast.js";
import { type FloatDType, isFloatDType } from "../tensor/dtype.js";
import type { FloatTensor } from "../tensor/tensor.js";
import { sameShape } from "../tensor/tensor.js";

export interface LoadWeightsOptions {
  readonly scheme: NameScheme;
  /** Element type of the loaded matrices; "auto" keeps what the checkpoint stores. */
  readonly dtype: FloatDType | "auto";
  /** The checkpoint folder, for error messages. */
  readonly path: string;
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
 *   weight that is not f32/f16/bf16
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
  }
  const firstDType = source.entries.get(nameIn(scheme, names[0]!))!.dtype as FloatDType;
  const dtype = options.dtype === "auto" ? firstDType : options.dtype;

  const read = async (weight: WeightName): Promise<FloatTensor> => {
    const stored = (await source.read(nameIn(scheme, weight))) as FloatTensor;
    return castFloat(scheme === "meta" ? toHalvesLayout(stored, weight, config) : stored, dtype);
  };
  const layers: Record<string, FloatTensor | Float32Array>[] = Array.from({ length: config.nLayers }, () => ({}));
  const globals: Record<string, FloatTensor | Float32Array> = {};
  for (const weight of names) {
    const tensor = await read(weight);
    const value = weight.field.endsWith("Norm") ? floatTensorToF32(tensor) : tensor;
    if (weight.layer === undefined) globals[weight.field] = value;
    else layers[weight.layer]![weight.field] = value;
  }
  const used = new Set(names.map((w) => nameIn(scheme, w)));
  const unusedTensors = [...source.entries.keys()].filter((name) => !used.has(name) && !isIgnoredTensor(scheme, name));
  return {
    weights: {
      tokenEmbedding: globals["tokenEmbedding"] as FloatTensor,
      layers: layers as unknown as LayerWeights[],
      outputNorm: globals["outputNorm"] as Float32Array,
      output: (globals["output"] ?? globals["tokenEmbedding"]) as FloatTensor,
    },
    unusedTensors,
  };
}

/** Meta's q/k rows are interleaved pairs; the kernels want halves (see convert/rope-layout.ts). */
function toHalvesLayout(t: FloatTensor, weight: WeightName, config: LlamaConfig): FloatTensor {
  if (weight.rotary === "none") return t;
  const nHeads = weight.rotary === "query" ? config.nHeads : config.nKvHeads;
  const data = interleavedToHalves(t.data, nHeads, config.headDim);
  return { ...t, data } as FloatTensor;
}
