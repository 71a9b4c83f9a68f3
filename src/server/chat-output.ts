// The assistant side of a chat completion when tools are on: a finished or streaming sequence read as
// text or tool calls (generate/chat-reply.ts), written in OpenAI's shapes. A reply of tool calls is
// `message: {role: "assistant", content: null, tool_calls: [{id: "call_...", type: "function",
// function: {name, arguments}}]}` with `finish_reason: "tool_calls"`, `arguments` being JSON text;
// streamed, each call is a `delta.tool_calls` entry with its `index`, `id`, `type` and
// `function.name` (arguments ""), then entries with the same index carrying fragments of
// `function.arguments`, as OpenAI streams them (API reference, "The chat completion chunk object").
// A malformed call is sent as the text it was, with finish_reason "stop" (OpenAI has no reason for it).

import { randomUUID } from "node:crypto";
import { type ChatFinishReason, type ChatReplyOptions, chatReplyEvents, chatReplyOf } from "../generate/chat-reply.js";
import type { ParsedToolCall } from "../chat/index.js";
import type { FinishReason, GenerationEvent, SequenceOutput } from "../generate/types.js";
import type { ToolRequest } from "./tool-request.js";

/** What OpenAI's finish_reason says for a chat reply. */
export type WireFinishReason = FinishReason | "tool_calls";

/** A tool call as OpenAI sends it. */
export interface WireToolCall {
  readonly id: string;
  readonly type: "function";
  readonly function: { readonly name: string; readonly arguments: string };
}

/** How replies of one request are read. */
export interface ReplySettings extends ChatReplyOptions {
  /** parallel_tool_calls false: only the first call of a reply is kept. */
  readonly parallel: boolean;
}

/** The reply settings of a request (tools off when it has none or tool_choice is "none"). */
export function replySettings(tools: ToolRequest | undefined, pythonTagId: number | undefined): ReplySettings {
  return { parseToolCalls: tools !== undefined && tools.choice.kind !== "none", pythonTagId, parallel: tools?.parallel ?? true };
}

/** A finished chat choice as OpenAI sends it. */
export interface ChatAnswer {
  readonly content: string | null;
  readonly toolCalls: readonly WireToolCall[] | undefined;
  readonly finishReason: WireFinishReason;
  /** Why the reply was a malformed tool call, for the log. */
  readonly malformedReason: string | undefined;
}

/** An OpenAI tool-call id (`call_` and 24 hex digits, the length OpenAI's ids have). */
export function toolCallId(): string {
  return `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

/** Calls in OpenAI's shape, each with a fresh id. */
export function wireToolCalls(calls: readonly ParsedToolCall[], settings: Pick<ReplySettings, "parallel">): WireToolCall[] {
  const kept = settings.parallel ? calls : calls.slice(0, 1);
  return kept.map((c) => ({ id: toolCallId(), type: "function", function: { name: c.name, arguments: JSON.stringify(c.arguments) } }));
}

/** OpenAI's finish_reason of a chat reply. */
export function wireFinishReason(reason: ChatFinishReason): WireFinishReason {
  return reason === "malformed_tool_call" ? "stop" : reason;
}

/** A finished sequence as a chat answer. */
export function chatAnswer(output: SequenceOutput, settings: ReplySettings): ChatAnswer {
  const reply = chatReplyOf(output, settings);
  if (reply.finishReason === "tool_calls") {
    return { content: null, toolCalls: wireToolCalls(reply.toolCalls, settings), finishReason: "tool_calls", malformedReason: undefined };
  }
  return { content: reply.text, toolCalls: undefined, finishReason: wireFinishReason(reply.finishReason), malformedReason: reply.malformedReason };
}

// Characters of `arguments` per streamed fragment: about what a few tokens spell, so a client sees
// (and must assemble) the arguments in pieces as it would from OpenAI.
const ARGUMENT_FRAGMENT_LENGTH = 8;

/** The `delta.tool_calls` deltas that stream `calls`: per call its head, then argument fragments. */
export function toolCallDeltas(calls: readonly WireToolCall[]): object[] {
  const deltas: object[] = [];
  calls.forEach((call, index) => {
    deltas.push({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] });
    const args = Array.from(call.function.arguments); // code points: a fragment never splits a surrogate pair
    for (let at = 0; at < args.length; at += ARGUMENT_FRAGMENT_LENGTH) {
      deltas.push({ tool_calls: [{ index, function: { arguments: args.slice(at, at + ARGUMENT_FRAGMENT_LENGTH).join("") } }] });
    }
  });
  return deltas;
}

/** What one streamed chat choice produces, in order. */
export type ChatStreamEvent =
  | { readonly type: "text"; readonly text: string; readonly tokens: readonly { tokenId: number; logprob?: number; topLogprobs?: readonly { tokenId: number; logprob: number }[] }[] }
  | { readonly type: "tool_calls"; readonly calls: readonly WireToolCall[] }
  | { readonly type: "done"; readonly finishReason: WireFinishReason; readonly completionTokens: number; readonly malformedReason: string | undefined };

/**
 * The stream of one chat choice: text (with the tokens that released it, for logprobs), then the
 * tool calls if the reply is calls, then the end.
 */
export async function* chatStreamEvents(run: AsyncIterable<GenerationEvent>, settings: ReplySettings): AsyncGenerator<ChatStreamEvent> {
  let held: { tokenId: number; logprob?: number; topLogprobs?: readonly { tokenId: number; logprob: number }[] }[] = [];
  const entry = (t: { tokenId: number; logprob?: number; topLogprobs?: readonly { tokenId: number; logprob: number }[] }): (typeof held)[number] => ({
    tokenId: t.tokenId,
    ...(t.logprob === undefined ? {} : { logprob: t.logprob }),
    ...(t.topLogprobs === undefined ? {} : { topLogprobs: t.topLogprobs }),
  });
  for await (const event of chatReplyEvents(run, settings)) {
    if (event.type === "held") {
      held.push(entry(event.token));
    } else if (event.type === "text") {
      const tokens = event.token === undefined ? held : [...held, entry(event.token)];
      held = [];
      yield { type: "text", text: event.text, tokens };
    } else {
      // Tokens that released no text (a stop token) still carry logprobs; a tool call's do not.
      if (held.length > 0 && event.finishReason !== "tool_calls") yield { type: "text", text: "", tokens: held };
      if (event.finishReason === "tool_calls") yield { type: "tool_calls", calls: wireToolCalls(event.toolCalls, settings) };
      yield { type: "done", finishReason: wireFinishReason(event.finishReason), completionTokens: event.tokenIds.length, malformedReason: event.malformedReason };
    }
  }
}
