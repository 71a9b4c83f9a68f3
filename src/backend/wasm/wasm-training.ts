// The backward ops of training on the WebAssembly backend (backend/training-backend.ts's
// TrainingBackend: the WasmBackend methods of those names call these), on the SIMD twins of the
// reference backward kernels in src/kernels/wasm/assembly/ (linear-backward.ts), split over the
// worker pool as the forward ops are: the input gradient by tokens, the weight gradient by output
// rows. Arrays outside the backend's memory are staged per call (staging.ts); nothing is cached
// across calls, because training changes the weights and norm weights it hands in between them.

import { dequantizeRows, isQuantTensor } from "../../tensor/quant-formats.js";
import type { WeightTensor } from "../../tensor/tensor.js";
import { BACKWARD_INPUT_DTYPES, OP } from "./jobs.js";
import { Staging, checkLength, splitWhenNoRoom } from "./staging.js";
import type { WasmBackend } from "./wasm-backend.js";

/** Tokens per chunk of a backward product: multiples of the kernel's four-row tile, a few chunks per thread. */
function tokenChunk(b: WasmBackend, nTokens: number): number {
  if (b.nThreads === 1) return Math.max(nTokens, 1);
  return Math.max(4, Math.ceil(nTokens / (b.nThreads * 4) / 4) * 4);
}

/**
 * dx (nTokens, inFeatures) += alpha * dy (nTokens, outFeatures) @ w (outFeatures, inFeatures), as
 * kernels/reference/linear-backward.ts matmulBackwardInput. A block-format weight is dequantized
 * (the reference's dequantizeRows) into a float32 scratch block for the call.
 */
export function matmulBackwardInput(b: WasmBackend, dx: Float32Array, dy: Float32Array, w: WeightTensor, nTokens: number, alpha = 1): void {
  const [outF, inF] = w.shape as [number, number];
  checkLength("matmulBackwardInput dy", dy, nTokens * outF);
  checkLength("matmulBackwardInput dx", dx, nTokens * inF);
  const quant = isQuantTensor(w);
  const home = quant ? b.homeOf(dx) : b.placeWeight(w).memoryIndex;
  b.timed(`matmulBackwardInput ${w.dtype}`, () => {
    splitWhenNoRoom(nTokens, (t0, n) => new Staging(b.arena, home).run((s) => {
      let wPtr: number;
      if (quant) {
        wPtr = s.scratch(outF * inF * 4);
        dequantizeRows(w, 0, outF, new Float32Array(b.arena.buffer(home), wPtr, outF * inF));
      } else {
        wPtr = b.placeWeight(w).byteOffset;
      }
      const dyPtr = s.place(dy.subarray(t0 * outF, (t0 + n) * outF), "in");
      const dxPtr = s.place(dx.subarray(t0 * inF, (t0 + n) * inF), "inout");
      const perChunk = tokenChunk(b, n);
      const dtype = quant ? 0 : BACKWARD_INPUT_DTYPES.indexOf(w.dtype as (typeof BACKWARD_INPUT_DTYPES)[number]);
      b.pool.run(OP.matmulBackwardInput, home, [dtype, dxPtr, dyPtr, wPtr, n, inF, outF, alpha, perChunk], Math.ceil(n / perChunk));
    }));
  });
}

/**
 * dw (outFeatures, inFeatures) += alpha * dy^T (outFeatures, nTokens) @ x (nTokens, inFeatures), as
 * kernels/reference/linear-backward.ts matmulBackwardWeight.
 */
export function matmulBackwardWeight(b: WasmBackend, dw: Float32Array, dy: Float32Array, x: Float32Array, nTokens: number, outFeatures: number, alpha = 1): void {
  const inF = dw.length / outFeatures;
  checkLength("matmulBackwardWeight dy", dy, nTokens * outFeatures);
  checkLength("matmulBackwardWeight x", x, nTokens * inF);
  const home = b.homeOf(dw);
  b.timed("matmulBackwardWeight", () => {
    // Fewer tokens at a time when there is no room: each part adds its share of the sum to dw.
    splitWhenNoRoom(nTokens, (t0, n) => new Staging(b.arena, home).run((s) => {
      const dwPtr = s.place(dw, "inout");
      const dyPtr = s.place(dy.subarray(t0 * outFeatures, (t0 + n) * outFeatures), "in");
      const xPtr = s.place(x.subarray(t0 * inF, (t0 + n) * inF), "in");
      const perChunk = b.rowsPerChunk(outFeatures);
      b.pool.run(OP.matmulBackwardWeight, home, [dwPtr, dyPtr, xPtr, n, inF, outFeatures, alpha, perChunk], Math.ceil(outFeatures / perChunk));
    }));
  });
}
