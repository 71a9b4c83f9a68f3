// Where a training step's time goes, from a V8 CPU profile of the main thread (node:inspector, the
// profile `node --cpu-prof` writes): each sample is charged to the step's phase (the outermost of
// trainForward, causalLmLoss, trainBackward, clipGradNorm, AdamW's update, the bf16 sync, zeroGrads
// on its stack) and to the innermost op it names (the WebAssembly backend's matmul, the transposes
// and accumulations the backward products add around it, attention, the element-wise kernels). The
// backend's worker threads are not sampled: the main thread waits inside matmul while they run, so
// matmul's share is wall time. Used by train-child.ts --profile.

import { Session } from "node:inspector/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Phases of Trainer.step, by the function that runs each. */
const PHASES: Readonly<Record<string, string>> = {
  trainForward: "forward", causalLmLoss: "loss", trainBackward: "backward", clipGradNorm: "grad-norm clip",
  update: "AdamW", sync: "bf16 weight sync", zeroGrads: "zero grads",
};

/** Ops inside a phase: the innermost of these on a sample's stack names it. */
const OPS: Readonly<Record<string, string>> = {
  matmul: "matmul", attentionForwardMasked: "attention", attentionBackwardMasked: "attention", attentionForward: "attention", crossEntropy: "cross-entropy", attentionBackward: "attention",
  transposeWeight: "transposes", transpose: "transposes",
  matmulBackwardInput: "matmul-backward glue", matmulBackwardWeight: "matmul-backward glue",
  rmsNorm: "elementwise", rmsNormBackward: "elementwise", swiglu: "elementwise", swigluBackward: "elementwise",
  rope: "elementwise", ropeBackward: "elementwise", addInPlace: "elementwise", embed: "elementwise", embedBackward: "elementwise",
  applyDropout: "elementwise", allocateLayerActivations: "allocation", layerForward: "layer (other)",
};

/** Seconds by "phase / op" (and "outside the step"), from one profile. */
export function stepBreakdown(profile: CpuProfile): Record<string, number> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  const label = new Map<number, string>();
  const labelOf = (id: number): string => {
    const cached = label.get(id);
    if (cached !== undefined) return cached;
    let phase: string | undefined;
    let op: string | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = byId.get(at)!.callFrame.functionName;
      op ??= OPS[name];
      if (PHASES[name] !== undefined) phase = PHASES[name];
    }
    const result = phase === undefined ? "outside the step" : `${phase} / ${op ?? "other"}`;
    label.set(id, result);
    return result;
  };
  const seconds: Record<string, number> = {};
  profile.samples.forEach((id, i) => {
    const key = labelOf(id);
    seconds[key] = (seconds[key] ?? 0) + (profile.timeDeltas[i] ?? 0) / 1e6;
  });
  return seconds;
}

/** Run `work` under the CPU profiler; its breakdown (stepBreakdown) and wall seconds. */
export async function profileStep(work: () => void): Promise<{ seconds: number; breakdown: Record<string, number> }> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 1000 });
  await session.post("Profiler.start");
  const t0 = performance.now();
  work();
  const seconds = (performance.now() - t0) / 1000;
  const { profile } = (await session.post("Profiler.stop")) as { profile: CpuProfile };
  session.disconnect();
  return { seconds, breakdown: stepBreakdown(profile) };
}
