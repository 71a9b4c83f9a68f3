// Logits processors: the steps between the model's logits and the choice of a token, with
// transformers' definitions and in transformers' order. The order is that of
// `GenerationMixin._get_logits_processor` (transformers/generation/utils.py, v4.45): the
// processors that apply to greedy and sampling alike first (RepetitionPenaltyLogitsProcessor,
// then MinNewTokensLengthLogitsProcessor), then, only when sampling, the warpers
// TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper (min-p "applied after
// temperature scaling", as llama.cpp does). OpenAI's presence and frequency penalties, which
// transformers lacks, run right after the repetition penalty, where llama.cpp's penalty sampler
// applies them. Each processor edits the scores in place; a removed token gets -Infinity.

import type { ResolvedGeneration } from "./options.js";
import { topKIds } from "./sampling.js";

/** Up to this k, top-k finds its threshold by one selection pass instead of a sort. */
const TOP_K_SELECT_MAX = 64;

/** What a processor may look at besides the scores. */
export interface ProcessorContext {
  readonly promptIds: readonly number[];
  readonly generatedIds: readonly number[];
}

/** One step of the pipeline: edits `scores` (vocabSize) in place. */
export type LogitsProcessor = (scores: Float32Array, context: ProcessorContext) => void;

/**
 * transformers' RepetitionPenaltyLogitsProcessor: every token of the prompt or the output so far
 * has its score divided by `penalty` when positive, multiplied when negative.
 */
export function repetitionPenalty(penalty: number): LogitsProcessor {
  return (scores, { promptIds, generatedIds }) => {
    const seen = new Set([...promptIds, ...generatedIds]);
    for (const id of seen) {
      const s = scores[id]!;
      scores[id] = s < 0 ? s * penalty : s / penalty;
    }
  };
}

/**
 * OpenAI's presence and frequency penalties over the generated tokens:
 * score -= frequency * count + presence * (count > 0).
 */
export function presenceFrequencyPenalty(presence: number, frequency: number): LogitsProcessor {
  return (scores, { generatedIds }) => {
    const counts = new Map<number, number>();
    for (const id of generatedIds) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, count] of counts) scores[id] = scores[id]! - frequency * count - presence;
  };
}

/** transformers' MinNewTokensLengthLogitsProcessor: stop ids are impossible before `minNewTokens`. */
export function minNewTokens(minNew: number, stopIds: readonly number[]): LogitsProcessor {
  return (scores, { generatedIds }) => {
    if (generatedIds.length >= minNew) return;
    for (const id of stopIds) if (id < scores.length) scores[id] = -Infinity;
  };
}

/** transformers' TemperatureLogitsWarper: scores / temperature. */
export function temperature(t: number): LogitsProcessor {
  return (scores) => {
    for (let i = 0; i < scores.length; i++) scores[i] = scores[i]! / t;
  };
}

/** The k-th largest score (1 <= k < length), -Infinity included. */
function kthLargest(scores: Float32Array, k: number): number {
  if (k <= TOP_K_SELECT_MAX) return scores[topKIds(scores, k)[k - 1]!]!; // one pass, no sort of the vocabulary
  const sorted = Float32Array.from(scores).sort(); // ascending, native numeric sort
  return sorted[sorted.length - k]!;
}

/**
 * transformers' TopKLogitsWarper: remove every token whose score is below the k-th largest
 * (`scores < topk(scores, k)[-1]`), so ties with the k-th stay.
 */
export function topK(k: number): LogitsProcessor {
  return (scores) => {
    if (k >= scores.length) return;
    const threshold = kthLargest(scores, k);
    for (let i = 0; i < scores.length; i++) if (scores[i]! < threshold) scores[i] = -Infinity;
  };
}

/** Softmax of scores in float64 (-Infinity gives 0). */
function softmax(scores: Float32Array): Float64Array {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  const probs = new Float64Array(scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = scores[i] === -Infinity ? 0 : Math.exp(scores[i]! - max);
    probs[i] = p;
    sum += p;
  }
  for (let i = 0; i < probs.length; i++) probs[i] = probs[i]! / sum;
  return probs;
}

/**
 * transformers' TopPLogitsWarper: sort ascending, remove the tokens whose cumulative probability
 * is <= 1 - topP, always keeping the most likely. Equivalently, walking from the most likely down,
 * a token is kept while the mass of the tokens above it is below topP. Tokens tied at the cut are
 * all kept (torch's sort leaves their order unspecified).
 */
export function topP(p: number): LogitsProcessor {
  return (scores) => {
    const probs = softmax(scores);
    const order = probs.filter((q) => q > 0).sort().reverse(); // descending probabilities of the tokens still in play
    let above = 0;
    let cut = order[0]!;
    for (const q of order) {
      if (above >= p) break;
      cut = q;
      above += q;
    }
    for (let i = 0; i < scores.length; i++) if (probs[i]! < cut) scores[i] = -Infinity;
  };
}

/**
 * transformers' MinPLogitsWarper: remove tokens whose probability is below minP times the most
 * likely token's probability (the most likely always stays).
 */
export function minP(m: number): LogitsProcessor {
  return (scores) => {
    const probs = softmax(scores);
    let top = 0;
    for (const q of probs) if (q > top) top = q;
    const threshold = m * top;
    for (let i = 0; i < scores.length; i++) if (probs[i]! < threshold) scores[i] = -Infinity;
  };
}

/**
 * The processors for a resolved option set, in transformers' order (see the file comment).
 * Sampling-only warpers are left out of greedy decoding, as transformers does.
 */
export function buildProcessors(options: ResolvedGeneration): LogitsProcessor[] {
  const list: LogitsProcessor[] = [];
  if (options.repetitionPenalty !== 1) list.push(repetitionPenalty(options.repetitionPenalty));
  if (options.presencePenalty !== 0 || options.frequencyPenalty !== 0) list.push(presenceFrequencyPenalty(options.presencePenalty, options.frequencyPenalty));
  if (options.minNewTokens > 0) list.push(minNewTokens(options.minNewTokens, options.stopTokenIds));
  if (options.doSample) {
    if (options.temperature !== 1) list.push(temperature(options.temperature));
    if (options.topK !== 0) list.push(topK(options.topK));
    if (options.topP < 1) list.push(topP(options.topP));
    if (options.minP > 0) list.push(minP(options.minP));
  }
  return list;
}

/** Log-softmax of one entry: log p(id) under `logits`, computed stably in float64. */
export function logSoftmaxNormalizer(logits: Float32Array): number {
  let max = -Infinity;
  for (const s of logits) if (s > max) max = s;
  let sum = 0;
  for (const s of logits) sum += Math.exp(s - max);
  return max + Math.log(sum);
}
