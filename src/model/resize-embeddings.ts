// Growing (or shrinking) the vocabulary of a model's embedding and output head, for tokenizers with
// added tokens such as a pad token. Follows transformers' `resize_token_embeddings` (modeling_utils
// `_get_resized_embeddings` / `_init_added_embeddings_weights_with_mean`): kept rows are copied, new
// rows are drawn around the mean of the old rows ("mean resizing") or from N(0, initializerRange^2).
//
// Departure: transformers samples new rows from a multivariate normal with covariance 1e-9 x the
// full (dim x dim) covariance of the old rows. That costs vocabSize x dim^2 operations (hours in
// JavaScript for dim 4096); we use its diagonal (per-dimension variance), which has the same mean and
// per-dimension spread, and differs only in the tiny (1e-9-scaled) cross-dimension correlation.

import { ArgumentError, UnsupportedError } from "../errors.js";
import { castFloat, floatTensorToF32 } from "../tensor/cast.js";
import { isQuantTensor } from "../tensor/quant-formats.js";
import type { Rng } from "../tensor/rng.js";
import type { FloatTensor } from "../tensor/tensor.js";
import type { LlamaConfig } from "./config.js";
import type { LlamaWeights } from "./weights.js";

/** transformers' epsilon scaling the old rows' covariance for the new rows' distribution. */
const MEAN_RESIZING_COVARIANCE_SCALE = 1e-9;

export interface ResizeEmbeddingsOptions {
  /** Draws the new rows' noise. */
  readonly rng: Rng;
  /** Round the new size up to a multiple of this (tensor-core friendly sizes, as transformers). */
  readonly padToMultipleOf?: number;
  /** New rows around the old rows' mean (default true, as transformers); false: N(0, initializerRange^2). */
  readonly meanResizing?: boolean;
  /** Standard deviation of new rows when meanResizing is false (transformers' initializer_range, 0.02). */
  readonly initializerRange?: number;
  /**
   * The pad token id, recorded in config.padTokenId. When it is one of the new rows, its embedding
   * row is zero (as `nn.Embedding(..., padding_idx)` initialises it, which the Llama 3 docs
   * recommend); a pad id inside the old vocabulary (e.g. Llama 3.1's <|finetune_right_pad_id|>)
   * keeps its trained row.
   */
  readonly padTokenId?: number | undefined;
}

/** The final vocabulary size for a requested one. */
export function paddedVocabSize(requested: number, padToMultipleOf: number | undefined): number {
  if (!Number.isInteger(requested) || requested < 1) throw new ArgumentError(`new vocabulary size must be a positive integer, got ${requested}`);
  if (padToMultipleOf === undefined) return requested;
  if (!Number.isInteger(padToMultipleOf) || padToMultipleOf < 1) throw new ArgumentError(`padToMultipleOf must be a positive integer, got ${padToMultipleOf}`);
  return Math.ceil(requested / padToMultipleOf) * padToMultipleOf;
}

/** One resized (vocab, dim) matrix. */
function resizeMatrix(old: FloatTensor, newRows: number, options: ResizeEmbeddingsOptions, zeroRow: number | undefined): FloatTensor {
  const [oldRows, dim] = old.shape as [number, number];
  const values = floatTensorToF32(old); // (oldRows, dim)
  const out = new Float32Array(newRows * dim); // (newRows, dim)
  out.set(values.subarray(0, Math.min(oldRows, newRows) * dim));
  if (newRows > oldRows) {
    const { mean, std } = (options.meanResizing ?? true)
      ? columnMeanAndStd(values, oldRows, dim)
      : { mean: new Float64Array(dim), std: new Float64Array(dim).fill(options.initializerRange ?? 0.02) };
    for (let r = oldRows; r < newRows; r++) {
      for (let j = 0; j < dim; j++) out[r * dim + j] = mean[j]! + std[j]! * options.rng.normal();
    }
  }
  if (zeroRow !== undefined) out.fill(0, zeroRow * dim, (zeroRow + 1) * dim);
  return castFloat({ dtype: "f32", shape: [newRows, dim], data: out }, old.dtype);
}

/** Per-column mean, and standard deviation sqrt(1e-9 x variance) of the new rows' distribution. */
function columnMeanAndStd(values: Float32Array, rows: number, dim: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(dim);
  const sumSquares = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dim; j++) mean[j] = mean[j]! + values[r * dim + j]!;
  }
  for (let j = 0; j < dim; j++) mean[j] = mean[j]! / rows;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dim; j++) {
      const d = values[r * dim + j]! - mean[j]!;
      sumSquares[j] = sumSquares[j]! + d * d;
    }
  }
  const std = sumSquares.map((s) => Math.sqrt((MEAN_RESIZING_COVARIANCE_SCALE * s) / rows));
  return { mean, std };
}

/**
 * The config and weights of a model whose vocabulary is resized to `newVocabSize` (rounded up to
 * padToMultipleOf). Layer weights are shared, not copied.
 * @throws ArgumentError for a bad size or a pad id outside the new vocabulary; UnsupportedError for a
 *   block-format (q8_0, ...) embedding or output head (load the model in a float dtype to resize it)
 */
export function resizeTokenEmbeddings(config: LlamaConfig, weights: LlamaWeights, newVocabSize: number, options: ResizeEmbeddingsOptions): { config: LlamaConfig; weights: LlamaWeights } {
  const { tokenEmbedding: oldEmbedding, output: oldOutput } = weights;
  if (isQuantTensor(oldEmbedding) || isQuantTensor(oldOutput)) {
    const quantized = isQuantTensor(oldEmbedding) ? oldEmbedding : oldOutput;
    throw new UnsupportedError(`resizeTokenEmbeddings: the ${quantized === oldEmbedding ? "token embedding" : "output head"} is ${quantized.dtype}, which cannot be resized; load the model in a float dtype (dtype "float32", "bfloat16" or "float16") to resize it`);
  }
  const vocabSize = paddedVocabSize(newVocabSize, options.padToMultipleOf);
  const pad = options.padTokenId;
  if (pad !== undefined && (!Number.isInteger(pad) || pad < 0 || pad >= vocabSize)) {
    throw new ArgumentError(`padTokenId ${pad} is outside the new vocabulary [0, ${vocabSize})`);
  }
  const zeroRow = pad !== undefined && pad >= config.vocabSize ? pad : undefined;
  const tokenEmbedding = resizeMatrix(oldEmbedding, vocabSize, options, zeroRow);
  // An untied head keeps a sampled row for the pad id (transformers' padding_idx concerns the
  // embedding only); a tied head shares the zero row, so the pad token's logit is always 0.
  const tied = oldOutput === oldEmbedding;
  const output = tied ? tokenEmbedding : resizeMatrix(oldOutput, vocabSize, options, undefined);
  return {
    config: { ...config, vocabSize, padTokenId: pad ?? config.padTokenId },
    weights: { ...weights, tokenEmbedding, output },
  };
}
