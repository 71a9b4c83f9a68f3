// The training forward pass: a right-padded batch (TrainBatch) in, logits and the activations the
// backward needs out, after llm.c's gpt2_forward (karpathy/llm.c train_gpt2.c) and transformers'
// LlamaForCausalLM.forward with an attention mask: every row at positions 0 .. seqLen-1, keys at mask
// 0 never attended to. The same kernels as the inference forward (model/llama.ts) in the same order,
// except attention, which runs over the whole padded batch with a mask and keeps log-sum-exps
// (kernels/reference/attention-train.ts); so on real tokens the logits are the inference forward's
// on the reference backend. The weight products and that attention run on the view's Backend (the
// WebAssembly one when given; attention through its TrainingBackend op, training-backend.ts), and so
// do SwiGLU (no weights) and the adapter's small products (TrainingBackend.matmulStaged, which stages
// A and B per call); RMSNorm, RoPE and the residual adds run on the reference kernels, because a
// backend may keep copies of arrays it is handed (norm weights, rotary tables), which training
// changes. Every projection goes through one linear(), where a LoRA adapter adds
// scale * B(A dropout(x)) as PEFT's LoraLayer does. No KV cache, no chunking: the batch is one pass.

import type { Backend } from "../backend/backend.js";
import { trainingBackend } from "../backend/training-backend.js";
import { ArgumentError } from "../errors.js";
import type { TrainAttentionShape } from "../kernels/reference/attention-train.js";
import { addInPlace, rmsNorm } from "../kernels/reference/elementwise.js";
import { embed } from "../kernels/reference/linear.js";
import { rope as ropeRotate } from "../kernels/reference/rope.js";
import type { LlamaConfig } from "../model/config.js";
import type { LoraAdapter, LoraModule, LoraPair } from "../model/lora.js";
import type { RopeTable } from "../model/rope.js";
import type { LayerWeights, LlamaWeights } from "../model/weights.js";
import type { Rng } from "../tensor/rng.js";
import type { WeightTensor } from "../tensor/tensor.js";
import { type Activations, type LayerActivations, type LayerCheckpoint, type LoraActivation, allocateLayerActivations } from "./activations.js";
import type { TrainBatch } from "./batch.js";

/** The record field of each PEFT module name. */
export const MODULE_FIELD: Readonly<Record<LoraModule, keyof LayerWeights>> = {
  q_proj: "attnQ", k_proj: "attnK", v_proj: "attnV", o_proj: "attnOutput", gate_proj: "ffnGate", up_proj: "ffnUp", down_proj: "ffnDown",
};

/** What the training forward and backward read: the model as it stands at this step. */
export interface TrainModelView {
  readonly config: LlamaConfig;
  /** The weights the kernels read (compute copies: float32 masters themselves, or bf16 roundings) */
  readonly weights: LlamaWeights;
  /** A LoRA adapter on top of the (frozen) weights, float32 */
  readonly adapter?: LoraAdapter | undefined;
  /** PEFT's lora_dropout probability on the adapter's input (0: none) */
  readonly loraDropout?: number;
  readonly backend: Backend;
  /** Rotary tables of the model (model/rope.ts) */
  readonly rope: RopeTable;
}

export interface TrainForwardOptions {
  /** Draws the LoRA dropout masks; required when loraDropout > 0 */
  readonly rng?: Rng;
  /**
   * Keep only each layer's input (and dropout masks); the backward recomputes the layer's
   * activations from it (gradient checkpointing: activation memory of one layer instead of all)
   */
  readonly checkpointLayers?: boolean;
}

/** What a layer's forward reads besides the weights: the batch's shape, mask and rotary rows. */
export interface LayerContext {
  readonly n: number;
  readonly mask: Uint8Array;
  readonly shape: TrainAttentionShape;
  /** (n, headDim / 2) */
  readonly cos: Float32Array;
  /** (n, headDim / 2) */
  readonly sin: Float32Array;
}

/**
 * Run the model on a batch, keeping what the backward needs.
 * @returns the activations; `logits` (rows * seqLen, vocabSize)
 * @throws ArgumentError for an id outside the vocabulary or a batch of inconsistent sizes
 */
