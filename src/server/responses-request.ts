// Reading `POST /v1/responses` bodies (OpenAI API reference, "Create a model response"): the subset
// that clients such as the AI SDK's default OpenAI provider and LangChain's `useResponsesApi` send,
// turned into the chat request the chat-completions path serves. `input` is a string or a list of
// items: messages (`input_text` / `output_text` parts), `function_call`, `function_call_output` and
// `item_reference` (an output item of an earlier response, from the server's bounded item store);
// `instructions` is a system message first. Fields that ask for something this server does not do
// (previous_response_id, reasoning, background, conversation, images and files) are 400s naming the
// field; bookkeeping fields (store, metadata, user, truncation, service_tier) are accepted.

import type { ChatContent, ChatMessage } from "../chat/index.js";
import { ApiError, invalidParam, unsupportedParam } from "./api-error.js";
import { type JsonFields, isFields, isSet, jsonType, optionalInteger, optionalNumber, optionalObject, optionalString } from "./fields.js";
import { type ChatRequest, parseResponseFormat } from "./request.js";
import { parseToolFields } from "./tool-request.js";

/** An output item of an earlier response, as `item_reference` finds it. */
export type StoredItem = JsonFields;

/** A checked `/v1/responses` body: the chat request it amounts to, and what the response echoes. */
export interface ResponsesRequest {
  readonly chat: ChatRequest;
  readonly instructions: string | null;
  readonly metadata: JsonFields;
  /** The `text.format` as given (echoed in the response), `{type: "text"}` by default. */
  readonly textFormat: JsonFields;
  /** The tools as given (echoed). */
  readonly tools: readonly unknown[];
  /** The tool_choice as given (echoed), "auto" by default. */
  readonly toolChoice: unknown;
}

/**
 * Check a `/v1/responses` body.
 * @param lookup finds the item an `item_reference` names (undefined: unknown id, a 400)
 * @throws ApiError (400) naming the field
 */
export function parseResponsesRequest(body: JsonFields, lookup: (id: string) => StoredItem | undefined): ResponsesRequest {
  for (const [field, why] of [
    ["previous_response_id", "responses are not kept for chaining; send the conversation in input"],
    ["conversation", "conversations are not kept; send the conversation in input"],
    ["background", "background responses are not supported"],
    ["prompt", "stored prompt templates are not supported"],
    ["top_logprobs", "log-probabilities are not supported on /v1/responses; use /v1/chat/completions"],
  ] as const) {
    if (isSet(body[field])) throw unsupportedParam(field, why);
  }
  const reasoning = optionalObject(body, "reasoning");
  if (reasoning !== undefined && isSet(reasoning["effort"]) && reasoning["effort"] !== "none") throw unsupportedParam("reasoning", "this model does not reason; leave reasoning out");
  const include = body["include"];
  if (Array.isArray(include) && include.length > 0) throw unsupportedParam("include", `extra output (${include.map((x) => JSON.stringify(x)).join(", ")}) is not supported`);
  const instructions = optionalString(body, "instructions") ?? null;
  const text = optionalObject(body, "text");
  const format = text === undefined ? undefined : optionalObject(text, "format", "text.format");
  const responseFormat = format === undefined ? undefined : parseTextFormat(format);
  const messages = [...(instructions === null ? [] : [{ role: "system" as const, content: instructions }]), ...parseInput(body["input"], lookup)];
  if (messages.length === 0) throw invalidParam("input", "is empty; a response needs at least one input message", "missing_required_parameter");
  const tools = parseToolFields(body, true);
  const chat: ChatRequest = {
    endpoint: "chat",
    model: optionalString(body, "model"),
    maxTokens: optionalInteger(body, "max_output_tokens", 1, Number.MAX_SAFE_INTEGER),
    temperature: optionalNumber(body, "temperature", 0, 2),
    topP: topP(body),
    stop: [],
    seed: undefined,
    n: 1,
    presencePenalty: undefined,
    frequencyPenalty: undefined,
    topK: undefined,
    minP: undefined,
    repetitionPenalty: undefined,
    logprobs: false,
    topLogprobs: 0,
    stream: body["stream"] === true,
    includeUsage: false,
    responseFormat,
    messages,
    tools,
  };
  if (body["stream"] !== undefined && body["stream"] !== null && typeof body["stream"] !== "boolean") throw invalidParam("stream", `expected a boolean, got ${jsonType(body["stream"])}`, "invalid_type");
  return {
    chat,
    instructions,
    metadata: optionalObject(body, "metadata") ?? {},
    textFormat: format ?? { type: "text" },
    tools: Array.isArray(body["tools"]) ? body["tools"] : [],
    toolChoice: body["tool_choice"] ?? "auto",
  };
}

