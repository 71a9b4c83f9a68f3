// Reference kernel for rotary position embeddings, in the "halves" layout that Hugging Face
// checkpoints use (transformers apply_rotary_pos_emb with rotate_half): within a head, element i
// pairs with element i + headDim/2. Meta's original weights pair 2i with 2i+1 instead; loaders permute
// their q/k rows into this layout once (convert/rope-layout.ts), so one kernel serves both.

/**
 * Rotate each head of x in place by the angles of its position.
 * @param x (nTokens, nHeads, headDim)
 * @param cos (nTokens, headDim / 2) cos of the angles of each token's position
 * @param sin (nTokens, headDim / 2)
 */
export function rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
  const half = headDim / 2;
  for (let t = 0; t < nTokens; t++) {
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[t * half + i]!;
        const s = sin[t * half + i]!;
        const x0 = x[base + i]!;
        const x1 = x[base + half + i]!;
        x[base + i] = x0 * c - x1 * s;
        x[base + half + i] = x1 * c + x0 * s;
      }
    }
  }
}
