// The trainable tensors of a run: float32 master copies with their gradient buffers, by Hugging Face
// name (the names the fixtures, checkpoints and Trainer use), and the weights the kernels read.
// Full fine-tuning trains every tensor of the model in place: a float32 model's arrays are the
// masters themselves; a bf16 model (mixed precision, transformers' bf16=True) keeps float32 masters
// beside its bf16 arrays, and sync() rounds the masters into them (nearest even) after each step,
// so the forward reads bf16 weights while AdamW updates float32 ones; a float16 model the same way
// with float16 roundings (its gradients need loss scaling: grad-scaler.ts). Norm weights are float32 in
// every model (weights.ts) and are their own masters. Norm weights are not decayed (Trainer's
// get_decay_parameter_names excludes LlamaRMSNorm). LoRA's tensors are in lora.ts.

import { UnsupportedError } from "../errors.js";
import { weightNames } from "../convert/names.js";
import type { LlamaWeights } from "../model/weights.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../tensor/float16.js";
import { floatTensorToF32 } from "../tensor/cast.js";
import { isQuantTensor } from "../tensor/quant-formats.js";
import type { WeightTensor } from "../tensor/tensor.js";
import type { LayerGrads, ModelGrads } from "./backward.js";

/** One trained tensor. */
export interface TrainParam {
  /** Hugging Face (or PEFT) name */
  readonly name: string;
  readonly shape: readonly number[];
  /** float32 master values, updated by the optimizer */
  readonly data: Float32Array;
  /** float32 gradient, the same shape */
  readonly grad: Float32Array;
  /** whether AdamW's weight decay applies */
  readonly decay: boolean;
}

/** The tensors a run trains and where the backward writes their gradients. */
export interface TrainableParams {
  readonly params: readonly TrainParam[];
  readonly grads: ModelGrads;
  /** Bring the weights the kernels read up to date with the masters (after an optimizer step). */
  sync(): void;
}

/** Set every gradient to zero. */
export function zeroGrads(params: TrainableParams): void {
  for (const p of params.params) p.grad.fill(0);
}

/**
 * Every tensor of `weights` as a trained parameter (full fine-tuning). The weights are updated in
 * place by sync(): the model they belong to is the model being trained.
 * @throws UnsupportedError for block-format weights (a quantized base can only be trained through
 *   an adapter)
 */
export function fullParams(weights: LlamaWeights): TrainableParams {
  const params: TrainParam[] = [];
  const syncs: (() => void)[] = [];
  const byWeight = new Map<object, TrainParam>();
  const layerGrads: LayerGrads[] = weights.layers.map(() => ({}));
  const global: { tokenEmbedding?: Float32Array; outputNorm?: Float32Array; output?: Float32Array } = {};
  for (const name of weightNames(weights.layers.length)) {
    const holder = (name.layer === undefined ? weights : weights.layers[name.layer]!) as unknown as Record<string, WeightTensor | Float32Array>;
    const value = holder[name.field]!;
    let param = byWeight.get(value);
    if (param === undefined) {
      param = makeParam(name.hf, value, !name.field.endsWith("Norm"), syncs);
      byWeight.set(value, param);
      params.push(param);
    }
    if (name.layer === undefined) (global as Record<string, Float32Array>)[name.field] = param.grad;
    else (layerGrads[name.layer] as Record<string, Float32Array>)[name.field] = param.grad;
  }
  return { params, grads: { ...global, layers: layerGrads }, sync: () => syncs.forEach((s) => s()) };
}

function makeParam(name: string, value: WeightTensor | Float32Array, decay: boolean, syncs: (() => void)[]): TrainParam {
  if (value instanceof Float32Array) return { name, shape: [value.length], data: value, grad: new Float32Array(value.length), decay };
  if (isQuantTensor(value)) throw new UnsupportedError(`${name} is ${value.dtype}: a block-format base can only be trained through a LoRA adapter`);
  const data = floatTensorToF32(value);
  if (value.dtype === "bf16") {
    const bits = value.data;
    syncs.push(() => f32ArrayToBf16(data, bits));
  } else if (value.dtype === "f16") {
    const bits = value.data;
    syncs.push(() => f32ArrayToF16(data, bits));
  }
  return { name, shape: value.shape, data, grad: new Float32Array(data.length), decay };
}
