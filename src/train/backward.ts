// The backward pass: trainForward's lines in reverse, op by op, after llm.c's gpt2_backward
// (karpathy/llm.c train_gpt2.c). From d loss / d logits it accumulates the gradient of every trained
// tensor into a ModelGrads record: a field left undefined is frozen and gets no gradient (its input's
// gradient still flows through it), which is how LoRA trains only A and B on a frozen base. Gradients
// add to what the buffers hold, so micro-batches accumulate and a tied embedding sums both uses.
// The weight products and the per-op backward kernels (attention, RMSNorm, SwiGLU, RoPE) run on the
// view's TrainingBackend (backend/training-backend.ts: the WebAssembly twins on that backend), the
// adapter's small products through its matmulStaged (A and B staged per call), as in the forward.
// With `float16Grads` (float16 training, grad-scaler.ts says why and where) every activation
// gradient is rounded to float16 as it is produced, so it overflows and underflows as autocast's.

import { type TrainingBackend, trainingBackend } from "../backend/training-backend.js";
import { embedBackward } from "../kernels/reference/linear-backward.js";
import { kvDim, qDim } from "../model/config.js";
import type { LoraModule } from "../model/lora.js";
import type { LayerWeights } from "../model/weights.js";
import type { WeightTensor } from "../tensor/tensor.js";
import { type Activations, type LayerActivations, allocateLayerActivations } from "./activations.js";
import { MODULE_FIELD, type TrainModelView, applyDropout, layerForward } from "./forward.js";
import { roundToF16InPlace } from "./grad-scaler.js";

/** Gradient buffers of one layer, by weights-record field; undefined = frozen. */
export type LayerGrads = Partial<Record<keyof LayerWeights, Float32Array>>;

/** Gradients of a LoRA pair: (rank, inFeatures) and (outFeatures, rank). */
export interface LoraPairGrads {
  readonly a: Float32Array;
  readonly b: Float32Array;
}

/** Where the backward accumulates gradients (float32, the shapes of the weights). */
export interface ModelGrads {
  readonly tokenEmbedding?: Float32Array | undefined;
  readonly layers: readonly LayerGrads[];
  readonly outputNorm?: Float32Array | undefined;
  /** the same array as tokenEmbedding when embeddings are tied */
  readonly output?: Float32Array | undefined;
  /** per layer, the adapter's pairs (when training LoRA) */
  readonly lora?: ReadonlyArray<Partial<Record<LoraModule, LoraPairGrads>>> | undefined;
}

/**
 * Accumulate the gradients of the loss into `grads`.
 * @param acts what trainForward kept for this batch
 * @param dLogits (rows * seqLen, vocabSize) d loss / d logits (loss.ts causalLmLoss)
 */
