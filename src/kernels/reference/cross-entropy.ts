// Reference kernel for the cross-entropy of rows of logits against target ids, and its gradient
// with respect to the logits: the inner torch.nn.functional.cross_entropy of transformers'
// ForCausalLMLoss (train/loss.ts shifts the labels and picks the normaliser). Log-sum-exp and the
// softmax in float64 (transformers upcasts logits to float32; wider is closer to its float64
// goldens), gradients stored as float32. Plain loops: the specification the WebAssembly twin
// (src/kernels/wasm/assembly/cross-entropy.ts) is tested against.

/**
 * losses[r] = logsumexp(logits[r]) - logits[r, targets[r]] for each row whose target is >= 0, 0 for
 * the others (not scored); and, when dLogits is given, dLogits[r] = (softmax(logits[r]) -
 * onehot(targets[r])) / norm on scored rows, 0 on the others.
 * @param losses (nRows) float64
 * @param dLogits (nRows, vocabSize); may be `logits` itself (overwritten row by row)
 * @param logits (nRows, vocabSize)
 * @param targets (nRows) ids in [0, vocabSize), or negative for a row that is not scored
 */
export function crossEntropy(losses: Float64Array, dLogits: Float32Array | undefined, logits: Float32Array, targets: Int32Array, vocabSize: number, norm: number): void {
  for (let r = 0; r < targets.length; r++) {
    const row = r * vocabSize;
    const target = targets[r]!;
    if (target < 0) {
      losses[r] = 0;
      dLogits?.fill(0, row, row + vocabSize);
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < vocabSize; j++) if (logits[row + j]! > max) max = logits[row + j]!;
    let sum = 0;
    for (let j = 0; j < vocabSize; j++) sum += Math.exp(logits[row + j]! - max);
    const lse = max + Math.log(sum);
    losses[r] = lse - logits[row + target]!;
    if (dLogits === undefined) continue;
    for (let j = 0; j < vocabSize; j++) {
      const p = Math.exp(logits[row + j]! - lse);
      dLogits[row + j] = (j === target ? p - 1 : p) / norm;
    }
  }
}