export function trainForward(model: TrainModelView, batch: TrainBatch, options: TrainForwardOptions = {}): Activations {
  const { config, weights, backend } = model;
  const { dim, nHeads, nKvHeads, headDim, normEps, vocabSize } = config;
  checkBatch(batch, vocabSize);
  const { rows, seqLen } = batch;
  const n = rows * seqLen;
  const half = headDim / 2;
  model.rope.ensure(seqLen);
  const cos = new Float32Array(n * half); // (n, headDim / 2)
  const sin = new Float32Array(n * half); // (n, headDim / 2)
  for (let r = 0; r < rows; r++) {
    cos.set(model.rope.cosRows(0, seqLen), r * seqLen * half);
    sin.set(model.rope.sinRows(0, seqLen), r * seqLen * half);
  }
  const tokens = Array.from(batch.inputIds);
  const ctx: LayerContext = { n, mask: batch.attentionMask, shape: { rows, seqLen, nHeads, nKvHeads, headDim }, cos, sin };
  const x = new Float32Array(n * dim); // (n, dim) the residual stream
  embed(x, weights.tokenEmbedding, tokens);
  // Checkpointing: every layer runs in one set of buffers, of which only the input is copied out.
  const scratch = options.checkpointLayers === true ? allocateLayerActivations(config, n) : undefined;
  const layers = weights.layers.map((_, l): LayerActivations | LayerCheckpoint => {
    const a = layerForward(model, l, x, ctx, options.rng, undefined, scratch);
    if (scratch === undefined) return a;
    const keep: Partial<Record<LoraModule, Uint8Array>> = {};
    for (const [module, saved] of Object.entries(a.lora) as [LoraModule, LoraActivation][]) if (saved.keep !== undefined) keep[module] = saved.keep;
    return { kind: "checkpoint", xIn: Float32Array.from(a.xIn), keep };
  });
  const xnFinal = new Float32Array(n * dim); // (n, dim)
  rmsNorm(xnFinal, x, weights.outputNorm, n, normEps);
  // In the backend's memory when it has one (as the inference forward's buffers): the output
  // product and the backward's read them in place, not through a staging copy as large, which a
  // WebAssembly memory keeps once grown (the vocabulary makes them the largest activation).
  const logits = backend.allocateFloat32?.(n * vocabSize) ?? new Float32Array(n * vocabSize); // (n, vocabSize)
  backend.matmul(logits, xnFinal, weights.output, n);
  return { rows, seqLen, nTokens: n, tokens, mask: batch.attentionMask, cos, sin, layers, xFinal: x, xnFinal, logits };
}

/** Give the logits of trainForward back to the backend's memory; `acts.logits` must not be used after. */
export function releaseLogits(model: TrainModelView, acts: Activations): void {
  if (model.backend.allocateFloat32 !== undefined) model.backend.freeFloat32?.(acts.logits);
}

/**
 * Layer l's forward on the residual stream x (n, dim), updated in place, keeping its activations.
 * @param keep dropout masks to reuse (recomputing a checkpointed layer) instead of drawing new ones
 * @param into buffers to write the activations into (every one is overwritten whole), instead of
 *   new ones: gradient checkpointing runs every layer in one set
 */
export function layerForward(
  model: TrainModelView, l: number, x: Float32Array, ctx: LayerContext, rng: Rng | undefined, keep?: Partial<Record<LoraModule, Uint8Array>>, into?: LayerActivations,
): LayerActivations {
  const { config } = model;
  const { nHeads, nKvHeads, headDim, normEps } = config;
  const { n, cos, sin } = ctx;
  const layer = model.weights.layers[l]!;
  const a = into === undefined ? allocateLayerActivations(config, n) : { ...into, lora: {} };
  const tmp = new Float32Array(x.length); // (n, dim) a sublayer's output before the residual add
  const lora = model.adapter?.layers[l] ?? {};
  const proj = (out: Float32Array, input: Float32Array, module: LoraModule): void =>
    linear(model, out, input, layer[MODULE_FIELD[module]] as WeightTensor, n, lora[module], a, module, rng, keep?.[module]);
  a.xIn.set(x);
  rmsNorm(a.xnAttn, x, layer.attnNorm, n, normEps);
  proj(a.q, a.xnAttn, "q_proj");
  proj(a.k, a.xnAttn, "k_proj");
  proj(a.v, a.xnAttn, "v_proj");
  ropeRotate(a.q, n, nHeads, headDim, cos, sin);
  ropeRotate(a.k, n, nKvHeads, headDim, cos, sin);
  trainingBackend(model.backend).attentionForward(a.att, a.lse, a.q, a.k, a.v, ctx.mask, ctx.shape);
  proj(tmp, a.att, "o_proj");
  addInPlace(x, tmp);
  a.xMid.set(x);

  rmsNorm(a.xnFfn, x, layer.ffnNorm, n, normEps);
  proj(a.gate, a.xnFfn, "gate_proj");
  proj(a.up, a.xnFfn, "up_proj");
  model.backend.swiglu(a.h, a.gate, a.up);
  proj(tmp, a.h, "down_proj");
  addInPlace(x, tmp);
  return a;
}

