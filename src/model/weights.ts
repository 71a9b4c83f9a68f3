// The weights record of a Llama model: every tensor the forward pass reads, under the canonical
// (GGUF-style) names, in the layout the kernels expect. Matrices keep their stored dtype (f32, f16 or
// bf16; the backend widens on the fly) or are Q8_0 blocks (tensor/q8_0.ts); norm weights are float32
// vectors (they are tiny, and RMSNorm is computed in float32). q/k rows are in the "halves" rotary
// layout (see kernels/reference/rope.ts).

import { ShapeError } from "../errors.js";
import type { WeightTensor } from "../tensor/tensor.js";
import { sameShape } from "../tensor/tensor.js";
import { type LlamaConfig, kvDim, qDim } from "./config.js";

/** The weights of one transformer block (GGUF names: blk.N.attn_norm, blk.N.attn_q, ...). */
export interface LayerWeights {
  /** (dim) */
  readonly attnNorm: Float32Array;
  /** (nHeads * headDim, dim), rotary halves layout */
  readonly attnQ: WeightTensor;
  /** (nKvHeads * headDim, dim), rotary halves layout */
  readonly attnK: WeightTensor;
  /** (nKvHeads * headDim, dim) */
  readonly attnV: WeightTensor;
  /** (dim, nHeads * headDim) */
  readonly attnOutput: WeightTensor;
  /** (dim) */
  readonly ffnNorm: Float32Array;
  /** (hiddenDim, dim) */
  readonly ffnGate: WeightTensor;
  /** (hiddenDim, dim) */
  readonly ffnUp: WeightTensor;
  /** (dim, hiddenDim) */
  readonly ffnDown: WeightTensor;
}

/** All weights of a Llama model. */
export interface LlamaWeights {
  /** (vocabSize, dim) token_embd */
  readonly tokenEmbedding: WeightTensor;
  readonly layers: readonly LayerWeights[];
  /** (dim) output_norm */
  readonly outputNorm: Float32Array;
  /** (vocabSize, dim) output; the same object as tokenEmbedding when embeddings are tied */
  readonly output: WeightTensor;
}

/** The shape each canonical weight must have under `config`. */
export function expectedShapes(config: LlamaConfig): {
  tokenEmbedding: number[]; output: number[]; attnQ: number[]; attnK: number[]; attnV: number[];
  attnOutput: number[]; ffnGate: number[]; ffnUp: number[]; ffnDown: number[]; norm: number[];
} {
  const { dim, hiddenDim, vocabSize } = config;
  return {
    tokenEmbedding: [vocabSize, dim],
    output: [vocabSize, dim],
    attnQ: [qDim(config), dim],
    attnK: [kvDim(config), dim],
    attnV: [kvDim(config), dim],
    attnOutput: [dim, qDim(config)],
    ffnGate: [hiddenDim, dim],
    ffnUp: [hiddenDim, dim],
    ffnDown: [dim, hiddenDim],
    norm: [dim],
  };
}

/**
 * Check that every weight has the shape the config implies.
 * @throws ShapeError naming the first tensor that does not
 */
export function checkWeights(config: LlamaConfig, weights: LlamaWeights): void {
  const shapes = expectedShapes(config);
  const check = (name: string, expected: number[], actual: readonly number[]): void => {
    if (!sameShape(expected, actual)) throw new ShapeError(name, expected, actual);
  };
  check("token_embd", shapes.tokenEmbedding, weights.tokenEmbedding.shape);
  check("output", shapes.output, weights.output.shape);
  check("output_norm", shapes.norm, [weights.outputNorm.length]);
  if (weights.layers.length !== config.nLayers) {
    throw new ShapeError("blk.*", [config.nLayers], [weights.layers.length], "number of layers");
  }
  weights.layers.forEach((layer, i) => {
    check(`blk.${i}.attn_norm`, shapes.norm, [layer.attnNorm.length]);
    check(`blk.${i}.attn_q`, shapes.attnQ, layer.attnQ.shape);
    check(`blk.${i}.attn_k`, shapes.attnK, layer.attnK.shape);
    check(`blk.${i}.attn_v`, shapes.attnV, layer.attnV.shape);
    check(`blk.${i}.attn_output`, shapes.attnOutput, layer.attnOutput.shape);
    check(`blk.${i}.ffn_norm`, shapes.norm, [layer.ffnNorm.length]);
    check(`blk.${i}.ffn_gate`, shapes.ffnGate, layer.ffnGate.shape);
    check(`blk.${i}.ffn_up`, shapes.ffnUp, layer.ffnUp.shape);
    check(`blk.${i}.ffn_down`, shapes.ffnDown, layer.ffnDown.shape);
  });
}

/** Bytes the weights occupy (a tied embedding counted once). */
export function weightBytes(weights: LlamaWeights): number {
  const seen = new Set<object>();
  let total = 0;
  const add = (data: ArrayBufferView): void => {
    if (seen.has(data)) return;
    seen.add(data);
    total += data.byteLength;
  };
  add(weights.tokenEmbedding.data);
  add(weights.output.data);
  add(weights.outputNorm);
  for (const layer of weights.layers) {
    for (const value of Object.values(layer) as (WeightTensor | Float32Array)[]) add(value instanceof Float32Array ? value : value.data);
  }
  return total;
}
