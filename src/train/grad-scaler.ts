// Dynamic loss scaling for float16 training, as torch.cuda.amp.GradScaler (torch/amp/grad_scaler.py):
// the loss (here: its gradient, d loss / d logits) is multiplied by `scale` before the backward, so
// small gradients survive float16's range (smallest subnormal 2^-24, about 6e-8); the gradients are
// then unscaled (multiplied by 1/scale, as unscale_ does) and checked: any inf/NaN means the float16
// backward overflowed (65504 is the largest half), and the step is skipped with the scale halved
// (backoff_factor 0.5); after growth_interval (2000) clean steps in a row the scale doubles
// (growth_factor 2.0). Initial scale 2^16, torch's default.
//
// What "the float16 backward" is here: the forward reads float16 weights and keeps float32
// activations (as our bf16 path does); in the backward, every activation gradient an op produces
// (d logits, the residual stream's, each projection's input and output gradients, attention's,
// SwiGLU's) is rounded to float16 where it is written, as torch autocast's float16 GEMM outputs
// and the casts at the layer boundaries (`.float()` before the loss, RMSNorm's `.to(input_dtype)`)
// round them. So activation gradients overflow to inf and underflow to zero where autocast's would.
// Weight gradients accumulate in float32 (torch's float16 GEMM accumulates in float32 too but rounds
// the product to half before it is cast into the float32 .grad; we skip that last rounding, which
// can only make us overflow less often on a weight gradient whose inputs are already float16).

import { ArgumentError } from "../errors.js";
import { f16ToF32, f32ToF16 } from "../tensor/float16.js";
import type { TrainParam } from "./params.js";

export interface GradScalerOptions {
  /** default 2^16 */
  readonly initScale?: number;
  /** default 2.0 */
  readonly growthFactor?: number;
  /** default 0.5 */
  readonly backoffFactor?: number;
  /** default 2000 */
  readonly growthInterval?: number;
}

/** The scaler's state (torch's state_dict: scale and _growth_tracker), saved in checkpoints. */
export interface GradScalerState {
  readonly scale: number;
  /** clean steps in a row since the scale last changed */
  readonly growthTracker: number;
}

/** Round every value to the nearest float16 (ties to even; past 65504 is inf, below 2^-25 is 0). */
export function roundToF16InPlace(values: Float32Array, start = 0, end = values.length): void {
  for (let i = start; i < end; i++) values[i] = f16ToF32(f32ToF16(values[i]!));
}

export class GradScaler {
  private scaleValue: number;
  private tracker = 0;
  private readonly growthFactor: number;
  private readonly backoffFactor: number;
  private readonly growthInterval: number;

  /** @throws ArgumentError for options torch's GradScaler rejects (or that could not work) */
  constructor(options: GradScalerOptions = {}) {
    this.scaleValue = options.initScale ?? 2 ** 16;
    this.growthFactor = options.growthFactor ?? 2.0;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    if (!(this.scaleValue > 0 && Number.isFinite(this.scaleValue))) throw new ArgumentError(`GradScaler initScale must be finite and > 0; got ${this.scaleValue}`);
    if (!(this.growthFactor > 1 && Number.isFinite(this.growthFactor))) throw new ArgumentError(`GradScaler growthFactor must be > 1; got ${this.growthFactor}`);
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1)) throw new ArgumentError(`GradScaler backoffFactor must be in (0, 1); got ${this.backoffFactor}`);
    if (!Number.isInteger(this.growthInterval) || this.growthInterval < 1) throw new ArgumentError(`GradScaler growthInterval must be a positive integer; got ${this.growthInterval}`);
  }

  /** The current scale the loss gradient is multiplied by. */
  get scale(): number {
    return this.scaleValue;
  }

  /**
   * unscale_: multiply every gradient by 1/scale; whether any is inf or NaN (found_inf).
   * @returns true when the step must be skipped
   */
  unscale(params: readonly TrainParam[]): boolean {
    const inv = 1 / this.scaleValue;
    let foundInf = false;
    for (const p of params) {
      const g = p.grad;
      for (let i = 0; i < g.length; i++) {
        const v = g[i]! * inv;
        g[i] = v;
        if (v - v !== 0) foundInf = true; // inf - inf and NaN - NaN are NaN
      }
    }
    return foundInf;
  }

  /** update(): back off after an overflow, grow after growthInterval clean steps. */
  update(foundInf: boolean): void {
    if (foundInf) {
      this.scaleValue *= this.backoffFactor;
      this.tracker = 0;
      return;
    }
    this.tracker++;
    if (this.tracker === this.growthInterval) {
      this.scaleValue *= this.growthFactor;
      this.tracker = 0;
    }
  }

  state(): GradScalerState {
    return { scale: this.scaleValue, growthTracker: this.tracker };
  }

  /** @throws ArgumentError for a state that is not one a scaler could be in */
  loadState(state: GradScalerState): void {
    if (!(state.scale > 0 && Number.isFinite(state.scale)) || !Number.isInteger(state.growthTracker) || state.growthTracker < 0) {
      throw new ArgumentError(`bad GradScaler state: scale ${state.scale}, growthTracker ${state.growthTracker}`);
    }
    this.scaleValue = state.scale;
    this.tracker = state.growthTracker;
  }
}
