// Autoregressive generation as an async iterator of token ids: prefill the prompt into a KV cache,
// then one forward per new token, stopping at a stop id or after maxNewTokens. The model returns
// logits; sampling.ts picks tokens; text and streaming detokenization sit above this.

import { ArgumentError, NumericalError } from "../errors.js";
import type { KvCache } from "../model/kv-cache.js";
import type { LlamaModel } from "../model/llama.js";
import { type Sampler, checkSampler, firstNonFinite, sampleToken } from "./sampling.js";

export interface GenerateTokensOptions {
  readonly maxNewTokens: number;
  readonly sampler?: Sampler;
  /** Ids that end generation (yielded, then stop); default the model config's eos ids. */
  readonly stopTokenIds?: readonly number[];
  /** A cache to continue; default a new one sized for prompt + maxNewTokens. */
  readonly cache?: KvCache;
  /** Called with each step's logits before sampling (vocabSize); for inspection. */
  readonly onLogits?: (logits: Float32Array, step: number) => void;
}

/**
 * Generate token ids after `promptIds`.
 * @param model the model to run
 * @param promptIds the prompt's token ids (at least one)
 * @param options maxNewTokens, sampler (default greedy), stop ids (default the config's eos ids), cache
 * @returns an async iterator of new token ids, one per step; a stop id is yielded, then it ends
 * @throws ArgumentError for bad options or ids; NumericalError when the model's logits are not finite
 * @example
 * for await (const id of generateTokens(model, [128000, 791], { maxNewTokens: 8 })) console.log(id);
 */
export async function* generateTokens(model: LlamaModel, promptIds: readonly number[], options: GenerateTokensOptions): AsyncGenerator<number, void, undefined> {
  const { maxNewTokens } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new ArgumentError(`maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  if (promptIds.length === 0) throw new ArgumentError("the prompt needs at least one token");
  const sampler = options.sampler ?? { kind: "greedy" };
  checkSampler(sampler);
  const stop = new Set(options.stopTokenIds ?? model.config.eosTokenIds);
  const cache = options.cache ?? model.createKvCache({ maxSeqLen: Math.max(1, promptIds.length + maxNewTokens) });
  if (maxNewTokens === 0) return;
  let logits = await model.forward(promptIds, cache);
  for (let step = 0; step < maxNewTokens; step++) {
    const bad = firstNonFinite(logits);
    if (bad >= 0) throw new NumericalError(`step ${step}: logit of token ${bad} is ${logits[bad]}; the model produced non-finite values (float16 overflow or a degenerate config?)`);
    options.onLogits?.(logits, step);
    const id = sampleToken(logits, sampler);
    yield id;
    if (stop.has(id) || step + 1 === maxNewTokens) return;
    logits = await model.forward([id], cache);
  }
}