/**
 * out (n, outFeatures) = x @ w^T, plus scale * B(A dropout(x)) when the projection is adapted (PEFT
 * LoraLayer.forward: result + lora_B(lora_A(dropout(x))) * scaling), keeping A's input and output.
 */
function linear(
  model: TrainModelView, out: Float32Array, x: Float32Array, w: WeightTensor, n: number,
  pair: LoraPair | undefined, a: LayerActivations, module: LoraModule, rng: Rng | undefined, reuse: Uint8Array | undefined,
): void {
  model.backend.matmul(out, x, w, n);
  if (pair === undefined) return;
  const { rank, scale } = model.adapter!;
  const p = model.loraDropout ?? 0;
  let dropped: Float32Array | undefined;
  let keep: Uint8Array | undefined;
  if (p > 0) {
    if (reuse !== undefined) keep = reuse;
    else {
      if (rng === undefined) throw new ArgumentError("LoRA dropout needs an rng");
      keep = new Uint8Array(x.length); // (n, inFeatures)
      for (let i = 0; i < x.length; i++) keep[i] = rng.uniform() < p ? 0 : 1;
    }
    dropped = applyDropout(x, keep, p);
  }
  // The factors change every step, so they go through the products that stage their matrix per
  // call (matmulStaged), on the transposes: ax = x' A^T, then out += scale * ax B^T.
  const tb = trainingBackend(model.backend);
  const ax = new Float32Array(n * rank); // (n, rank)
  tb.matmulStaged(ax, dropped ?? x, transposed(pair.a, rank, pair.inFeatures), pair.inFeatures, n);
  tb.matmulStaged(out, ax, transposed(pair.b, pair.outFeatures, rank), rank, n, scale);
  (a.lora as Record<LoraModule, LoraActivation>)[module] = { ax, keep };
}

/** m (rows, cols)^T as a new (cols, rows) array. */
function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length); // (cols, rows)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

/** torch's nn.Dropout given its mask: x / (1 - p) where kept, 0 where dropped. */
export function applyDropout(x: Float32Array, keep: Uint8Array, p: number): Float32Array {
  const out = new Float32Array(x.length); // (n, inFeatures)
  const scale = 1 / (1 - p);
  for (let i = 0; i < x.length; i++) out[i] = keep[i] === 0 ? 0 : Math.fround(x[i]! * scale);
  return out;
}

/** @throws ArgumentError when the batch's arrays do not hold rows * seqLen values or an id is out of range */
export function checkBatch(batch: TrainBatch, vocabSize: number): void {
  const { rows, seqLen } = batch;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(seqLen) || seqLen < 1) {
    throw new ArgumentError(`a training batch needs rows >= 1 and seqLen >= 1; got ${rows} x ${seqLen}`);
  }
  const n = rows * seqLen;
  for (const [name, array] of [["inputIds", batch.inputIds], ["attentionMask", batch.attentionMask], ["labels", batch.labels]] as const) {
    if (array.length !== n) throw new ArgumentError(`batch.${name} holds ${array.length} values; rows x seqLen is ${n}`);
  }
  batch.inputIds.forEach((id, i) => {
    if (id < 0 || id >= vocabSize) throw new ArgumentError(`batch row ${Math.floor(i / seqLen)}, position ${i % seqLen}: input id ${id} is outside the vocabulary [0, ${vocabSize})`);
  });
}
