// Serving one `/v1/completions` or `/v1/chat/completions` request: prompts to token ids (the chat
// template for messages), context and model checks, one engine sequence per choice (n per prompt,
// sharing the engine's batch with every other request), and the answer, whole or as server-sent
// events. Cancellation is one AbortSignal per request, passed to every sequence: the server aborts it
// when the client goes away or a shutdown runs out of time.

import type { ServerResponse } from "node:http";
import { PYTHON_TAG, applyChatTemplate, chatFormatTakesTools } from "../chat/index.js";
import type { GenerationEvent, GenerationOptions, SequenceOutput } from "../generate/types.js";
import { ApiError, invalidParam, toApiError } from "./api-error.js";
import type { ServedModel, ServerEngine, ServerRun } from "./engine-port.js";
import { SseStream, sendJson } from "./http-io.js";
import type { ChatRequest, CompletionRequest } from "./request.js";
import { type ReplySettings, type WireFinishReason, chatAnswer, chatStreamEvents, replySettings, toolCallDeltas } from "./chat-output.js";
import { toolChoiceOptions } from "./tool-choice.js";
import {
  type LogprobEntry,
  type ResponseHeader,
  TokenSpeller,
  chatChunk,
  chatCompletion,
  chatLogprobs,
  chatUsageChunk,
  completionChunk,
  completionLogprobs,
  textCompletion,
  usage,
} from "./responses.js";

/** Default `max_tokens` of /v1/completions when the request has none: OpenAI's documented default. */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;

/** What a request handler needs from the server. */
export interface GenerationContext {
  readonly engine: ServerEngine;
  readonly model: ServedModel;
  readonly speller: TokenSpeller;
  /** Default max_tokens of chat completions (capped by the context left); undefined: the model's default. */
  readonly chatMaxTokens: number | undefined;
  /** A seed for a request that gives none. */
  readonly randomSeed: () => number;
  /** Reserve places for `count` sequences, or throw the 429 that says the queue is full. */
  readonly admit: (count: number) => () => void;
  /** Silence after which a stream gets an SSE comment (while queued or in a long prefill); 0: never. */
  readonly keepAliveMs: number;
}

/** Counts for the request log. */
export interface GenerationStats {
  promptTokens: number;
  /** Tokens generated so far: counted as they arrive, so a cancelled request logs what was generated. */
  completionTokens: number;
  /** Longest time a sequence of the request waited in the engine's queue (ms), once one has started. */
  queueMs?: number;
}

/**
 * A run's events, each token counted into `stats.completionTokens` as it arrives. At the end the
 * count is made up to the run's own (a token without an event, such as one the engine reports only
 * in its done event, is still counted).
 */
export async function* countedEvents(run: AsyncIterable<GenerationEvent>, stats: GenerationStats): AsyncGenerator<GenerationEvent> {
  let seen = 0;
  for await (const event of run) {
    if (event.type === "token") {
      seen++;
      stats.completionTokens++;
    } else {
      stats.completionTokens += event.tokenIds.length - seen;
    }
    yield event;
  }
}

/**
 * A run's outcome, its tokens counted into `stats.completionTokens` as they arrive (by reading its
 * events), so that a request cancelled before its answer logs the tokens generated until then.
 */
export async function countedOutput(run: ServerRun, stats: GenerationStats): Promise<SequenceOutput> {
  for await (const _ of countedEvents(run, stats));
  return await run;
}

interface Prepared {
  /** Token ids of each prompt. */
  readonly prompts: readonly (readonly number[])[];
  /** Where prompt-length errors point. */
  readonly promptParam: string;
  readonly maxNewTokens: number | undefined;
}

