// Reference kernels for the normalisation and element-wise steps of a Llama block: RMSNorm, the
// SwiGLU gate and the residual add. Plain loops; the specification for optimized twins.

/**
 * RMSNorm (Zhang & Sennrich 2019), as Llama computes it in float32:
 * out = x / sqrt(mean(x^2) + eps) * weight, row by row.
 * @param out (nTokens, dim)
 * @param x (nTokens, dim)
 * @param weight (dim)
 */
export function rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, nTokens: number, eps: number): void {
  const dim = weight.length;
  for (let t = 0; t < nTokens; t++) {
    const offset = t * dim;
    let sumSquares = 0;
    for (let i = 0; i < dim; i++) sumSquares += x[offset + i]! * x[offset + i]!;
    // Reference: x * torch.rsqrt(x.pow(2).mean(-1) + eps), then * weight.
    const scale = 1 / Math.sqrt(Math.fround(sumSquares / dim) + eps);
    for (let i = 0; i < dim; i++) out[offset + i] = Math.fround(x[offset + i]! * scale) * weight[i]!;
  }
}

/** out = silu(gate) * up, element-wise; silu(g) = g * sigmoid(g). All (n). */
export function swiglu(out: Float32Array, gate: Float32Array, up: Float32Array): void {
  for (let i = 0; i < out.length; i++) {
    const g = gate[i]!;
    out[i] = Math.fround(g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** out += x, element-wise. Both (n). */
export function addInPlace(out: Float32Array, x: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + x[i]!;
}
