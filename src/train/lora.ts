// LoRA training (Hu et al. 2021) as PEFT's LoraModel does it: the base model frozen (any dtype the
// kernels run, q8_0 included: only the adapter has gradients and optimizer state), A (rank, in) and
// B (out, rank) trainable for the target projections of every layer, y = W x + alpha / rank *
// B(A dropout(x)). PEFT's init (LoraLayer.reset_lora_parameters with init_lora_weights=True): A
// Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)), B zeros, so training starts at
// the base model. Adapter weights are in the model's layout, which is Hugging Face's (q/k rows in the
// rotate-half layout), so PEFT adapters apply unchanged. The adapter's float32 arrays are both the
// masters and what the kernels read. Adapter folders (adapter_config.json, safetensors) are
// train/peft.ts; this names tensors as PEFT's state dict does.

import { ArgumentError } from "../errors.js";
import type { LlamaConfig } from "../model/config.js";
import { LORA_MODULES, type LoraAdapter, type LoraModule, type LoraPair } from "../model/lora.js";
import { expectedShapes } from "../model/weights.js";
import type { Rng } from "../tensor/rng.js";
import type { LoraPairGrads } from "./backward.js";
import { MODULE_FIELD } from "./forward.js";
import type { TrainParam, TrainableParams } from "./params.js";

/** The PEFT submodule path of each projection (LlamaDecoderLayer's attribute names). */
const MODULE_PATH: Readonly<Record<LoraModule, string>> = {
  q_proj: "self_attn.q_proj", k_proj: "self_attn.k_proj", v_proj: "self_attn.v_proj", o_proj: "self_attn.o_proj",
  gate_proj: "mlp.gate_proj", up_proj: "mlp.up_proj", down_proj: "mlp.down_proj",
};

/**
 * A LoRA tensor's key in PEFT's adapter_model.safetensors.
 * @example
 * loraTensorName(0, "q_proj", "a"); // "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
 */
export function loraTensorName(layer: number, module: LoraModule, which: "a" | "b"): string {
  return `base_model.model.model.layers.${layer}.${MODULE_PATH[module]}.lora_${which === "a" ? "A" : "B"}.weight`;
}

/** (outFeatures, inFeatures) of a projection under `config`. */
export function projectionShape(config: LlamaConfig, module: LoraModule): readonly [number, number] {
  const shape = expectedShapes(config)[MODULE_FIELD[module] as "attnQ"];
  return [shape[0]!, shape[1]!];
}

export interface LoraInitOptions {
  /** default 8 */
  readonly rank?: number;
  /** default 16; scale = alpha / rank */
  readonly alpha?: number;
  /** PEFT module names, or "all-linear" for every projection; default q_proj, v_proj (PEFT's Llama default) */
  readonly targetModules?: readonly LoraModule[] | "all-linear";
  /** draws A */
  readonly rng: Rng;
}

/** The target list an option names. @throws ArgumentError for an unknown or repeated module */
export function resolveTargetModules(targets: readonly string[] | "all-linear" | undefined): LoraModule[] {
  if (targets === "all-linear") return [...LORA_MODULES];
  const list = targets ?? ["q_proj", "v_proj"];
  if (list.length === 0) throw new ArgumentError("LoRA needs at least one target module");
  for (const m of list) {
    if (!(LORA_MODULES as readonly string[]).includes(m)) throw new ArgumentError(`unknown LoRA target module ${JSON.stringify(m)}; expected some of ${LORA_MODULES.join(", ")} or all-linear`);
  }
  if (new Set(list).size !== list.length) throw new ArgumentError(`LoRA target modules repeat: ${list.join(", ")}`);
  return [...list] as LoraModule[];
}

/**
 * A new adapter for every layer of a model, initialised as PEFT does.
 * @throws ArgumentError for a rank that is not a positive integer, a non-positive alpha, unknown modules
 * @example
 * const adapter = initLoraAdapter(model.config, { rank: 8, alpha: 16, rng: new Rng(42) });
 */