/** The ids of each prompt of a request and the max tokens that fit them; 400s name the field. */
function prepare(ctx: GenerationContext, request: ChatRequest | CompletionRequest): Prepared {
  if (request.model !== undefined && request.model !== ctx.model.id) {
    throw new ApiError(404, `The model \`${request.model}\` does not exist; this server serves \`${ctx.model.id}\``, { param: "model", code: "model_not_found" });
  }
  const tokenizer = ctx.model.tokenizer;
  let prompts: (readonly number[])[];
  let promptParam: string;
  if (request.endpoint === "chat") {
    promptParam = "messages";
    prompts = [chatPromptIds(ctx, request)];
  } else {
    promptParam = "prompt";
    // Text prompts start with BOS, as vLLM and transformers' tokenizers add it; ids are used as given.
    prompts = request.prompts.map((p) => (p.kind === "ids" ? p.ids : tokenizer.encode(p.text)));
  }
  const context = ctx.model.contextLength;
  const longest = Math.max(...prompts.map((ids) => ids.length));
  if (longest >= context) {
    throw new ApiError(400, `This model's maximum context length is ${context} tokens; the prompt has ${longest}, leaving no room for a completion`, {
      param: promptParam,
      code: "context_length_exceeded",
    });
  }
  const maxParam = request.endpoint === "chat" ? "max_completion_tokens" : "max_tokens";
  if (request.maxTokens !== undefined && longest + request.maxTokens > context) {
    throw new ApiError(400, `This model's maximum context length is ${context} tokens; you requested ${longest + request.maxTokens} (${longest} in the prompt, ${request.maxTokens} for the completion)`, {
      param: maxParam,
      code: "context_length_exceeded",
    });
  }
  // Without max_tokens: 16 for completions (OpenAI's default); for chats the server's default, else
  // the model's (generation_config.json, else the engine's); the engine stops at the end of the context.
  const fallback = request.endpoint === "chat" ? ctx.chatMaxTokens : DEFAULT_COMPLETION_MAX_TOKENS;
  const maxNewTokens = request.maxTokens ?? (fallback === undefined ? undefined : Math.min(fallback, context - longest));
  return { prompts, promptParam, maxNewTokens };
}

/** The chat prompt, with the tool definitions unless tool_choice is "none". */
function chatPromptIds(ctx: GenerationContext, request: ChatRequest): number[] {
  const tokenizer = ctx.model.tokenizer;
  const tools = request.tools !== undefined && request.tools.choice.kind !== "none" ? request.tools.tools.map((t) => t.definition) : undefined;
  if (tools !== undefined && !chatFormatTakesTools(tokenizer)) {
    throw new ApiError(400, "tools: this model's chat template has no tool support (the Llama 3 template); tool calling needs a Llama 3.1 or later template", {
      param: "tools",
      code: "unsupported_parameter",
    });
  }
  try {
    return applyChatTemplate(tokenizer, request.messages, { addGenerationPrompt: true, ...(tools === undefined ? {} : { tools }) }).ids;
  } catch (error) {
    throw toApiError(error, "messages");
  }
}

/**
 * The generation options of choice `choice` (seeds seed, seed+1, ... for choices 0, 1, ...). A
 * request that sets temperature samples from temperature and top_p alone, as OpenAI does (top_k off
 * unless the request sets it); one that does not gets the model's generation_config.json defaults.
 */
function optionsFor(request: ChatRequest | CompletionRequest, ctx: GenerationContext, base: { maxNewTokens: number | undefined; seed: number; signal: AbortSignal; onStart: () => void }, choice: number): GenerationOptions {
  const t = request.temperature;
  const sampling: GenerationOptions = t === undefined ? {} : t === 0 ? { doSample: false } : { doSample: true, temperature: t, topK: 0 };
  const greedy = t === 0;
  const toolOptions = request.endpoint === "chat" ? toolChoiceOptions(request.tools) : {};
  return {
    ...(base.maxNewTokens === undefined ? {} : { maxNewTokens: base.maxNewTokens }),
    ...sampling,
    ...(request.topP === undefined || greedy ? {} : { topP: request.topP }),
    ...(request.topK === undefined || greedy ? {} : { topK: request.topK }),
    ...(request.minP === undefined || greedy ? {} : { minP: request.minP }),
    ...(request.repetitionPenalty === undefined ? {} : { repetitionPenalty: request.repetitionPenalty }),
    ...(request.presencePenalty === undefined ? {} : { presencePenalty: request.presencePenalty }),
    ...(request.frequencyPenalty === undefined ? {} : { frequencyPenalty: request.frequencyPenalty }),
    seed: (base.seed + choice) >>> 0,
    stopTokenIds: ctx.model.stopTokenIds,
    ...(request.stop.length === 0 ? {} : { stopStrings: request.stop }),
    ...(request.logprobs ? { logprobs: true, topLogprobs: request.topLogprobs } : {}),
    // A forced tool call (tool_choice required / named) is held to its call grammar; response_format
    // then governs nothing (the reply is a call, not content), so it gives way.
    ...(toolOptions.constraint === undefined && request.responseFormat !== undefined ? { responseFormat: request.responseFormat } : {}),
    ...toolOptions,
    signal: base.signal,
    onStart: base.onStart,
  };
}

