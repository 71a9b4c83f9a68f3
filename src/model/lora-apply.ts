// A LoRA adapter (model/lora.ts) at inference: checking that it fits a model, the per-projection
// tensors `LlamaModel.linear()` adds (y += scale * B (A x), as PEFT's lora.Linear.forward and
// llama.cpp's build_lora_mm), and merging it into the base weights (W + scale * B A, PEFT's
// merge_and_unload). Products run through the Backend's matmul, so every backend works.
// Not file formats: PEFT folders are train/peft.ts.

import type { Backend } from "../backend/backend.js";
import { ShapeError, UnsupportedError } from "../errors.js";
import { castFloat, floatTensorToF32 } from "../tensor/cast.js";
import { isQuantTensor } from "../tensor/quant-formats.js";
import type { FloatTensor, WeightTensor } from "../tensor/tensor.js";
import type { LlamaConfig } from "./config.js";
import { LORA_MODULES, type LoraAdapter, type LoraModule, type LoraPair } from "./lora.js";
import { type LayerWeights, type LlamaWeights, expectedShapes } from "./weights.js";

/** Which weight of a layer each PEFT module name adapts. */
export const LORA_MODULE_WEIGHTS: Readonly<Record<LoraModule, keyof LayerWeights & ("attnQ" | "attnK" | "attnV" | "attnOutput" | "ffnGate" | "ffnUp" | "ffnDown")>> = {
  q_proj: "attnQ",
  k_proj: "attnK",
  v_proj: "attnV",
  o_proj: "attnOutput",
  gate_proj: "ffnGate",
  up_proj: "ffnUp",
  down_proj: "ffnDown",
};

/** What linear() adds for one adapted weight. */
export interface LoraDelta {
  /** (rank, inFeatures) float32 */
  readonly a: FloatTensor;
  /** (outFeatures, rank) float32, already times the adapter's scale */
  readonly scaledB: FloatTensor;
  readonly rank: number;
}

/** The PEFT name of an adapted projection, for messages. */
function peftName(layer: number, module: LoraModule): string {
  const parent = module.endsWith("_proj") && ["gate_proj", "up_proj", "down_proj"].includes(module) ? "mlp" : "self_attn";
  return `base_model.model.model.layers.${layer}.${parent}.${module}`;
}

/**
 * Check that an adapter fits a model: no more layers, known modules, and A (rank, in), B (out, rank)
 * for every adapted projection's (out, in).
 * @throws ShapeError naming the PEFT tensor whose shape does not fit; UnsupportedError for a module
 *   name that is not a Llama projection
 */
export function checkAdapter(config: LlamaConfig, adapter: LoraAdapter): void {
  if (adapter.layers.length > config.nLayers) {
    throw new ShapeError("base_model.model.model.layers", [config.nLayers], [adapter.layers.length], "the adapter has more layers than the model");
  }
  const shapes = expectedShapes(config);
  adapter.layers.forEach((layer, l) => {
    for (const [module, pair] of Object.entries(layer) as [string, LoraPair][]) {
      if (!(LORA_MODULES as readonly string[]).includes(module)) throw new UnsupportedError(`LoRA module "${module}" of layer ${l} is not a Llama projection (${LORA_MODULES.join(", ")})`);
      const m = module as LoraModule;
      const [outF, inF] = shapes[LORA_MODULE_WEIGHTS[m]] as [number, number];
      const name = peftName(l, m);
      if (pair.inFeatures !== inF || pair.a.length !== adapter.rank * inF) throw new ShapeError(`${name}.lora_A.weight`, [adapter.rank, inF], [pair.a.length / pair.inFeatures || 0, pair.inFeatures], "the adapter does not fit the model");
      if (pair.outFeatures !== outF || pair.b.length !== outF * adapter.rank) throw new ShapeError(`${name}.lora_B.weight`, [outF, adapter.rank], [pair.outFeatures, pair.b.length / pair.outFeatures || 0], "the adapter does not fit the model");
    }
  });
}

/**
 * The deltas linear() adds, keyed by the base weight object they adapt.
 * @throws as checkAdapter
 */
export function loraDeltas(config: LlamaConfig, weights: LlamaWeights, adapter: LoraAdapter): Map<WeightTensor, LoraDelta> {
  checkAdapter(config, adapter);
  const deltas = new Map<WeightTensor, LoraDelta>();
  adapter.layers.forEach((layer, l) => {
    for (const [module, pair] of Object.entries(layer) as [LoraModule, LoraPair][]) {
      const scaled = new Float32Array(pair.b.length);
      for (let i = 0; i < scaled.length; i++) scaled[i] = pair.b[i]! * adapter.scale;
      deltas.set(weights.layers[l]![LORA_MODULE_WEIGHTS[module]], {
        a: { dtype: "f32", shape: [adapter.rank, pair.inFeatures], data: pair.a },
        scaledB: { dtype: "f32", shape: [pair.outFeatures, adapter.rank], data: scaled },
        rank: adapter.rank,
      });
    }
  });
  return deltas;
}

/** out (n, outFeatures) += scaledB (A x): the adapter's share of one projection. */
export function addLoraDelta(backend: Backend, out: Float32Array, x: Float32Array, delta: LoraDelta, n: number): void {
  const ax = new Float32Array(n * delta.rank); // (n, rank)
  backend.matmul(ax, x, delta.a, n);
  const bax = new Float32Array(out.length); // (n, outFeatures)
  backend.matmul(bax, ax, delta.scaledB, n);
  backend.addInPlace(out, bax);
}

/**
 * The weights with the adapter merged in: W + scale * B A for every adapted projection, computed in
 * float32 and stored in W's dtype (rounded to nearest even for bf16/f16, as PEFT merges in the
 * model's dtype). Unadapted weights are shared, not copied.
 * @throws as checkAdapter; UnsupportedError for a block-format (q8_0, ...) base weight
 */
export function mergeLora(config: LlamaConfig, weights: LlamaWeights, adapter: LoraAdapter): LlamaWeights {
  checkAdapter(config, adapter);
  const layers = weights.layers.map((base, l) => {
    const adapted = adapter.layers[l] ?? {};
    const merged: Record<string, WeightTensor> = {};
    for (const [module, pair] of Object.entries(adapted) as [LoraModule, LoraPair][]) {
      const key = LORA_MODULE_WEIGHTS[module];
      const w = base[key];
      if (isQuantTensor(w)) throw new UnsupportedError(`cannot merge a LoRA adapter into ${peftName(l, module)}, stored as ${w.dtype}; load the base model in a float dtype (float32, bfloat16 or float16) to merge`);
      const values = floatTensorToF32(w).slice(); // (out, in)
      const { rank, scale } = adapter;
      const { inFeatures: inF, outFeatures: outF } = pair;
      for (let o = 0; o < outF; o++) {
        for (let r = 0; r < rank; r++) {
          const s = scale * pair.b[o * rank + r]!;
          if (s === 0) continue;
          const row = o * inF;
          const aRow = r * inF;
          for (let i = 0; i < inF; i++) values[row + i] = values[row + i]! + s * pair.a[aRow + i]!;
        }
      }
      merged[key] = castFloat({ dtype: "f32", shape: [outF, inF], data: values }, w.dtype);
    }
    return { ...base, ...merged } as LayerWeights;
  });
  return { ...weights, layers };
}
