// Serving `POST /v1/responses` (OpenAI API reference, "Responses": the response object and its
// streaming events): the body becomes a chat request (responses-request.ts) served by the same
// engine path as chat completions; the reply becomes output items, a `message` with one
// `output_text` part, or one `function_call` item per tool call. Streamed, the events come in
// OpenAI's order: response.created, response.in_progress, then per item output_item.added,
// (content_part.added, output_text.delta..., output_text.done, content_part.done) or
// (function_call_arguments.delta..., function_call_arguments.done), output_item.done, and last
// response.completed (response.incomplete when max_output_tokens cut it), each with a
// sequence_number; no `[DONE]`. Output items are kept in a bounded store so a later request can name
// them with `item_reference` (the AI SDK does, with store on by default).

import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { type ChatAnswer, type WireToolCall, chatAnswer, chatStreamEvents } from "./chat-output.js";
import { toApiError } from "./api-error.js";
import type { JsonFields } from "./fields.js";
import { type GenerationContext, type GenerationStats, chatSettings, countedEvents, countedOutput, submitRuns } from "./generation.js";
import { SseStream, sendJson } from "./http-io.js";
import type { GenerationEvent } from "../generate/types.js";
import { type ResponsesRequest, type StoredItem, parseResponsesRequest } from "./responses-request.js";

/** Output items kept for `item_reference` (oldest dropped first). */
export const MAX_STORED_ITEMS = 4096;

/** The output items of recent responses, by id. */
export class ItemStore {
  private readonly items = new Map<string, StoredItem>();
  constructor(private readonly capacity = MAX_STORED_ITEMS) {}

  add(item: StoredItem & { readonly id: string }): void {
    this.items.delete(item.id);
    this.items.set(item.id, item);
    if (this.items.size > this.capacity) this.items.delete(this.items.keys().next().value!);
  }

  get(id: string): StoredItem | undefined {
    return this.items.get(id);
  }
}

const hex = (n: number): string => randomUUID().replaceAll("-", "").slice(0, n);

interface Usage {
  readonly input_tokens: number;
  readonly input_tokens_details: { cached_tokens: number };
  readonly output_tokens: number;
  readonly output_tokens_details: { reasoning_tokens: number };
  readonly total_tokens: number;
}

function usageOf(stats: GenerationStats): Usage {
  return {
    input_tokens: stats.promptTokens, input_tokens_details: { cached_tokens: 0 },
    output_tokens: stats.completionTokens, output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: stats.promptTokens + stats.completionTokens,
  };
}

type Item = JsonFields & { readonly id: string };

function messageItem(id: string, text: string, status: "in_progress" | "completed" | "incomplete"): Item {
  return { type: "message", id, status, role: "assistant", content: status === "in_progress" ? [] : [textPart(text)] };
}

function textPart(text: string): JsonFields {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}

function functionCallItem(call: WireToolCall, status: "in_progress" | "completed"): Item {
  return { type: "function_call", id: `fc_${hex(24)}`, call_id: call.id, name: call.function.name, arguments: status === "completed" ? call.function.arguments : "", status };
}

/** The response object (`object: "response"`) in a given state. */
function responseObject(
  base: { id: string; createdAt: number; model: string; request: ResponsesRequest },
  state: { status: "in_progress" | "completed" | "incomplete"; output: readonly Item[]; usage: Usage | null },
): JsonFields {
  const r = base.request;
  return {
    id: base.id, object: "response", created_at: base.createdAt, status: state.status, error: null,
    incomplete_details: state.status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: r.instructions, max_output_tokens: r.chat.maxTokens ?? null, model: base.model, output: state.output,
    parallel_tool_calls: r.chat.tools?.parallel ?? true, previous_response_id: null, reasoning: { effort: null, summary: null },
    store: true, temperature: r.chat.temperature ?? null, text: { format: r.textFormat }, tool_choice: r.toolChoice, tools: r.tools,
    top_p: r.chat.topP ?? null, truncation: "disabled", usage: state.usage, user: null, metadata: r.metadata,
  };
}

/**
 * Answer a `/v1/responses` body, whole or as its event stream.
 * Throws ApiError for a request that fails before the response starts.
 */
