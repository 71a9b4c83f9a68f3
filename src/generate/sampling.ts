// Turning logits into a token: greedy (argmax) or sampling with temperature, top-k and top-p
// (nucleus), as transformers' TemperatureLogitsWarper / TopKLogitsWarper / TopPLogitsWarper define
// them. Outside the model (it returns logits); randomness comes from an explicit seeded Rng.

import { ArgumentError } from "../errors.js";
import type { Rng } from "../tensor/rng.js";

/** How the next token is chosen. */
export type Sampler =
  | { readonly kind: "greedy" }
  | {
      readonly kind: "sample";
      /** > 0; logits are divided by it. */
      readonly temperature: number;
      /** Keep only the k most likely tokens (0 or undefined: all). */
      readonly topK?: number;
      /** Keep the smallest set of most likely tokens whose probability reaches topP (1: all). */
      readonly topP?: number;
      readonly rng: Rng;
    };

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
 * Check a sampler's parameters.
 * @throws ArgumentError naming the bad one (temperature <= 0, negative or fractional topK, topP outside (0, 1])
 */
export function checkSampler(sampler: Sampler): void {
  if (sampler.kind === "greedy") return;
  if (!(sampler.temperature > 0) || !Number.isFinite(sampler.temperature)) throw new ArgumentError(`temperature must be > 0 for sampling, got ${sampler.temperature}`);
  if (sampler.topK !== undefined && (!Number.isInteger(sampler.topK) || sampler.topK < 0)) throw new ArgumentError(`topK must be a non-negative integer, got ${sampler.topK}`);
  if (sampler.topP !== undefined && !(sampler.topP > 0 && sampler.topP <= 1)) throw new ArgumentError(`topP must be in (0, 1], got ${sampler.topP}`);
}

/**
 * The top-k candidates, largest first: every id whose logit is at least the k-th largest, so ids
 * tied with the k-th are kept, as transformers' TopKLogitsWarper (`scores < topk[-1]` are removed).
 */
function topKCandidates(logits: Float32Array, k: number): number[] {
  const top = topKIds(logits, k);
  if (k >= logits.length) return top;
  const threshold = logits[top[k - 1]!]!;
  for (let id = 0; id < logits.length; id++) if (logits[id] === threshold && !top.includes(id)) top.push(id);
  return top;
}

/**
 * Choose the next token from `logits` (vocabSize), which must be finite.
 * @throws ArgumentError for a sampler with bad parameters
 */
export function sampleToken(logits: Float32Array, sampler: Sampler): number {
  checkSampler(sampler);
  if (sampler.kind === "greedy") return argmax(logits);
  const k = sampler.topK === undefined || sampler.topK === 0 ? logits.length : Math.min(sampler.topK, logits.length);
  const candidates = topKCandidates(logits, k);
  const maxLogit = logits[candidates[0]!]!;
  const weights = candidates.map((id) => Math.exp((logits[id]! - maxLogit) / sampler.temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  // Nucleus: keep tokens while the probability mass before them is below topP (always keep one).
  const topP = sampler.topP ?? 1;
  let kept = 0;
  let mass = 0;
  while (kept < candidates.length && (kept === 0 || mass < topP * total)) mass += weights[kept++]!;
  let r = sampler.rng.uniform() * mass;
  for (let i = 0; i < kept; i++) {
    r -= weights[i]!;
    if (r < 0) return candidates[i]!;
  }
  return candidates[kept - 1]!;
}