function topP(body: JsonFields): number | undefined {
  const value = optionalNumber(body, "top_p", 0, 1);
  if (value === 0) throw invalidParam("top_p", "must be above 0 (1 keeps every token)");
  return value;
}

// `text.format`: {type: "text"}, {type: "json_object"} or {type: "json_schema", name, schema, strict}
// (flat, where chat completions nest it under `json_schema`), read by the chat path's reader.
function parseTextFormat(format: JsonFields): ChatRequest["responseFormat"] {
  const type = format["type"];
  if (type !== "json_schema") {
    try {
      return parseResponseFormat({ response_format: format });
    } catch {
      throw invalidParam("text.format.type", `expected "text", "json_object" or "json_schema", got ${typeof type === "string" ? JSON.stringify(type) : jsonType(type)}`);
    }
  }
  const { type: _type, ...spec } = format;
  try {
    return parseResponseFormat({ response_format: { type, json_schema: spec } });
  } catch (error) {
    // Re-point the chat path's param names at this endpoint's.
    if (!(error instanceof ApiError) || error.param === null) throw error;
    const param = error.param.replace(/^response_format\.json_schema/, "text.format");
    throw new ApiError(error.status, error.message.replace(error.param, param), { param, ...(error.code === null ? {} : { code: error.code }) });
  }
}

function parseInput(value: unknown, lookup: (id: string) => StoredItem | undefined): ChatMessage[] {
  if (value === undefined || value === null) throw invalidParam("input", "is required", "missing_required_parameter");
  if (typeof value === "string") return [{ role: "user", content: value }];
  if (!Array.isArray(value)) throw invalidParam("input", `expected a string or an array of input items, got ${jsonType(value)}`, "invalid_type");
  return value.map((item: unknown, i) => {
    const at = `input[${i}]`;
    if (!isFields(item)) throw invalidParam(at, `expected an input item object, got ${jsonType(item)}`, "invalid_type");
    if (item["type"] !== "item_reference") return parseItem(item, at);
    const id = optionalString(item, "id", `${at}.id`);
    const stored = id === undefined ? undefined : lookup(id);
    if (stored === undefined) throw invalidParam(`${at}.id`, `no stored item ${JSON.stringify(id)} (this server keeps the output items of recent responses only)`);
    return parseItem(stored, at);
  });
}

const MESSAGE_ROLES = new Set(["user", "system", "developer", "assistant"]);

function parseItem(item: JsonFields, at: string): ChatMessage {
  const type = item["type"] ?? "message";
  if (type === "message") {
    const role = item["role"];
    if (typeof role !== "string" || !MESSAGE_ROLES.has(role)) {
      throw invalidParam(`${at}.role`, `expected one of user, system, developer, assistant; got ${typeof role === "string" ? JSON.stringify(role) : jsonType(role)}`);
    }
    const content = parseContent(item["content"], `${at}.content`);
    if (role === "assistant") return { role, content };
    return { role: role === "developer" ? "system" : (role as "user" | "system"), content };
  }
  if (type === "function_call") {
    const callId = requiredString(item, "call_id", at);
    const name = requiredString(item, "name", at);
    const args = requiredString(item, "arguments", at);
    return { role: "assistant", content: null, toolCalls: [{ id: callId, type: "function", function: { name, arguments: args } }] };
  }
  if (type === "function_call_output") {
    const callId = requiredString(item, "call_id", at);
    const output = item["output"];
    const content = typeof output === "string" ? output : parseContent(output, `${at}.output`);
    return { role: "tool", toolCallId: callId, content };
  }
  throw unsupportedParam(`${at}.type`, `input item type ${JSON.stringify(type)} is not supported; use message, function_call, function_call_output or item_reference`);
}

function requiredString(item: JsonFields, key: string, at: string): string {
  const value = optionalString(item, key, `${at}.${key}`);
  if (value === undefined) throw invalidParam(`${at}.${key}`, "is required", "missing_required_parameter");
  return value;
}

// Message content: a string, or parts of type input_text / output_text (text kept, in order).
function parseContent(value: unknown, at: string): ChatContent {
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) throw invalidParam(at, `expected a string or an array of content parts, got ${jsonType(value)}`, "invalid_type");
  return value.map((part: unknown, j) => {
    if (!isFields(part)) throw invalidParam(`${at}[${j}]`, `expected a content part object, got ${jsonType(part)}`, "invalid_type");
    const type = part["type"];
    if (type !== "input_text" && type !== "output_text") {
      throw unsupportedParam(`${at}[${j}].type`, `content part type ${typeof type === "string" ? JSON.stringify(type) : jsonType(type)} is not supported; this model reads input_text and output_text`);
    }
    const text = part["text"];
    if (typeof text !== "string") throw invalidParam(`${at}[${j}].text`, `expected a string, got ${jsonType(text)}`, "invalid_type");
    return { type: "text" as const, text };
  });
}
