// Turning processed scores into a token: greedy (argmax) or a draw from their softmax, plus the
// top-k listing used for logprobs and the CLI. The scores come from logits-processors.ts (temperature,
// top-k, top-p, min-p...). Outside the model (it returns logits); randomness comes from an explicit
// seeded Rng.

import type { Rng } from "../tensor/rng.js";

/** Index of the largest logit; the first one on ties (as torch.argmax). Logits must be finite. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Index of the first NaN or infinite logit, or -1 when all are finite. */
export function firstNonFinite(logits: Float32Array): number {
  for (let i = 0; i < logits.length; i++) if (!Number.isFinite(logits[i]!)) return i;
  return -1;
}

/** Past this k, a full sort beats insertion into a sorted list of k. */
const INSERTION_MAX_K = 64;

/** The ids of the k largest logits, largest first (ties: lower id first). */
export function topKIds(logits: Float32Array, k: number): number[] {
  const better = (a: number, b: number): boolean => logits[a]! > logits[b]! || (logits[a] === logits[b] && a < b);
  if (k > INSERTION_MAX_K) {
    const all = Array.from(logits.keys());
    all.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
    return all.slice(0, k);
  }
  // One pass keeping the best k in order: O(n * k) but with k small almost every id is rejected
  // by a single comparison with the current k-th.
  const ids: number[] = [];
  for (let id = 0; id < logits.length; id++) {
    if (ids.length === k && !better(id, ids[k - 1]!)) continue;
    let at = Math.min(ids.length, k - 1);
    while (at > 0 && better(id, ids[at - 1]!)) {
      ids[at] = ids[at - 1]!;
      at--;
    }
    ids[at] = id;
  }
  return ids;
}

/**
 * Draw a token from softmax(scores) (transformers: `torch.multinomial(softmax(scores), 1)`), walking
 * ids in order; removed tokens (-Infinity) have probability 0. Scores must not all be -Infinity.
 */
export function sampleFromScores(scores: Float32Array, rng: Rng): number {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  let total = 0;
  for (const s of scores) total += Math.exp(s - max);
  let r = rng.uniform() * total;
  let last = 0;
  for (let id = 0; id < scores.length; id++) {
    if (scores[id] === -Infinity) continue;
    last = id;
    r -= Math.exp(scores[id]! - max);
    if (r < 0) return id;
  }
  return last; // rounding left r >= 0: the last possible token
}
