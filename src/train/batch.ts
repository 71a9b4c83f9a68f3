// The record training passes around: a right-padded batch of token rows, the shape transformers'
// data collator hands LlamaForCausalLM (input_ids, attention_mask, labels). The data layer
// (`data.ts`) builds it; the loss and its gradient (`loss.ts`, `backward.ts`) consume it.

/** Label value that is not trained on (padding, prompt tokens): transformers' ignore_index. */
export const IGNORE_INDEX = -100;

/** `rows` sequences of `seqLen` tokens each, row-major. */
export interface TrainBatch {
  readonly rows: number;
  readonly seqLen: number;
  /** (rows * seqLen) token ids; padding positions hold the pad id */
  readonly inputIds: Int32Array;
  /** (rows * seqLen) 1 = a real token, 0 = padding (a masked key is never attended to) */
  readonly attentionMask: Uint8Array;
  /**
   * (rows * seqLen) the token each position should predict, unshifted as in transformers:
   * position t's logits are scored against labels[t + 1]; IGNORE_INDEX is not scored.
   */
  readonly labels: Int32Array;
}