export function trainBackward(model: TrainModelView, acts: Activations, dLogits: Float32Array, grads: ModelGrads, options: { float16Grads?: boolean } = {}): void {
  const { config, weights } = model;
  const f16 = options.float16Grads === true ? roundToF16InPlace : (_: Float32Array): void => undefined;
  const tb = trainingBackend(model.backend);
  const { dim, hiddenDim, nHeads, nKvHeads, headDim, normEps, vocabSize } = config;
  const n = acts.nTokens;
  const shape = { rows: acts.rows, seqLen: acts.seqLen, nHeads, nKvHeads, headDim };
  const context = { n, mask: acts.mask, shape, cos: acts.cos, sin: acts.sin };
  const dxn = new Float32Array(n * dim); // (n, dim) gradient of a norm's output
  const dx = new Float32Array(n * dim); // (n, dim) gradient of the residual stream
  const dh = new Float32Array(n * hiddenDim); // (n, hiddenDim)
  const dGate = new Float32Array(n * hiddenDim); // (n, hiddenDim)
  const dUp = new Float32Array(n * hiddenDim); // (n, hiddenDim)
  const dAtt = new Float32Array(n * qDim(config)); // (n, nHeads, headDim)
  const dq = new Float32Array(n * qDim(config)); // (n, nHeads, headDim)
  const dk = new Float32Array(n * kvDim(config)); // (n, nKvHeads, headDim)
  const dv = new Float32Array(n * kvDim(config)); // (n, nKvHeads, headDim)

  // Output head and final norm.
  f16(dLogits);
  tb.matmulBackwardInput(dxn, dLogits, weights.output, n);
  if (grads.output !== undefined) tb.matmulBackwardWeight(grads.output, dLogits, acts.xnFinal, n, vocabSize);
  f16(dxn);
  tb.rmsNormBackward(dx, grads.outputNorm, dxn, acts.xFinal, weights.outputNorm, n, normEps);
  f16(dx);

  // Checkpointed layers are recomputed one at a time, all into one set of buffers.
  const recompute = acts.layers.some((saved) => saved.kind === "checkpoint") ? { acts: allocateLayerActivations(config, n), x: new Float32Array(n * dim) } : undefined;
  for (let l = config.nLayers - 1; l >= 0; l--) {
    const saved = acts.layers[l]!;
    // A checkpointed layer's activations, recomputed from its input with the same dropout masks.
    if (saved.kind === "checkpoint") recompute!.x.set(saved.xIn);
    const a = saved.kind === "checkpoint" ? layerForward(model, l, recompute!.x, context, undefined, saved.keep, recompute!.acts) : saved;
    const layer = weights.layers[l]!;
    const g = grads.layers[l] ?? {};
    const proj = (dInput: Float32Array, dOut: Float32Array, input: Float32Array, module: LoraModule): void =>
      linearBackward(model, tb, dInput, dOut, input, n, l, module, a, g, grads);

    // x_out = xMid + down(swiglu(gate(xnFfn), up(xnFfn))), xnFfn = rmsNorm(xMid)
    dh.fill(0);
    proj(dh, dx, a.h, "down_proj");
    f16(dh);
    tb.swigluBackward(dGate, dUp, dh, a.gate, a.up);
    f16(dGate);
    f16(dUp);
    dxn.fill(0);
    proj(dxn, dGate, a.xnFfn, "gate_proj");
    proj(dxn, dUp, a.xnFfn, "up_proj");
    f16(dxn);
    tb.rmsNormBackward(dx, g.ffnNorm, dxn, a.xMid, layer.ffnNorm, n, normEps);
    f16(dx);

    // xMid = xIn + o(attention(rope(q(xnAttn)), rope(k(xnAttn)), v(xnAttn))), xnAttn = rmsNorm(xIn)
    dAtt.fill(0);
    proj(dAtt, dx, a.att, "o_proj");
    f16(dAtt);
    dq.fill(0);
    dk.fill(0);
    dv.fill(0);
    tb.attentionBackward(dq, dk, dv, dAtt, a.q, a.k, a.v, a.lse, acts.mask, shape);
    tb.ropeBackward(dq, n, nHeads, headDim, acts.cos, acts.sin);
    tb.ropeBackward(dk, n, nKvHeads, headDim, acts.cos, acts.sin);
    f16(dq);
    f16(dk);
    f16(dv);
    dxn.fill(0);
    proj(dxn, dq, a.xnAttn, "q_proj");
    proj(dxn, dk, a.xnAttn, "k_proj");
    proj(dxn, dv, a.xnAttn, "v_proj");
    f16(dxn);
    tb.rmsNormBackward(dx, g.attnNorm, dxn, a.xIn, layer.attnNorm, n, normEps);
    f16(dx);
  }
  if (grads.tokenEmbedding !== undefined) embedBackward(grads.tokenEmbedding, dx, acts.tokens, dim);
}

/**
 * The backward of forward.ts linear(): dInput += dOut @ W (+ the adapter's path), dW += dOut^T input
 * when W is trained, and for an adapted projection with u = A x' (x' = dropout(x)) and
 * y += scale B u: dB += scale dOut^T u, du = scale dOut B, dA += du^T x', dInput += dropout'(du A).
 */
function linearBackward(
  model: TrainModelView, tb: TrainingBackend, dInput: Float32Array, dOut: Float32Array, input: Float32Array, n: number,
  l: number, module: LoraModule, a: LayerActivations, g: LayerGrads, grads: ModelGrads,
): void {
  const field = MODULE_FIELD[module];
  const w = model.weights.layers[l]![field] as WeightTensor;
  const outFeatures = w.shape[0]!;
  tb.matmulBackwardInput(dInput, dOut, w, n);
  const dw = g[field];
  if (dw !== undefined) tb.matmulBackwardWeight(dw, dOut, input, n, outFeatures);

  const pair = model.adapter?.layers[l]?.[module];
  if (pair === undefined) return;
  const { rank, scale } = model.adapter!;
  const saved = a.lora[module]!;
  const pairGrads = grads.lora?.[l]?.[module];
  const p = model.loraDropout ?? 0;
  const dropped = saved.keep === undefined ? input : applyDropout(input, saved.keep, p); // (n, inFeatures) x'
  const du = new Float32Array(n * rank); // (n, rank)
  tb.matmulStaged(du, dOut, pair.b, outFeatures, n, scale);
  if (pairGrads !== undefined) {
    tb.matmulBackwardWeight(pairGrads.b, dOut, saved.ax, n, outFeatures, scale);
    tb.matmulBackwardWeight(pairGrads.a, du, dropped, n, rank);
  }
  if (saved.keep === undefined) {
    tb.matmulStaged(dInput, du, pair.a, rank, n);
    return;
  }
  const dDropped = new Float32Array(n * pair.inFeatures); // (n, inFeatures) d loss / d x'
  tb.matmulStaged(dDropped, du, pair.a, rank, n);
  const keepScale = 1 / (1 - p);
  for (let i = 0; i < dDropped.length; i++) if (saved.keep[i] !== 0) dInput[i] = dInput[i]! + dDropped[i]! * keepScale;
}
