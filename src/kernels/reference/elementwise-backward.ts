// Reference backward kernels of the element-wise steps (elementwise.ts) and of RoPE (rope.ts):
// RMSNorm (the scale recomputed from the saved input, as llm.c's layernorm_backward uses its saved
// rstd), SwiGLU, and the rotation, whose transpose is the rotation by the opposite angle. float64
// inside, float32 out.

/**
 * Gradients of out = x / sqrt(mean(x^2) + eps) * weight, row by row. With r the row's scale and
 * n = x r: dx += r (dn - n mean(dn n)) where dn = dy weight; dWeight += sum over rows of dy n.
 * @param dx (nTokens, dim), accumulated into
 * @param dWeight (dim), accumulated into; undefined when the weight is frozen
 * @param dy (nTokens, dim)
 * @param x (nTokens, dim) the forward's input
 * @param weight (dim)
 */
export function rmsNormBackward(
  dx: Float32Array, dWeight: Float32Array | undefined, dy: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, eps: number,
): void {
  const dim = weight.length;
  const dw = new Float64Array(dim); // (dim)
  for (let t = 0; t < nTokens; t++) {
    const offset = t * dim;
    let sumSquares = 0;
    for (let i = 0; i < dim; i++) sumSquares += x[offset + i]! * x[offset + i]!;
    const r = 1 / Math.sqrt(sumSquares / dim + eps);
    let dot = 0; // sum_i dn_i n_i
    for (let i = 0; i < dim; i++) {
      const n = x[offset + i]! * r;
      dot += dy[offset + i]! * weight[i]! * n;
      dw[i] = dw[i]! + dy[offset + i]! * n;
    }
    const mean = dot / dim;
    for (let i = 0; i < dim; i++) {
      const n = x[offset + i]! * r;
      dx[offset + i] = dx[offset + i]! + r * (dy[offset + i]! * weight[i]! - n * mean);
    }
  }
  if (dWeight !== undefined) for (let i = 0; i < dim; i++) dWeight[i] = dWeight[i]! + dw[i]!;
}

/**
 * Gradients of h = silu(gate) * up: dUp = dh silu(gate), dGate = dh up s (1 + gate (1 - s)) with
 * s = sigmoid(gate). Written (not accumulated). All (n).
 */
export function swigluBackward(dGate: Float32Array, dUp: Float32Array, dh: Float32Array, gate: Float32Array, up: Float32Array): void {
  for (let i = 0; i < dh.length; i++) {
    const g = gate[i]!;
    const s = 1 / (1 + Math.exp(-g));
    dUp[i] = dh[i]! * g * s;
    dGate[i] = dh[i]! * up[i]! * s * (1 + g * (1 - s));
  }
}

/**
 * Turn dy, the gradient of the rotated x, into the gradient of x before the rotation, in place:
 * the transpose of [[c, -s], [s, c]] on each (i, i + headDim/2) pair.
 * @param d (nTokens, nHeads, headDim)
 * @param cos (nTokens, headDim / 2) as the forward's
 * @param sin (nTokens, headDim / 2)
 */
export function ropeBackward(d: Float32Array, nTokens: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
  const half = headDim / 2;
  for (let t = 0; t < nTokens; t++) {
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[t * half + i]!;
        const s = sin[t * half + i]!;
        const d0 = d[base + i]!;
        const d1 = d[base + half + i]!;
        d[base + i] = d0 * c + d1 * s;
        d[base + half + i] = d1 * c - d0 * s;
      }
    }
  }
}
