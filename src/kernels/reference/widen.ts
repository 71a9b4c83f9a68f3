// Reading weight elements as float32, whatever their stored dtype: the one place the reference
// kernels dispatch on dtype. Exact (bf16 and f16 widen to float32 without rounding).

import { bf16ToF32, f16ToF32 } from "../../tensor/float16.js";
import type { FloatTensor } from "../../tensor/tensor.js";

/** Copy `n` elements of `w` starting at element `start` into `out` as float32. */
export function widenRange(w: FloatTensor, start: number, n: number, out: Float32Array): void {
  switch (w.dtype) {
    case "f32":
      out.set(w.data.subarray(start, start + n));
      return;
    case "bf16":
      for (let i = 0; i < n; i++) out[i] = bf16ToF32(w.data[start + i]!);
      return;
    case "f16":
      for (let i = 0; i < n; i++) out[i] = f16ToF32(w.data[start + i]!);
      return;
  }
}
