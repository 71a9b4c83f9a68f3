// The backward matrix products of training, on an optional TrainingBackend that extends Backend
// (DESIGN.md section 2) rather than widening Backend for every implementation. The reference one
// binds kernels/reference/linear-backward.ts. Any backend that keeps arrays in its own memory
// (allocateFloat32: the WebAssembly backend) gets both products from its forward matmul on
// transposed operands, dx = dy @ (W^T)^T and dW = dy^T @ (x^T)^T, with the transposes written into
// its memory and freed after the call, so its fast kernels do the backward's work too and nothing it
// is handed is cached across a weight update.

import { type TrainAttentionShape, attentionBackwardMasked, attentionForwardMasked } from "../kernels/reference/attention-train.js";
import { crossEntropy } from "../kernels/reference/cross-entropy.js";
import { rmsNormBackward, ropeBackward, swigluBackward } from "../kernels/reference/elementwise-backward.js";
import { matmulBackwardInput, matmulBackwardWeight } from "../kernels/reference/linear-backward.js";
import { widenRange } from "../kernels/reference/widen.js";
import { dequantizeRows, isQuantTensor } from "../tensor/quant-formats.js";
import type { WeightTensor } from "../tensor/tensor.js";
import type { Backend } from "./backend.js";
import { referenceBackend } from "./reference.js";

/**
 * A Backend with the gradients of its matmul (shapes as kernels/reference/linear-backward.ts), the
 * other backward ops, the training forward's masked attention (which keeps log-sum-exps) and the
 * loss's cross-entropy.
 */
export interface TrainingBackend extends Backend {
  /** dx (nTokens, inFeatures) += alpha * dy (nTokens, outFeatures) @ w (outFeatures, inFeatures) */
  matmulBackwardInput(dx: Float32Array, dy: Float32Array, w: WeightTensor, nTokens: number, alpha?: number): void;
  /**
   * dx (nTokens, inFeatures) += alpha * dy (nTokens, outFeatures) @ w (outFeatures, inFeatures) for
   * a float32 matrix w that the caller changes between calls (a LoRA factor): read as it is at the
   * call, never cached the way matmulBackwardInput may keep a weight.
   */
  matmulStaged(dx: Float32Array, dy: Float32Array, w: Float32Array, outFeatures: number, nTokens: number, alpha?: number): void;
  /** dw (outFeatures, inFeatures) += alpha * dy^T (outFeatures, nTokens) @ x (nTokens, inFeatures) */
  matmulBackwardWeight(dw: Float32Array, dy: Float32Array, x: Float32Array, nTokens: number, outFeatures: number, alpha?: number): void;
  /** kernels/reference/cross-entropy.ts crossEntropy: writes losses and, when given, dLogits (may be logits). */
  crossEntropy(losses: Float64Array, dLogits: Float32Array | undefined, logits: Float32Array, targets: Int32Array, vocabSize: number, norm: number): void;
  /** kernels/reference/attention-train.ts attentionForwardMasked: writes out and lse. */
  attentionForward(out: Float32Array, lse: Float64Array, q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array, shape: TrainAttentionShape): void;
  /** kernels/reference/attention-train.ts attentionBackwardMasked: accumulates into dq, dk, dv. */
  attentionBackward(
    dq: Float32Array, dk: Float32Array, dv: Float32Array, dOut: Float32Array,
    q: Float32Array, k: Float32Array, v: Float32Array, lse: Float64Array, mask: Uint8Array, shape: TrainAttentionShape,
  ): void;
  /** kernels/reference/elementwise-backward.ts rmsNormBackward: accumulates into dx and dWeight. */
  rmsNormBackward(dx: Float32Array, dWeight: Float32Array | undefined, dy: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, eps: number): void;
  /** kernels/reference/elementwise-backward.ts swigluBackward: writes dGate and dUp. */
  swigluBackward(dGate: Float32Array, dUp: Float32Array, dh: Float32Array, gate: Float32Array, up: Float32Array): void;
  /** kernels/reference/elementwise-backward.ts ropeBackward, in place. */
  ropeBackward(d: Float32Array, nTokens: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array): void;
}

/** TrainingBackend.matmulStaged on the reference kernel. */
function matmulStaged(dx: Float32Array, dy: Float32Array, w: Float32Array, outFeatures: number, nTokens: number, alpha = 1): void {
  matmulBackwardInput(dx, dy, { dtype: "f32", shape: [outFeatures, w.length / outFeatures], data: w }, nTokens, alpha);
}

