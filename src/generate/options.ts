// Resolving generation options: call options over generation_config.json's defaults over library
// defaults (transformers' GenerationConfig defaults: temperature 1, top_k 50, top_p 1), checked
// once, so the engine reads plain numbers. Every bad value is an ArgumentError naming the option.

import { ArgumentError } from "../errors.js";
import type { GenerationDefaults } from "../model/generation-config.js";
import type { Grammar } from "./constraint.js";
import { responseFormatGrammar } from "./response-format.js";
import type { GenerationOptions } from "./types.js";

/** Tokens generated when neither the call nor generation_config.json says how many. */
export const DEFAULT_MAX_NEW_TOKENS = 256;

/** Most alternatives `topLogprobs` may ask for (OpenAI's limit). */
export const MAX_TOP_LOGPROBS = 20;

/** transformers' GenerationConfig default top_k, used when sampling and nothing sets it. */
const HF_DEFAULT_TOP_K = 50;

/** Options with every value decided. */
export interface ResolvedGeneration {
  readonly maxNewTokens: number;
  readonly minNewTokens: number;
  readonly doSample: boolean;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly repetitionPenalty: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  readonly seed: number;
  readonly stopTokenIds: readonly number[];
  readonly stopStrings: readonly string[];
  readonly logprobs: boolean;
  readonly topLogprobs: number;
  readonly signal: AbortSignal | undefined;
  readonly onStart: (() => void) | undefined;
  /** The grammar the output must stay in (from responseFormat or constraint), or undefined. */
  readonly constraint: Grammar<unknown> | undefined;
}

/** What options are resolved against: the model's stop ids and vocabulary, the checkpoint's defaults. */
export interface ResolveContext {
  readonly eosTokenIds: readonly number[];
  readonly vocabSize: number;
  readonly defaults?: GenerationDefaults;
  readonly promptLength: number;
}

function check(name: string, value: number, ok: boolean, rule: string): number {
  if (!ok || typeof value !== "number" || Number.isNaN(value)) throw new ArgumentError(`${name} must be ${rule}, got ${JSON.stringify(value)}`);
  return value;
}

const isInt = (v: number): boolean => Number.isSafeInteger(v);

/**
 * Merge and check generation options.
 * @throws ArgumentError naming the first bad option
 */
export function resolveGeneration(options: GenerationOptions, context: ResolveContext): ResolvedGeneration {
  const d = context.defaults ?? { eosTokenIds: [] };
  const maxFromLength = d.maxLength === undefined ? undefined : Math.max(0, d.maxLength - context.promptLength);
  const maxNewTokens = options.maxNewTokens ?? d.maxNewTokens ?? maxFromLength ?? DEFAULT_MAX_NEW_TOKENS;
  check("maxNewTokens", maxNewTokens, isInt(maxNewTokens) && maxNewTokens >= 0, "a non-negative integer");
  const minNewTokens = options.minNewTokens ?? d.minNewTokens ?? 0;
  check("minNewTokens", minNewTokens, isInt(minNewTokens) && minNewTokens >= 0, "a non-negative integer");
  const doSample = options.doSample ?? d.doSample ?? false;
  if (typeof doSample !== "boolean") throw new ArgumentError(`doSample must be true or false, got ${JSON.stringify(doSample)}`);
  const temperature = options.temperature ?? d.temperature ?? 1;
  check("temperature", temperature, Number.isFinite(temperature) && temperature > 0, "a finite number > 0 (use doSample: false for greedy)");
  const topK = options.topK ?? d.topK ?? HF_DEFAULT_TOP_K;
  check("topK", topK, isInt(topK) && topK >= 0, "a non-negative integer (0: off)");
  const topP = options.topP ?? d.topP ?? 1;
  check("topP", topP, topP > 0 && topP <= 1, "in (0, 1]");
  const minP = options.minP ?? d.minP ?? 0;
  check("minP", minP, minP >= 0 && minP <= 1, "in [0, 1]");
  const repetitionPenalty = options.repetitionPenalty ?? d.repetitionPenalty ?? 1;
  check("repetitionPenalty", repetitionPenalty, Number.isFinite(repetitionPenalty) && repetitionPenalty > 0, "a finite number > 0 (1: off)");
  const presencePenalty = options.presencePenalty ?? 0;
  check("presencePenalty", presencePenalty, Number.isFinite(presencePenalty), "a finite number");
  const frequencyPenalty = options.frequencyPenalty ?? 0;
  check("frequencyPenalty", frequencyPenalty, Number.isFinite(frequencyPenalty), "a finite number");
  const seed = options.seed ?? 0;
  check("seed", seed, isInt(seed), "a safe integer");
  const stopTokenIds = options.stopTokenIds ?? context.eosTokenIds;
  if (!Array.isArray(stopTokenIds) || !stopTokenIds.every((id) => isInt(id) && id >= 0 && id < context.vocabSize)) {
    throw new ArgumentError(`stopTokenIds must be token ids in [0, ${context.vocabSize}), got ${JSON.stringify(stopTokenIds)}`);
  }
  const stopStrings = options.stopStrings ?? [];
  if (!Array.isArray(stopStrings) || !stopStrings.every((s) => typeof s === "string" && s.length > 0)) {
    throw new ArgumentError(`stopStrings must be a list of non-empty strings, got ${JSON.stringify(stopStrings)}`);
  }
  const topLogprobs = options.topLogprobs ?? 0;
  check("topLogprobs", topLogprobs, isInt(topLogprobs) && topLogprobs >= 0 && topLogprobs <= MAX_TOP_LOGPROBS, `an integer in [0, ${MAX_TOP_LOGPROBS}]`);
  const logprobs = options.logprobs ?? topLogprobs > 0;
  if (typeof logprobs !== "boolean") throw new ArgumentError(`logprobs must be true or false, got ${JSON.stringify(logprobs)}`);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new ArgumentError("signal must be an AbortSignal");
  if (options.onStart !== undefined && typeof options.onStart !== "function") throw new ArgumentError("onStart must be a function");
  const constraint = resolveConstraint(options);
  return {
    maxNewTokens,
    minNewTokens,
    doSample,
    temperature,
    topK,
    topP,
    minP,
    repetitionPenalty,
    presencePenalty,
    frequencyPenalty,
    seed,
    stopTokenIds: [...stopTokenIds],
    stopStrings: [...stopStrings],
    logprobs,
    topLogprobs,
    signal: options.signal,
    onStart: options.onStart,
    constraint,
  };
}

function resolveConstraint(options: GenerationOptions): Grammar<unknown> | undefined {
  const { constraint, responseFormat } = options;
  if (constraint !== undefined) {
    if (responseFormat !== undefined && responseFormat.type !== "text") throw new ArgumentError("give either responseFormat or constraint, not both");
    const g = constraint as Partial<Grammar<unknown>>;
    if (typeof g !== "object" || g === null || typeof g.initial !== "function" || typeof g.step !== "function" || typeof g.accepts !== "function" || typeof g.canContinue !== "function" || typeof g.key !== "function") {
      throw new ArgumentError("constraint must be a Grammar (initial, step, accepts, canContinue, key)");
    }
    return constraint;
  }
  return responseFormat === undefined ? undefined : responseFormatGrammar(responseFormat);
}
