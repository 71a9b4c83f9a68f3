// The JSON the server sends: OpenAI's `chat.completion`, `chat.completion.chunk`, `text_completion`
// (whole and streamed) and `list` of models, built from generation outputs (OpenAI API reference,
// "The chat completion object", "The chat completion chunk object", "The completion object"). The
// only code that writes their snake_case field names.

import type { FinishReason, TokenLogprob } from "../generate/types.js";
import type { Tokenizer } from "../tokenizer/index.js";

/** Token counts of a request, OpenAI's `usage`. */
export interface Usage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

/** Usage from prompt and completion token counts. */
export function usage(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** One generated token with its log-probability and alternatives, as the engine reports it. */
export interface LogprobEntry {
  readonly tokenId: number;
  readonly logprob: number;
  readonly topLogprobs?: readonly TokenLogprob[];
}

/** The fields every response object of one request shares. */
export interface ResponseHeader {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

/** How the server spells tokens for logprobs: their text (special tokens by name) and bytes. */
export class TokenSpeller {
  private readonly tokenizer: Tokenizer;
  constructor(tokenizer: Tokenizer) {
    this.tokenizer = tokenizer;
  }

  /** A token's text; a piece of a multi-byte character shows as U+FFFD, as OpenAI's `token`. */
  text(id: number): string {
    return this.tokenizer.decode([id]);
  }

  /** A token's UTF-8 bytes (OpenAI's `bytes`), or null for an id the tokenizer does not know. */
  bytes(id: number): number[] | null {
    const bytes = this.tokenizer.idToBytes(id);
    return bytes === undefined ? null : Array.from(bytes);
  }
}

/** Chat logprobs of some tokens: `{content: [{token, logprob, bytes, top_logprobs}], refusal: null}`. */
export function chatLogprobs(entries: readonly LogprobEntry[], speller: TokenSpeller): unknown {
  return {
    content: entries.map((e) => ({
      token: speller.text(e.tokenId),
      logprob: e.logprob,
      bytes: speller.bytes(e.tokenId),
      top_logprobs: (e.topLogprobs ?? []).map((t) => ({ token: speller.text(t.tokenId), logprob: t.logprob, bytes: speller.bytes(t.tokenId) })),
    })),
    refusal: null,
  };
}

/**
 * Completions logprobs: `{tokens, token_logprobs, top_logprobs, text_offset}`; `textOffset` is where
 * the first token starts in the completion's text (offsets count UTF-16 units of the token strings).
 */
export function completionLogprobs(entries: readonly LogprobEntry[], speller: TokenSpeller, textOffset = 0): unknown {
  const tokens = entries.map((e) => speller.text(e.tokenId));
  const offsets: number[] = [];
  let offset = textOffset;
  for (const token of tokens) {
    offsets.push(offset);
    offset += token.length;
  }
  return {
    tokens,
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries((e.topLogprobs ?? []).map((t) => [speller.text(t.tokenId), t.logprob]))),
    text_offset: offsets,
  };
}

/** A finished chat choice: text, or (content null) tool calls in OpenAI's shape. */
export interface ChatChoiceResult {
  readonly content: string | null;
  readonly toolCalls?: readonly unknown[] | undefined;
  readonly finishReason: FinishReason | "tool_calls";
  readonly logprobs: unknown;
}

/** The `chat.completion` object. */
export function chatCompletion(header: ResponseHeader, choices: readonly ChatChoiceResult[], use: Usage): unknown {
  return {
    id: header.id,
    object: "chat.completion",
    created: header.created,
    model: header.model,
    choices: choices.map((c, index) => ({
      index,
      message: { role: "assistant", content: c.content, refusal: null, ...(c.toolCalls === undefined ? {} : { tool_calls: c.toolCalls }) },
      logprobs: c.logprobs,
      finish_reason: c.finishReason,
    })),
    usage: use,
    system_fingerprint: null,
  };
}

/** A `chat.completion.chunk` with one choice's delta; `withUsage` adds `usage: null` (stream_options.include_usage). */
export function chatChunk(
  header: ResponseHeader,
  choice: { index: number; delta: object; logprobs: unknown; finishReason: FinishReason | "tool_calls" | null },
  withUsage: boolean,
): unknown {
  return {
    id: header.id,
    object: "chat.completion.chunk",
    created: header.created,
    model: header.model,
    system_fingerprint: null,
    choices: [{ index: choice.index, delta: choice.delta, logprobs: choice.logprobs, finish_reason: choice.finishReason }],
    ...(withUsage ? { usage: null } : {}),
  };
}

/** The last chunk of a chat stream with stream_options.include_usage: no choices, the usage. */
export function chatUsageChunk(header: ResponseHeader, use: Usage): unknown {
  return { id: header.id, object: "chat.completion.chunk", created: header.created, model: header.model, system_fingerprint: null, choices: [], usage: use };
}

/** A finished completions choice. */
export interface CompletionChoiceResult {
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly logprobs: unknown;
}

/** The `text_completion` object (also the shape of each streamed chunk, with one choice). */
export function textCompletion(header: ResponseHeader, choices: readonly (CompletionChoiceResult & { index: number })[], use: Usage | null | undefined): unknown {
  return {
    id: header.id,
    object: "text_completion",
    created: header.created,
    model: header.model,
    system_fingerprint: null,
    choices: choices.map((c) => ({ text: c.text, index: c.index, logprobs: c.logprobs, finish_reason: c.finishReason })),
    ...(use === undefined ? {} : { usage: use }),
  };
}

/** A streamed completions chunk of one choice; finishReason null until the choice ends. */
export function completionChunk(
  header: ResponseHeader,
  choice: { index: number; text: string; logprobs: unknown; finishReason: FinishReason | null },
  withUsage: boolean,
): unknown {
  return {
    id: header.id,
    object: "text_completion",
    created: header.created,
    model: header.model,
    system_fingerprint: null,
    choices: [{ text: choice.text, index: choice.index, logprobs: choice.logprobs, finish_reason: choice.finishReason }],
    ...(withUsage ? { usage: null } : {}),
  };
}

/** The `list` of models `/v1/models` returns. */
export function modelList(model: { id: string; created: number }): unknown {
  return { object: "list", data: [{ id: model.id, object: "model", created: model.created, owned_by: "llama3-ts" }] };
}
