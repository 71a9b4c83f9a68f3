// A chat reply with tool calls: the token events of one generating sequence turned into text deltas
// and, when the reply is a Llama 3.1 tool call, tool calls (chat/tool-call-stream.ts holds back a
// reply that may be a call and parses it when the sequence ends). Decoding skips special tokens, so
// `<|python_tag|>` is written back into the text here, where the model emitted it, for the parser to
// see. A malformed call ends as text with finishReason "malformed_tool_call"; nothing here throws for
// what the model wrote. The server builds OpenAI's tool-call deltas from these events.

import { type ParsedToolCall, parseLlama31Reply } from "../chat/llama31-tool-parser.js";
import { PYTHON_TAG } from "../chat/segments.js";
import { ToolCallStream } from "../chat/tool-call-stream.js";
import type { FinishReason, GenerationEvent, SequenceOutput, TokenEvent } from "./types.js";

/**
 * Why a chat reply ended: the sequence's own reasons, `"tool_calls"` when the reply is tool calls,
 * `"malformed_tool_call"` when it started like a call but did not parse (its text is returned; a call
 * cut off by maxNewTokens ends with `"length"`, its reason in `malformedReason`).
 */
export type ChatFinishReason = FinishReason | "tool_calls" | "malformed_tool_call";

/** One event of a chat reply. */
export type ChatReplyEvent =
  /** Text to show; `token` is the token event that released it (undefined for text released at the end). */
  | { readonly type: "text"; readonly text: string; readonly token: TokenEvent | undefined }
  /** A token whose text is held back (for logprobs and token counts). */
  | { readonly type: "held"; readonly token: TokenEvent }
  /** The reply ended. */
  | {
      readonly type: "done";
      readonly finishReason: ChatFinishReason;
      /** The reply's text (the whole reply for text and malformed calls; "" for tool calls). */
      readonly text: string;
      readonly toolCalls: readonly ParsedToolCall[];
      /** Why a call was malformed, for logs. */
      readonly malformedReason: string | undefined;
      readonly tokenIds: readonly number[];
      readonly promptTokens: number;
    };

/** Options of {@link chatReplyEvents}. */
export interface ChatReplyOptions {
  /** Parse tool calls (false: every event passes through as text; the reply never ends with tool_calls). */
  readonly parseToolCalls: boolean;
  /** The id of `<|python_tag|>` in this vocabulary, if it has one. */
  readonly pythonTagId: number | undefined;
}

/**
 * The chat-reply events of one sequence's generation events.
 * @example
 * for await (const e of chatReplyEvents(engine.submit(ids, opts), { parseToolCalls: true, pythonTagId: 128010 })) {
 *   if (e.type === "text") process.stdout.write(e.text);
 *   else if (e.type === "done" && e.finishReason === "tool_calls") console.log(e.toolCalls);
 * }
 */
export async function* chatReplyEvents(events: AsyncIterable<GenerationEvent>, options: ChatReplyOptions): AsyncGenerator<ChatReplyEvent> {
  const stream = new ToolCallStream(options.parseToolCalls);
  for await (const event of events) {
    if (event.type === "token") {
      // Meta's decoder reads <|python_tag|> only at the start of a reply; later it is dropped, as decoding drops it.
      const text = event.tokenId === options.pythonTagId && stream.holding ? PYTHON_TAG + event.text : event.text;
      const shown = stream.push(text);
      yield shown === "" ? { type: "held", token: event } : { type: "text", text: shown, token: event };
      continue;
    }
    const end = stream.finish();
    // Held-back text is shown as the engine decoded it: without the tag this function wrote in.
    const unsent = end.unsent.replace(PYTHON_TAG, "");
    if (unsent !== "") yield { type: "text", text: unsent, token: undefined };
    const base = { tokenIds: event.tokenIds, promptTokens: event.promptTokens };
    if (end.reply.kind === "tool_calls") {
      yield { type: "done", finishReason: "tool_calls", text: "", toolCalls: end.reply.calls, malformedReason: undefined, ...base };
    } else if (end.reply.kind === "malformed") {
      // A call cut off by maxNewTokens says "length", as any reply cut off does.
      const finishReason = event.finishReason === "length" ? "length" : "malformed_tool_call";
      yield { type: "done", finishReason, text: event.text, toolCalls: [], malformedReason: end.reply.reason, ...base };
    } else {
      yield { type: "done", finishReason: event.finishReason, text: event.text, toolCalls: [], malformedReason: undefined, ...base };
    }
  }
}

/** A finished chat reply (the non-streaming twin of the events' "done"). */
export interface ChatReply {
  readonly finishReason: ChatFinishReason;
  readonly text: string;
  readonly toolCalls: readonly ParsedToolCall[];
  readonly malformedReason: string | undefined;
}

/**
 * A finished sequence read as a chat reply, as {@link chatReplyEvents} ends it.
 * @example chatReplyOf(await engine.submit(ids, opts), { parseToolCalls: true, pythonTagId: 128010 })
 */
export function chatReplyOf(output: Pick<SequenceOutput, "text" | "tokenIds" | "finishReason">, options: ChatReplyOptions): ChatReply {
  const plain: ChatReply = { finishReason: output.finishReason, text: output.text, toolCalls: [], malformedReason: undefined };
  if (!options.parseToolCalls) return plain;
  const tagged = output.tokenIds[0] !== undefined && output.tokenIds[0] === options.pythonTagId;
  const reply = parseLlama31Reply(tagged ? PYTHON_TAG + output.text : output.text);
  if (reply.kind === "tool_calls") return { finishReason: "tool_calls", text: "", toolCalls: reply.calls, malformedReason: undefined };
  if (reply.kind === "text") return plain;
  return { ...plain, finishReason: output.finishReason === "length" ? "length" : "malformed_tool_call", malformedReason: reply.reason };
}