/** The training ops besides the weight products, on the reference kernels. */
const REFERENCE_BACKWARD_OPS = { crossEntropy, attentionForward: attentionForwardMasked, attentionBackward: attentionBackwardMasked, rmsNormBackward, swigluBackward, ropeBackward, matmulStaged };

/** The reference backend with the reference backward kernels. */
export const referenceTrainingBackend: TrainingBackend = { ...referenceBackend, ...REFERENCE_BACKWARD_OPS, name: "reference", matmulBackwardInput, matmulBackwardWeight };

function isTrainingBackend(b: Backend): b is TrainingBackend {
  const t = b as Partial<TrainingBackend>;
  return (["matmulBackwardInput", "matmulStaged", "matmulBackwardWeight", "crossEntropy", "attentionForward", "attentionBackward", "rmsNormBackward", "swigluBackward", "ropeBackward"] as const).every((op) => typeof t[op] === "function");
}

/**
 * `backend` with backward ops: its own when it has them all (the WebAssembly backend), else the
 * reference kernels, with the products for a backend that has its own memory from its matmul on
 * transposed operands.
 */
export function trainingBackend(backend: Backend): TrainingBackend {
  if (isTrainingBackend(backend)) return backend;
  if (backend === referenceBackend || backend.allocateFloat32 === undefined) return { ...referenceTrainingBackend, ...bind(backend), name: backend.name };
  const allocate = backend.allocateFloat32.bind(backend);
  const free = (a: Float32Array): void => backend.freeFloat32?.(a);
  return {
    ...bind(backend),
    ...REFERENCE_BACKWARD_OPS,
    name: backend.name,
    matmulBackwardInput(dx, dy, w, nTokens, alpha = 1) {
      const [outFeatures, inFeatures] = w.shape as [number, number];
      const wt = allocate(inFeatures * outFeatures); // (inFeatures, outFeatures) W^T as float32
      const out = allocate(nTokens * inFeatures); // (nTokens, inFeatures)
      try {
        transposeWeight(w, wt);
        backend.matmul(out, dy, { dtype: "f32", shape: [inFeatures, outFeatures], data: wt }, nTokens);
        for (let i = 0; i < out.length; i++) dx[i] = dx[i]! + alpha * out[i]!;
      } finally {
        free(wt);
        free(out);
      }
    },
    matmulBackwardWeight(dw, dy, x, nTokens, outFeatures, alpha = 1) {
      const inFeatures = dw.length / outFeatures;
      const dyT = allocate(outFeatures * nTokens); // (outFeatures, nTokens)
      const xT = allocate(inFeatures * nTokens); // (inFeatures, nTokens)
      const out = allocate(outFeatures * inFeatures); // (outFeatures, inFeatures)
      try {
        transpose(dy, nTokens, outFeatures, dyT);
        transpose(x, nTokens, inFeatures, xT);
        backend.matmul(out, dyT, { dtype: "f32", shape: [inFeatures, nTokens], data: xT }, outFeatures);
        for (let i = 0; i < out.length; i++) dw[i] = dw[i]! + alpha * out[i]!;
      } finally {
        free(dyT);
        free(xT);
        free(out);
      }
    },
  };
}

/** The Backend methods of `b`, bound to it (so spreading them keeps `this`). */
function bind(b: Backend): Backend {
  const bound: Record<string, unknown> = {};
  for (const key of ["matmul", "embed", "rmsNorm", "rope", "attention", "swiglu", "addInPlace", "allocateWeight", "convertWeight", "allocateFloat32", "freeFloat32"] as const) {
    const f = b[key] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof f === "function") bound[key] = f.bind(b);
  }
  return bound as unknown as Backend;
}

/** out (cols, rows) = a (rows, cols)^T. */
function transpose(a: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
}

/** out (inFeatures, outFeatures) = w^T as float32 (widened or dequantized row by row). */
function transposeWeight(w: WeightTensor, out: Float32Array): void {
  const [outFeatures, inFeatures] = w.shape as [number, number];
  const row = new Float32Array(inFeatures); // (inFeatures) one row of w
  for (let o = 0; o < outFeatures; o++) {
    if (isQuantTensor(w)) dequantizeRows(w, o, 1, row);
    else widenRange(w, o * inFeatures, inFeatures, row);
    for (let i = 0; i < inFeatures; i++) out[i * outFeatures + o] = row[i]!;
  }
}
