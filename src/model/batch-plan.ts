// The batch plan of a forward pass, apart from its math: how the new tokens of several sequences
// are laid out as rows of one pass (continuous batching), and where each piece's logits go. A long
// prompt spans several passes, so every token's keys are cached before later tokens need them.
// (mlx-lm hides the same bookkeeping behind its cache objects; here it is one small generator.)

import type { KvCache } from "./kv-cache.js";

/** One sequence of a batched forward: its new tokens and the KV cache they continue. */
export interface BatchSequence {
  readonly tokens: readonly number[];
  readonly cache: KvCache;
}

/** A run of consecutive tokens of one batch sequence, processed in one pass. */
export interface Piece {
  readonly sequence: number;
  readonly tokens: readonly number[];
  readonly cache: KvCache;
  /** Position of the first token (the cache length when the pass starts). */
  readonly startPos: number;
  /** Row of its first token in the pass's activations. */
  readonly row: number;
  /** Where its logits go: every row (allLogits), only the last (the sequence ends here), or none. */
  readonly logits: Float32Array | undefined;
  readonly allLogits: boolean;
}

/** The pieces of one pass and its number of rows. */
export interface Pass {
  readonly pieces: readonly Piece[];
  readonly nRows: number;
}

/**
 * The passes that run `sequences`, each of at most `maxRows` rows, taking each sequence's tokens in
 * order. Lazy: a pass's start positions are read from the caches when it is produced, so the caller
 * runs (and advances the caches of) one pass before asking for the next.
 * @param results one logits array per sequence: (nTokens, vocabSize) with allLogits, else (vocabSize)
 */
export function* batchPasses(sequences: readonly BatchSequence[], results: readonly Float32Array[], allLogits: boolean, vocabSize: number, maxRows: number): Generator<Pass> {
  const offsets = sequences.map(() => 0);
  while (offsets.some((offset, i) => offset < sequences[i]!.tokens.length)) {
    const pieces: Piece[] = [];
    let row = 0;
    sequences.forEach((seq, i) => {
      const offset = offsets[i]!;
      const take = Math.min(seq.tokens.length - offset, maxRows - row);
      if (take <= 0) return;
      const ends = offset + take === seq.tokens.length;
      const logits = allLogits ? results[i]!.subarray(offset * vocabSize, (offset + take) * vocabSize) : ends ? results[i] : undefined;
      pieces.push({ sequence: i, tokens: seq.tokens.slice(offset, offset + take), cache: seq.cache, startPos: seq.cache.length, row, logits, allLogits });
      offsets[i] = offset + take;
      row += take;
    });
    yield { pieces, nRows: row };
  }
}