export async function serveResponses(ctx: GenerationContext, body: JsonFields, res: ServerResponse, signal: AbortSignal, stats: GenerationStats, store: ItemStore): Promise<void> {
  const request = parseResponsesRequest(body, (id) => store.get(id));
  const keep = body["store"] !== false;
  const { runs, release } = submitRuns(ctx, request.chat, signal, stats);
  const run = runs[0]!;
  const base = { id: `resp_${hex(32)}`, createdAt: Math.floor(Date.now() / 1000), model: ctx.model.id, request };
  const settings = chatSettings(ctx, request.chat);
  try {
    if (!request.chat.stream) {
      const output = await countedOutput(run, stats);
      const items = outputItems(chatAnswer(output, settings));
      if (keep) items.forEach((item) => store.add(item));
      const status = output.finishReason === "length" ? "incomplete" : "completed";
      sendJson(res, 200, responseObject(base, { status, output: items, usage: usageOf(stats) }));
      return;
    }
    const items = await streamResponse(countedEvents(run, stats), base, settings, new SseStream(res, { keepAliveMs: ctx.keepAliveMs }), stats);
    if (keep) items.forEach((item) => store.add(item));
  } finally {
    release();
  }
}

function outputItems(answer: ChatAnswer): Item[] {
  if (answer.toolCalls !== undefined) return answer.toolCalls.map((c) => functionCallItem(c, "completed"));
  return [messageItem(`msg_${hex(32)}`, answer.content ?? "", answer.finishReason === "length" ? "incomplete" : "completed")];
}

async function streamResponse(
  run: AsyncIterable<GenerationEvent>,
  base: Parameters<typeof responseObject>[0],
  settings: ReturnType<typeof chatSettings>,
  stream: SseStream,
  stats: GenerationStats,
): Promise<Item[]> {
  let sequence = 0;
  const send = (type: string, fields: JsonFields): void => stream.sendEvent(type, { type, sequence_number: sequence++, ...fields });
  const items: Item[] = [];
  send("response.created", { response: responseObject(base, { status: "in_progress", output: [], usage: null }) });
  send("response.in_progress", { response: responseObject(base, { status: "in_progress", output: [], usage: null }) });
  const messageId = `msg_${hex(32)}`;
  let text: string | undefined;
  const startMessage = (): void => {
    text = "";
    send("response.output_item.added", { output_index: 0, item: messageItem(messageId, "", "in_progress") });
    send("response.content_part.added", { item_id: messageId, output_index: 0, content_index: 0, part: textPart("") });
  };
  try {
    for await (const event of chatStreamEvents(run, settings)) {
      if (event.type === "text") {
        if (event.text === "") continue;
        if (text === undefined) startMessage();
        text += event.text;
        send("response.output_text.delta", { item_id: messageId, output_index: 0, content_index: 0, delta: event.text, logprobs: [] });
      } else if (event.type === "tool_calls") {
        event.calls.forEach((call, index) => {
          const added = functionCallItem(call, "in_progress");
          send("response.output_item.added", { output_index: index, item: added });
          send("response.function_call_arguments.delta", { item_id: added.id, output_index: index, delta: call.function.arguments });
          send("response.function_call_arguments.done", { item_id: added.id, output_index: index, name: call.function.name, arguments: call.function.arguments });
          const done: Item = { ...added, arguments: call.function.arguments, status: "completed" };
          send("response.output_item.done", { output_index: index, item: done });
          items.push(done);
        });
      } else {
        const status = event.finishReason === "length" ? "incomplete" : "completed";
        if (items.length === 0) {
          if (text === undefined) startMessage();
          const final = text ?? "";
          send("response.output_text.done", { item_id: messageId, output_index: 0, content_index: 0, text: final, logprobs: [] });
          send("response.content_part.done", { item_id: messageId, output_index: 0, content_index: 0, part: textPart(final) });
          const done = messageItem(messageId, final, status);
          send("response.output_item.done", { output_index: 0, item: done });
          items.push(done);
        }
        send(status === "incomplete" ? "response.incomplete" : "response.completed", { response: responseObject(base, { status, output: items, usage: usageOf(stats) }) });
      }
    }
  } catch (error) {
    // As OpenAI's stream reports a failure: an `error` event (the openai client raises on its `error` field).
    const apiError = toApiError(error);
    const body = apiError.toBody().error;
    send("error", { code: body.code, message: body.message, param: body.param, error: body });
    stream.end();
    throw error;
  }
  stream.end();
  return items;
}
