// The backward kernels of training in plain JavaScript over a kernel memory, for js-kernels.ts (the
// ABI twin the backend's plumbing is tested with): the loops of kernels/reference/linear-backward.ts,
// elementwise-backward.ts and attention-train.ts on byte offsets, each call computing only its slice
// as the WebAssembly kernels do. Not a fast path.

import { bf16ToF32, f16ToF32 } from "../../tensor/float16.js";
import type { KernelExports, TrainingKernelName } from "./kernel-abi.js";

/** Float32, 16-bit, byte and float64 views of a memory as it is now. */
export interface MemoryViews {
  readonly f32: Float32Array;
  readonly u16: Uint16Array;
}

/** The training kernels over `views()` (called at each use: a memory may have grown). */
export function jsTrainingKernels(views: () => MemoryViews): Pick<KernelExports, TrainingKernelName> {
  const backwardInput = (widen: (v: MemoryViews, i: number) => number, bytes: number) =>
    (dx: number, dy: number, w: number, _nTokens: number, inF: number, outF: number, alpha: number, t0: number, t1: number): void => {
      const v = views();
      for (let t = t0; t < t1; t++) {
        for (let i = 0; i < inF; i++) {
          let sum = 0;
          for (let o = 0; o < outF; o++) sum += v.f32[dy / 4 + t * outF + o]! * widen(v, w / bytes + o * inF + i);
          v.f32[dx / 4 + t * inF + i] = v.f32[dx / 4 + t * inF + i]! + alpha * sum;
        }
      }
    };
  return {
    matmul_backward_input_f32: backwardInput((v, i) => v.f32[i]!, 4),
    matmul_backward_input_bf16: backwardInput((v, i) => bf16ToF32(v.u16[i]!), 2),
    matmul_backward_input_f16: backwardInput((v, i) => f16ToF32(v.u16[i]!), 2),
    matmul_backward_weight(dw, dy, x, nTokens, inF, outF, alpha, r0, r1) {
      const { f32 } = views();
      for (let o = r0; o < r1; o++) {
        for (let i = 0; i < inF; i++) {
          let sum = 0;
          for (let t = 0; t < nTokens; t++) sum += f32[dy / 4 + t * outF + o]! * f32[x / 4 + t * inF + i]!;
          f32[dw / 4 + o * inF + i] = f32[dw / 4 + o * inF + i]! + alpha * sum;
        }
      }
    },
  };
}
