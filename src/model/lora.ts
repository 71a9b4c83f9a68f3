// A LoRA adapter as the model sees it (Hu et al. 2021; PEFT's LoraModel): for a target projection
// W (out, in), y = W x + scale * B (A x) with A (rank, in), B (out, rank), scale = alpha / rank.
// Weights are in the model's canonical layout (q/k rows in the Hugging Face rotate-half layout),
// float32. File formats (PEFT's adapter folder) live in `train/peft.ts`; this is only the record.

/** The projections of a layer an adapter may target, by their PEFT module names. */
export const LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LoraModule = (typeof LORA_MODULES)[number];

/** One adapted projection. */
export interface LoraPair {
  /** (rank, inFeatures) */
  readonly a: Float32Array;
  /** (outFeatures, rank) */
  readonly b: Float32Array;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export interface LoraAdapter {
  readonly rank: number;
  readonly alpha: number;
  /** alpha / rank (PEFT's scaling without rslora) */
  readonly scale: number;
  readonly targetModules: readonly LoraModule[];
  /** per layer, the adapted projections */
  readonly layers: ReadonlyArray<Partial<Record<LoraModule, LoraPair>>>;
}
