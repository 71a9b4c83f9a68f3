// Learning-rate schedules as transformers' optimization.py: get_linear_schedule_with_warmup,
// get_cosine_schedule_with_warmup (half a cosine), get_constant_schedule and
// get_constant_schedule_with_warmup. Each is the multiplier lambda(step) of the base rate that
// LambdaLR applies; Trainer steps the scheduler after every optimizer step, so optimizer step s
// (from 0) runs at baseLr * lambda(s), and with warmup the first step runs at lr 0.

import { ArgumentError } from "../errors.js";

/** Schedule names as Trainer's lr_scheduler_type. */
export const LR_SCHEDULERS = ["linear", "cosine", "constant", "constant_with_warmup"] as const;
export type LrScheduler = (typeof LR_SCHEDULERS)[number];

export interface ScheduleOptions {
  readonly scheduler: LrScheduler;
  readonly baseLr: number;
  /** steps of linear warmup from 0 (ignored by "constant", as transformers' get_constant_schedule) */
  readonly warmupSteps?: number;
  /** optimizer steps of the whole run (linear and cosine decay to 0 there) */
  readonly totalSteps: number;
}

/**
 * The learning rate of optimizer step `step` (0-based).
 * @throws ArgumentError for a negative or non-integer step, warmup or total
 * @example
 * learningRate(0, { scheduler: "linear", baseLr: 1e-2, warmupSteps: 2, totalSteps: 6 }); // 0
 */
export function learningRate(step: number, options: ScheduleOptions): number {
  const { scheduler, baseLr, totalSteps } = options;
  const warmup = options.warmupSteps ?? 0;
  for (const [name, v] of [["step", step], ["warmupSteps", warmup], ["totalSteps", totalSteps]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ArgumentError(`${name} must be an integer >= 0; got ${v}`);
  }
  if (!LR_SCHEDULERS.includes(scheduler)) throw new ArgumentError(`lr scheduler must be one of ${LR_SCHEDULERS.join(", ")}; got ${JSON.stringify(scheduler)}`);
  return baseLr * multiplier(step, scheduler, warmup, totalSteps);
}

function multiplier(step: number, scheduler: LrScheduler, warmup: number, total: number): number {
  if (scheduler === "constant") return 1;
  if (step < warmup) return step / Math.max(1, warmup);
  switch (scheduler) {
    case "constant_with_warmup":
      return 1;
    case "linear":
      return Math.max(0, (total - step) / Math.max(1, total - warmup));
    case "cosine": {
      const progress = (step - warmup) / Math.max(1, total - warmup);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
    }
  }
}
