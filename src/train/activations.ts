// What the training forward keeps for the backward pass, as llm.c's ActivationTensors
// (karpathy/llm.c train_gpt2.c): per layer the inputs of every op whose gradient needs them. The
// RMSNorm scales are recomputed from the stored inputs, attention probabilities from the stored
// log-sum-exp (attention-train.ts), and the SwiGLU output from gate and up, so the stored set is
// about (6 dim + 3 hiddenDim + 2 qDim + 2 kvDim) floats per token and layer, plus the logits.

import { type LlamaConfig, kvDim, qDim } from "../model/config.js";
import type { LoraModule } from "../model/lora.js";

/** One layer's saved tensors; n = rows * seqLen tokens. */
export interface LayerActivations {
  readonly kind?: "activations";
  /** (n, dim) the residual stream entering the layer (input of the attention RMSNorm) */
  readonly xIn: Float32Array;
  /** (n, dim) attention RMSNorm output (input of q, k, v) */
  readonly xnAttn: Float32Array;
  /** (n, nHeads, headDim) queries after RoPE */
  readonly q: Float32Array;
  /** (n, nKvHeads, headDim) keys after RoPE */
  readonly k: Float32Array;
  /** (n, nKvHeads, headDim) */
  readonly v: Float32Array;
  /** (n, nHeads) log-sum-exp of each query's scaled scores */
  readonly lse: Float64Array;
  /** (n, nHeads, headDim) attention output (input of o_proj) */
  readonly att: Float32Array;
  /** (n, dim) the residual stream after attention (input of the feed-forward RMSNorm) */
  readonly xMid: Float32Array;
  /** (n, dim) feed-forward RMSNorm output (input of gate and up) */
  readonly xnFfn: Float32Array;
  /** (n, hiddenDim) gate projection before SiLU */
  readonly gate: Float32Array;
  /** (n, hiddenDim) up projection */
  readonly up: Float32Array;
  /** (n, hiddenDim) silu(gate) * up (input of down_proj) */
  readonly h: Float32Array;
  /** per adapted projection: A's output (the input of B) and the dropout mask */
  readonly lora: Partial<Record<LoraModule, LoraActivation>>;
}

/** What an adapted projection keeps: A's output and, with dropout, which inputs were kept. */
export interface LoraActivation {
  /** (n, rank) A x', x' = dropout(x) */
  readonly ax: Float32Array;
  /** (n, inFeatures) 1 = kept (x' = x / (1 - p)), 0 = dropped; undefined without dropout (x' = x) */
  readonly keep: Uint8Array | undefined;
}

/** A checkpointed layer (gradient checkpointing): its input and dropout masks; the rest is recomputed. */
export interface LayerCheckpoint {
  readonly kind: "checkpoint";
  /** (n, dim) the residual stream entering the layer */
  readonly xIn: Float32Array;
  /** per adapted projection with dropout, its mask (n, inFeatures) */
  readonly keep: Partial<Record<LoraModule, Uint8Array>>;
}

/** Everything the training forward of one batch keeps. */
export interface Activations {
  readonly rows: number;
  readonly seqLen: number;
  /** rows * seqLen */
  readonly nTokens: number;
  /** (n) the input ids, row-major */
  readonly tokens: readonly number[];
  /** (n) attention mask */
  readonly mask: Uint8Array;
  /** (n, headDim / 2) rotary cos of each token's position (0 .. seqLen-1 in every row) */
  readonly cos: Float32Array;
  /** (n, headDim / 2) */
  readonly sin: Float32Array;
  /** each layer's activations, or its checkpoint when the forward ran with checkpointLayers */
  readonly layers: readonly (LayerActivations | LayerCheckpoint)[];
  /** (n, dim) the residual stream after the last layer (input of the final RMSNorm) */
  readonly xFinal: Float32Array;
  /** (n, dim) final RMSNorm output (input of the output head) */
  readonly xnFinal: Float32Array;
  /** (n, vocabSize) */
  readonly logits: Float32Array;
}

/** Fresh layer buffers for n tokens. */
export function allocateLayerActivations(config: LlamaConfig, n: number): LayerActivations {
  const { dim, hiddenDim, nHeads } = config;
  return {
    xIn: new Float32Array(n * dim),
    xnAttn: new Float32Array(n * dim),
    q: new Float32Array(n * qDim(config)),
    k: new Float32Array(n * kvDim(config)),
    v: new Float32Array(n * kvDim(config)),
    lse: new Float64Array(n * nHeads),
    att: new Float32Array(n * qDim(config)),
    xMid: new Float32Array(n * dim),
    xnFfn: new Float32Array(n * dim),
    gate: new Float32Array(n * hiddenDim),
    up: new Float32Array(n * hiddenDim),
    h: new Float32Array(n * hiddenDim),
    lora: {},
  };
}
