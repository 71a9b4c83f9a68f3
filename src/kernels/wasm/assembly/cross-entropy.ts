// The cross-entropy of rows of logits against target ids and its gradient in WebAssembly SIMD: the
// twin of src/kernels/reference/cross-entropy.ts. Per scored row: the max (float32 SIMD), the sum
// of e^(x - max) by vec.ts's float32 exp, summed in float64, and, when asked, dLogits = (e^(x - max)
// / sum - onehot) / norm. The log-sum-exp max + log(sum) and the loss are left to the caller, for
// the reason attention-train.ts gives (the float64 log's table). A row whose target is negative is
// not scored: its gradient row is zeroed.

import { exp1, exp4, hmax } from "./vec";

/**
 * Rows [rowStart, rowEnd) of logits (nRows, vocab) against targets (nRows) int32: maxes and sums
 * (nRows) float64 of each scored row; dLogits (as logits, may be logits itself; 0: none) written.
 */
export function cross_entropy(
  maxes: usize, sums: usize, dLogits: usize, logits: usize, targets: usize, vocab: u32, invNorm: f32, rowStart: u32, rowEnd: u32,
): void {
  const rowBytes = <usize>vocab << 2;
  for (let r = rowStart; r < rowEnd; r++) {
    const x = logits + <usize>r * rowBytes;
    const d = dLogits + <usize>r * rowBytes;
    const target = load<i32>(targets + (<usize>r << 2));
    if (target < 0) {
      if (dLogits != 0) memory.fill(d, 0, rowBytes);
      continue;
    }
    let mv = f32x4.splat(-Infinity);
    let j: u32 = 0;
    for (; j + 4 <= vocab; j += 4) mv = f32x4.max(mv, v128.load(x + (<usize>j << 2)));
    let max = hmax(mv);
    for (; j < vocab; j++) max = Mathf.max(max, load<f32>(x + (<usize>j << 2)));
    const maxv = f32x4.splat(max);
    let lo = f64x2.splat(0), hi = f64x2.splat(0);
    j = 0;
    for (; j + 4 <= vocab; j += 4) {
      const e = exp4(f32x4.sub(v128.load(x + (<usize>j << 2)), maxv));
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(e));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 0, 1)));
    }
    const both = f64x2.add(lo, hi);
    let sum = f64x2.extract_lane(both, 0) + f64x2.extract_lane(both, 1);
    for (; j < vocab; j++) sum += <f64>exp1(load<f32>(x + (<usize>j << 2)) - max);
    store<f64>(maxes + (<usize>r << 3), <f64>max);
    store<f64>(sums + (<usize>r << 3), sum);
    if (dLogits == 0) continue;
    // Read the target's logit before the row is overwritten (dLogits may be logits).
    const pTarget = exp1(load<f32>(x + (<usize>target << 2)) - max) * <f32>(1.0 / sum);
    const scale = f32x4.splat(<f32>(1.0 / sum));
    const nv = f32x4.splat(invNorm);
    j = 0;
    for (; j + 4 <= vocab; j += 4) {
      const p = f32x4.mul(exp4(f32x4.sub(v128.load(x + (<usize>j << 2)), maxv)), scale);
      v128.store(d + (<usize>j << 2), f32x4.mul(p, nv));
    }
    const s = <f32>(1.0 / sum);
    for (; j < vocab; j++) store<f32>(d + (<usize>j << 2), exp1(load<f32>(x + (<usize>j << 2)) - max) * s * invNorm);
    store<f32>(d + (<usize>target << 2), (pTarget - 1) * invNorm);
  }
}
