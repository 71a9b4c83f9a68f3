// The public shapes of generation: the options a caller passes (camelCase, transformers' meanings),
// the events a running generation yields, and what it resolves to. No logic; options.ts validates
// and merges them with generation_config.json defaults, engine.ts produces the events.

import type { Grammar } from "./constraint.js";
import type { ResponseFormat } from "./response-format.js";

/** Options of one generation; unset fields come from generation_config.json, then library defaults. */
export interface GenerationOptions {
  /** Most tokens to generate (default: generation_config's max_new_tokens, else 256). */
  readonly maxNewTokens?: number;
  /** Fewest tokens before a stop token may end generation (transformers' min_new_tokens). */
  readonly minNewTokens?: number;
  /** Sample from the distribution; false means greedy (default: generation_config's do_sample, else false). */
  readonly doSample?: boolean;
  /** Divides the logits before sampling; > 0 (sampling only). */
  readonly temperature?: number;
  /** Keep the k most likely tokens and ties with the k-th (0: off; sampling only). */
  readonly topK?: number;
  /** Nucleus sampling: keep the most likely tokens whose probability mass reaches topP (1: off). */
  readonly topP?: number;
  /** Drop tokens less likely than minP times the most likely one (0: off; sampling only). */
  readonly minP?: number;
  /** transformers' repetition penalty over prompt and generated tokens (1: off). */
  readonly repetitionPenalty?: number;
  /** OpenAI's presence penalty: subtracted once from every token already generated (0: off). */
  readonly presencePenalty?: number;
  /** OpenAI's frequency penalty: subtracted per occurrence in the generated tokens (0: off). */
  readonly frequencyPenalty?: number;
  /** Seed of the sampler's random generator; the same seed gives the same tokens. Default 0. */
  readonly seed?: number;
  /** Ids that end generation (default: the model's eos ids, e.g. <|eot_id|> and <|end_of_text|>). */
  readonly stopTokenIds?: readonly number[];
  /** Texts that end generation; the text is cut before the match. Needs a tokenizer. */
  readonly stopStrings?: readonly string[];
  /** Report the log-probability of each generated token (under the model's raw distribution). */
  readonly logprobs?: boolean;
  /** With logprobs: also the N most likely alternatives at each step (0..20). */
  readonly topLogprobs?: number;
  /** Stops generation when aborted; the run then rejects / throws the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Called once when the sequence leaves the engine's queue for a place in the batch, just before its
   * prefill (a server reports the time between submit and this call as queue time).
   */
  readonly onStart?: () => void;
  /**
   * Constrained decoding: the output is a JSON document matching a schema (`{ type: "json_schema",
   * schema }`), any JSON object (`{ type: "json_object" }`) or free text (`{ type: "text" }`, the
   * default). Needs a tokenizer. The sequence ends ("stop") as soon as the document is complete;
   * reaching maxNewTokens first gives "length" with an unfinished document. The mask is applied
   * before the other processors; minNewTokens does not apply (the grammar decides the end).
   */
  readonly responseFormat?: ResponseFormat;
  /**
   * Constrained decoding by any byte-level Grammar (constraint.ts): only tokens whose bytes keep the
   * output inside it are allowed, stop tokens only where it accepts. Not together with responseFormat.
   */
  readonly constraint?: Grammar<unknown>;
}

/** Why a sequence ended: a stop token or stop string ("stop") or maxNewTokens ("length"). */
export type FinishReason = "stop" | "length";

/** One alternative token at a step, with its log-probability. */
export interface TokenLogprob {
  readonly tokenId: number;
  readonly logprob: number;
}

/** A new token of one sequence. */
export interface TokenEvent {
  readonly type: "token";
  /** Index of the sequence in its batch (0 for a single prompt). */
  readonly sequence: number;
  readonly tokenId: number;
  /** Text this token adds (may be "" while a multi-byte character or possible stop string is held back). */
  readonly text: string;
  /** With logprobs: the token's log-probability. */
  readonly logprob?: number;
  /** With topLogprobs: the most likely tokens at this step, most likely first. */
  readonly topLogprobs?: readonly TokenLogprob[];
}

/** A sequence has finished; no more events for it follow. */
export interface DoneEvent {
  readonly type: "done";
  readonly sequence: number;
  readonly finishReason: FinishReason;
  /** The stop token id or stop string that ended it, when finishReason is "stop". */
  readonly stoppedBy?: number | string;
  /** All new token ids (including a stop token). */
  readonly tokenIds: readonly number[];
  /** The complete new text: the concatenation of this sequence's token event texts. */
  readonly text: string;
  readonly promptTokens: number;
}

export type GenerationEvent = TokenEvent | DoneEvent;

/** The outcome of one sequence. */
export interface SequenceOutput {
  /** New token ids (a stop token included, as transformers returns it). */
  readonly tokenIds: readonly number[];
  /** New text (special tokens skipped; cut before a stop string). "" without a tokenizer. */
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly stoppedBy?: number | string;
  readonly promptTokens: number;
  /** With logprobs: one entry per new token. */
  readonly logprobs?: readonly { readonly tokenId: number; readonly logprob: number; readonly topLogprobs?: readonly TokenLogprob[] }[];
}