export function initLoraAdapter(config: LlamaConfig, options: LoraInitOptions): LoraAdapter {
  const rank = options.rank ?? 8;
  const alpha = options.alpha ?? 16;
  if (!Number.isInteger(rank) || rank < 1) throw new ArgumentError(`LoRA rank must be a positive integer; got ${rank}`);
  if (!(alpha > 0)) throw new ArgumentError(`LoRA alpha must be positive; got ${alpha}`);
  const targetModules = resolveTargetModules(options.targetModules);
  const layers = Array.from({ length: config.nLayers }, () => {
    const pairs: Partial<Record<LoraModule, LoraPair>> = {};
    for (const module of targetModules) {
      const [outFeatures, inFeatures] = projectionShape(config, module);
      const bound = 1 / Math.sqrt(inFeatures); // kaiming_uniform_(a=sqrt(5)): gain sqrt(1/3) * sqrt(3 / fan_in)
      const a = new Float32Array(rank * inFeatures).map(() => (2 * options.rng.uniform() - 1) * bound); // (rank, inFeatures)
      pairs[module] = { a, b: new Float32Array(outFeatures * rank), inFeatures, outFeatures };
    }
    return pairs;
  });
  return { rank, alpha, scale: alpha / rank, targetModules, layers };
}

/**
 * Check that an adapter fits a model: one entry per layer, its pairs' shapes those of the projections.
 * @throws ArgumentError naming the first tensor that does not fit
 */
export function checkAdapter(config: LlamaConfig, adapter: LoraAdapter): void {
  if (adapter.layers.length !== config.nLayers) throw new ArgumentError(`the LoRA adapter has ${adapter.layers.length} layers; the model has ${config.nLayers}`);
  adapter.layers.forEach((pairs, l) => {
    for (const [module, pair] of Object.entries(pairs) as [LoraModule, LoraPair][]) {
      const [outFeatures, inFeatures] = projectionShape(config, module);
      if (pair.inFeatures !== inFeatures || pair.outFeatures !== outFeatures || pair.a.length !== adapter.rank * inFeatures || pair.b.length !== outFeatures * adapter.rank) {
        throw new ArgumentError(`${loraTensorName(l, module, "a")}: a rank-${adapter.rank} pair for (${outFeatures}, ${inFeatures}) needs A (${adapter.rank}, ${inFeatures}) and B (${outFeatures}, ${adapter.rank}); got ${pair.a.length} and ${pair.b.length} values for (${pair.outFeatures}, ${pair.inFeatures})`);
      }
    }
  });
}

/**
 * The adapter's A and B as trained parameters (trained in place), in PEFT's state-dict order. All
 * are decayed (Trainer excludes only biases and norm weights, which an adapter has none of).
 * @throws ArgumentError when the adapter does not fit the model (checkAdapter)
 */
export function loraParams(config: LlamaConfig, adapter: LoraAdapter): TrainableParams {
  checkAdapter(config, adapter);
  const params: TrainParam[] = [];
  const lora = adapter.layers.map((pairs, l) => {
    const grads: Partial<Record<LoraModule, LoraPairGrads>> = {};
    for (const module of LORA_MODULES) {
      const pair = pairs[module];
      if (pair === undefined) continue;
      const a: TrainParam = { name: loraTensorName(l, module, "a"), shape: [adapter.rank, pair.inFeatures], data: pair.a, grad: new Float32Array(pair.a.length), decay: true };
      const b: TrainParam = { name: loraTensorName(l, module, "b"), shape: [pair.outFeatures, adapter.rank], data: pair.b, grad: new Float32Array(pair.b.length), decay: true };
      params.push(a, b);
      grads[module] = { a: a.grad, b: b.grad };
    }
    return grads;
  });
  return { params, grads: { layers: adapter.layers.map(() => ({})), lora }, sync: () => {} };
}