/** The sequences of one request, submitted, and the place they hold in the admission count. */
export interface SubmittedRuns {
  readonly runs: readonly ServerRun[];
  /** Give back the admitted places (call once the answer is complete). */
  readonly release: () => void;
}

/**
 * Prepare, admit and submit a sequence per choice of a request (n per prompt). Throws ApiError for
 * a request that cannot start; `stats.promptTokens` is set.
 */
export function submitRuns(ctx: GenerationContext, request: ChatRequest | CompletionRequest, signal: AbortSignal, stats: GenerationStats): SubmittedRuns {
  const prepared = prepare(ctx, request);
  const release = ctx.admit(prepared.prompts.length * request.n);
  try {
    const seed = request.seed ?? ctx.randomSeed();
    const submitted = performance.now();
    const onStart = (): void => {
      stats.queueMs = Math.max(stats.queueMs ?? 0, performance.now() - submitted);
    };
    const runs: ServerRun[] = [];
    for (const ids of prepared.prompts) {
      for (let i = 0; i < request.n; i++) {
        try {
          runs.push(ctx.engine.submit(ids, optionsFor(request, ctx, { maxNewTokens: prepared.maxNewTokens, seed, signal, onStart }, i)));
        } catch (error) {
          throw toApiError(error, prepared.promptParam);
        }
      }
    }
    stats.promptTokens = prepared.prompts.reduce((sum, ids) => sum + ids.length, 0);
    return { runs, release };
  } catch (error) {
    release();
    throw error;
  }
}

/**
 * Answer a completions or chat request: prepare, admit, submit a sequence per choice, respond.
 * Throws ApiError for a request that fails before the response starts; failures after a stream has
 * started are sent as an error event.
 */
export async function serveGeneration(
  ctx: GenerationContext,
  request: ChatRequest | CompletionRequest,
  res: ServerResponse,
  signal: AbortSignal,
  stats: GenerationStats,
): Promise<void> {
  const { runs, release } = submitRuns(ctx, request, signal, stats);
  try {
    const header: ResponseHeader = { id: `${request.endpoint === "chat" ? "chatcmpl" : "cmpl"}-${randomId()}`, created: Math.floor(Date.now() / 1000), model: ctx.model.id };
    if (request.stream) await streamRuns(ctx, request, runs, header, res, stats);
    else await answerRuns(ctx, request, runs, header, res, stats);
  } finally {
    release();
  }
}

async function answerRuns(ctx: GenerationContext, request: ChatRequest | CompletionRequest, runs: readonly ServerRun[], header: ResponseHeader, res: ServerResponse, stats: GenerationStats): Promise<void> {
  const outputs: SequenceOutput[] = await Promise.all(runs.map((run) => countedOutput(run, stats)));
  const use = usage(stats.promptTokens, stats.completionTokens);
  if (request.endpoint === "chat") {
    const settings = chatSettings(ctx, request);
    const choices = outputs.map((o) => ({ ...chatAnswer(o, settings), logprobs: request.logprobs ? chatLogprobs(o.logprobs ?? [], ctx.speller) : null }));
    sendJson(res, 200, chatCompletion(header, choices, use));
  } else {
    const choices = outputs.map((o, index) => ({ index, text: o.text, finishReason: o.finishReason, logprobs: request.logprobs ? completionLogprobs(o.logprobs ?? [], ctx.speller) : null }));
    sendJson(res, 200, textCompletion(header, choices, use));
  }
}

