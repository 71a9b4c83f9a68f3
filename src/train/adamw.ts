// The AdamW optimizer as torch.optim.AdamW (Loshchilov & Hutter 2019; torch/optim/adamw.py,
// _single_tensor_adamw, amsgrad off): decoupled weight decay p *= 1 - lr wd, then
// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// Master weights and both moments are float32 (as Trainer keeps them in mixed precision); each
// element's update is computed in float64 and stored once. A parameter with decay false (norm
// weights) skips the decay. Also global gradient-norm clipping as torch.nn.utils.clip_grad_norm_.

import { ArgumentError } from "../errors.js";
import type { TrainParam } from "./params.js";

export interface AdamWOptions {
  /** default (0.9, 0.999) */
  readonly betas?: readonly [number, number];
  /** default 1e-8 */
  readonly eps?: number;
  /** decoupled weight decay, default 0 (Trainer's default; torch's own default is 0.01) */
  readonly weightDecay?: number;
}

/** Optimizer state of one parameter. */
export interface AdamWMoments {
  /** first moment (exp_avg), float32 */
  readonly expAvg: Float32Array;
  /** second moment (exp_avg_sq), float32 */
  readonly expAvgSq: Float32Array;
}

/** What resuming needs: the step count and every parameter's moments by name. */
export interface AdamWState {
  readonly step: number;
  readonly moments: ReadonlyMap<string, AdamWMoments>;
}

/** torch.optim.AdamW over a fixed list of parameters. */
export class AdamW {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private stepCount = 0;
  private readonly moments: AdamWMoments[];

  /**
   * @throws ArgumentError for betas outside [0, 1), a negative eps or weight decay
   * @example
   * const optimizer = new AdamW(params.params, { weightDecay: 0.01 });
   * optimizer.step(1e-4);
   */
  constructor(readonly params: readonly TrainParam[], options: AdamWOptions = {}) {
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    for (const b of this.betas) if (!(b >= 0 && b < 1)) throw new ArgumentError(`AdamW betas must be in [0, 1); got ${this.betas.join(", ")}`);
    if (!(this.eps >= 0)) throw new ArgumentError(`AdamW eps must be >= 0; got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new ArgumentError(`weight decay must be >= 0; got ${this.weightDecay}`);
    this.moments = params.map((p) => ({ expAvg: new Float32Array(p.data.length), expAvgSq: new Float32Array(p.data.length) }));
  }

  /** Optimizer steps taken. */
  get step(): number {
    return this.stepCount;
  }

  /**
   * One update of every parameter from its `grad` at learning rate `lr`.
   * @throws ArgumentError for a negative or non-finite lr
   */
  update(lr: number): void {
    if (!(lr >= 0 && Number.isFinite(lr))) throw new ArgumentError(`learning rate must be finite and >= 0; got ${lr}`);
    const [b1, b2] = this.betas;
    this.stepCount++;
    const t = this.stepCount;
    const stepSize = lr / (1 - b1 ** t);
    const bias2Sqrt = Math.sqrt(1 - b2 ** t);
    const eps = this.eps;
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const { expAvg, expAvgSq } = this.moments[k]!;
      const decay = p.decay ? Math.fround(1 - lr * this.weightDecay) : 1;
      const { data, grad } = p;
      for (let i = 0; i < data.length; i++) {
        const g = grad[i]!;
        expAvg[i] = b1 * expAvg[i]! + c1 * g;
        expAvgSq[i] = b2 * expAvgSq[i]! + c2 * g * g;
        data[i] = Math.fround(data[i]! * decay) - (stepSize * expAvg[i]!) / (Math.sqrt(expAvgSq[i]!) / bias2Sqrt + eps);
      }
    }
  }

  /** The state for a checkpoint (copies). */
  state(): AdamWState {
    return { step: this.stepCount, moments: new Map(this.params.map((p, k) => [p.name, { expAvg: Float32Array.from(this.moments[k]!.expAvg), expAvgSq: Float32Array.from(this.moments[k]!.expAvgSq) }])) };
  }

  /**
   * Resume from a checkpoint's state.
   * @throws ArgumentError when a parameter's moments are missing or of another length
   */
  loadState(state: AdamWState): void {
    this.params.forEach((p, k) => {
      const saved = state.moments.get(p.name);
      if (saved === undefined) throw new ArgumentError(`optimizer state has no moments for ${p.name}`);
      if (saved.expAvg.length !== p.data.length || saved.expAvgSq.length !== p.data.length) throw new ArgumentError(`optimizer state of ${p.name} has ${saved.expAvg.length} values; the parameter has ${p.data.length}`);
      this.moments[k]!.expAvg.set(saved.expAvg);
      this.moments[k]!.expAvgSq.set(saved.expAvgSq);
    });
    this.stepCount = state.step;
  }
}

/**
 * The global L2 norm of all gradients, and, when it exceeds maxNorm, every gradient scaled by
 * maxNorm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_, which Trainer calls with max_grad_norm).
 * @param maxNorm no clipping when undefined, 0 or Infinity (the norm is still returned)
 * @returns the norm before clipping
 */
export function clipGradNorm(params: readonly TrainParam[], maxNorm?: number): number {
  let sumSquares = 0;
  for (const p of params) {
    const g = p.grad;
    for (let i = 0; i < g.length; i++) sumSquares += g[i]! * g[i]!;
  }
  const norm = Math.sqrt(sumSquares);
  if (maxNorm === undefined || !(maxNorm > 0) || maxNorm === Infinity) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const p of params) for (let i = 0; i < p.grad.length; i++) p.grad[i] = p.grad[i]! * coef;
  return norm;
}
