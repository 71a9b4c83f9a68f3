// The Llama model configuration as the forward pass sees it: camelCase, validated, with the math
// names of ../shared/STYLE.md. Wire formats (HF config.json, Meta params.json, later GGUF keys) are
// parsed into this record in their own modules (hf-config.ts, meta-params.ts); nothing else reads
// them.

import type { FloatDType } from "../tensor/dtype.js";

/** How rotary frequencies are adjusted for long context. */
export type RopeScaling =
  | { readonly kind: "none" }
  | {
      /** Llama 3.1 frequency scaling (meta-llama/llama-models `apply_scaling`; HF rope_type "llama3"). */
      readonly kind: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

/** A validated Llama 3 model configuration. */
export interface LlamaConfig {
  /** Model width (HF hidden_size, Meta dim). */
  readonly dim: number;
  /** MLP width (HF intermediate_size). */
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly normEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  /** Context length the model was trained for (positions past it are allowed but untested by Meta). */
  readonly maxPositionEmbeddings: number;
  /** The output head reuses the token embedding (Llama 3.2 1B/3B). */
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | undefined;
  /** Every id that ends generation (config eos_token_id as a list). */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | undefined;
  /** The dtype the checkpoint says its weights are stored in (torch_dtype / dtype), if it says. */
  readonly storedDType: FloatDType | undefined;
}

/** Width of the key/value projections: nKvHeads * headDim. */
export function kvDim(config: LlamaConfig): number {
  return config.nKvHeads * config.headDim;
}

/** Width of the query projection: nHeads * headDim (equals dim for every released Llama 3). */
export function qDim(config: LlamaConfig): number {
  return config.nHeads * config.headDim;
}