async function streamRuns(ctx: GenerationContext, request: ChatRequest | CompletionRequest, runs: readonly ServerRun[], header: ResponseHeader, res: ServerResponse, stats: GenerationStats): Promise<void> {
  const stream = new SseStream(res, { keepAliveMs: ctx.keepAliveMs });
  const withUsage = request.includeUsage;
  try {
    await Promise.all(runs.map(async (run, index) => {
      const events = countedEvents(run, stats);
      if (request.endpoint === "chat") {
        await streamChatChoice(ctx, request, events, index, header, stream);
        return;
      }
      let textOffset = 0;
      for await (const event of events) {
        if (event.type === "done") {
          stream.send(completionChunk(header, { index, text: "", logprobs: null, finishReason: event.finishReason }, withUsage));
          continue;
        }
        // A token whose text is held back (part of a character or of a possible stop string) is sent
        // only when its logprob is asked for.
        if (event.text === "" && !request.logprobs) continue;
        const entries: LogprobEntry[] = request.logprobs && event.logprob !== undefined ? [{ tokenId: event.tokenId, logprob: event.logprob, ...(event.topLogprobs === undefined ? {} : { topLogprobs: event.topLogprobs }) }] : [];
        const logprobs = request.logprobs ? completionLogprobs(entries, ctx.speller, textOffset) : null;
        stream.send(completionChunk(header, { index, text: event.text, logprobs, finishReason: null }, withUsage));
        if (request.logprobs) textOffset += ctx.speller.text(event.tokenId).length;
      }
    }));
  } catch (error) {
    // The client is told what went wrong (a shutdown's 503, or a 500 without details); the server
    // logs the error and cancels the other choices.
    stream.fail(toApiError(error));
    throw error;
  }
  if (withUsage) {
    const use = usage(stats.promptTokens, stats.completionTokens);
    stream.send(request.endpoint === "chat" ? chatUsageChunk(header, use) : textCompletion(header, [], use));
  }
  stream.done();
}

/** How the replies of a chat request are read (tool calls or text). */
export function chatSettings(ctx: GenerationContext, request: ChatRequest): ReplySettings {
  return replySettings(request.tools, ctx.model.tokenizer.tokenToId(PYTHON_TAG));
}

/** Stream one chat choice: the role, text deltas, tool-call deltas, the finish reason. */
async function streamChatChoice(ctx: GenerationContext, request: ChatRequest, events: AsyncIterable<GenerationEvent>, index: number, header: ResponseHeader, stream: SseStream): Promise<void> {
  const withUsage = request.includeUsage;
  const send = (delta: object, logprobs: unknown = null, finishReason: WireFinishReason | null = null): void =>
    stream.send(chatChunk(header, { index, delta, logprobs, finishReason }, withUsage));
  send({ role: "assistant", content: "" });
  for await (const event of chatStreamEvents(events, chatSettings(ctx, request))) {
    if (event.type === "text") {
      // Text held back (part of a character or of a possible stop string) is sent only when its logprobs are asked for.
      if (event.text === "" && !request.logprobs) continue;
      send({ content: event.text }, request.logprobs ? chatLogprobs(event.tokens.filter((t): t is LogprobEntry => t.logprob !== undefined), ctx.speller) : null);
    } else if (event.type === "tool_calls") {
      for (const delta of toolCallDeltas(event.calls)) send(delta);
    } else {
      send({}, null, event.finishReason);
      return;
    }
  }
}

function randomId(): string {
  return globalThis.crypto.randomUUID().replaceAll("-", "");
}

/** The 400 for a request whose `n` times its prompts can never fit the queue. */
export function tooManySequences(count: number, capacity: number): ApiError {
  return invalidParam("n", `the request needs ${count} sequences (prompts × n); this server runs at most ${capacity} at once`);
}
