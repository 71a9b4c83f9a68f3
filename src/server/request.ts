// Reading OpenAI request bodies: the only code that knows the snake_case fields of
// `POST /v1/completions` and `POST /v1/chat/completions` (OpenAI API reference, "Create chat
// completion" and "Create completion"). A body becomes a typed, camelCase request or a 400 naming
// the field. Fields this server does not know are ignored; fields it knows but does not implement
// (logit_bias, echo, suffix, best_of) are a 400 when they ask for something, so a client never
// gets a silently different behaviour. `response_format` (json_schema, json_object, text) is checked
// here, the schema compiled once so that an unsupported keyword is a 400 naming it. Tool fields:
// tool-request.ts.

import { type ChatContent, type ChatMessage, type ChatToolCall, splitToolCalls } from "../chat/index.js";
import { SchemaError } from "../generate/json-schema.js";
import { type ResponseFormat, responseFormatGrammar } from "../generate/response-format.js";
import { invalidParam, unsupportedParam } from "./api-error.js";
import {
  type JsonFields,
  isFields,
  isSet,
  jsonType,
  optionalArray,
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  optionalObject,
  optionalString,
} from "./fields.js";
import { type ToolRequest, parseToolFields } from "./tool-request.js";

/** Most choices per prompt (`n`). OpenAI documents no maximum; this bounds one request's share of the batch. */
export const MAX_N = 16;
/** Most stop sequences (`stop`). OpenAI allows 4; a few more cost nothing here. */
export const MAX_STOP_SEQUENCES = 16;
/** Longest stop sequence, in UTF-16 code units. */
export const MAX_STOP_LENGTH = 1024;
/** Most alternatives per position (`top_logprobs`, completions' `logprobs`), as OpenAI's chat API. */
export const MAX_TOP_LOGPROBS = 20;
/** Most prompts in one completions request (`prompt` as a list). */
export const MAX_PROMPTS = 64;

/** Sampling and output fields shared by both endpoints. */
export interface SamplingRequest {
  /** The `model` field; undefined when the client left it out (the served model is meant). */
  readonly model: string | undefined;
  /** `max_completion_tokens` or `max_tokens`; undefined: the server's default. */
  readonly maxTokens: number | undefined;
  /** undefined: the model's generation_config default (greedy when it has none); 0: greedy. */
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly stop: readonly string[];
  /** undefined: a fresh random seed per request. */
  readonly seed: number | undefined;
  readonly n: number;
  readonly presencePenalty: number | undefined;
  readonly frequencyPenalty: number | undefined;
  /** Extensions that vLLM and llama.cpp's server accept too: `top_k` (0 or -1: off), `min_p`, `repetition_penalty`. */
  readonly topK: number | undefined;
  readonly minP: number | undefined;
  readonly repetitionPenalty: number | undefined;
  /** Report each token's log-probability. */
  readonly logprobs: boolean;
  /** Alternatives per position, with logprobs (0: none). */
  readonly topLogprobs: number;
  readonly stream: boolean;
  /** stream_options.include_usage: a last chunk with usage and no choices. */
  readonly includeUsage: boolean;
  /** `response_format` json_schema / json_object (constrained decoding); undefined for text. */
  readonly responseFormat: ResponseFormat | undefined;
}

/** A prompt of `/v1/completions`: text to tokenize, or token ids as given. */
export type CompletionPrompt = { readonly kind: "text"; readonly text: string } | { readonly kind: "ids"; readonly ids: readonly number[] };

/** A checked `POST /v1/completions` body. */
export interface CompletionRequest extends SamplingRequest {
  readonly endpoint: "completions";
  readonly prompts: readonly CompletionPrompt[];
}

/** A checked `POST /v1/chat/completions` body. */
export interface ChatRequest extends SamplingRequest {
  readonly endpoint: "chat";
  readonly messages: readonly ChatMessage[];
  /** `tools`, `tool_choice`, `parallel_tool_calls`; undefined when the request has no tools. */
  readonly tools: ToolRequest | undefined;
}

/**
 * Check a `/v1/completions` body.
 * @throws ApiError (400) naming the field that is missing, of the wrong type, out of range or unsupported
 * @example parseCompletionRequest({ model: "m", prompt: "Once upon", max_tokens: 8 }).prompts // [{ kind: "text", text: "Once upon" }]
 */
export function parseCompletionRequest(body: JsonFields): CompletionRequest {
  if (isSet(body["echo"])) throw unsupportedParam("echo", "echoing the prompt is not supported");
  if (isSet(body["suffix"])) throw unsupportedParam("suffix", "insertion (a suffix after the completion) is not supported");
  const bestOf = optionalInteger(body, "best_of", 1, MAX_N);
  const logprobs = optionalInteger(body, "logprobs", 0, MAX_TOP_LOGPROBS);
  const sampling = parseSampling(body, { logprobs: logprobs !== undefined, topLogprobs: logprobs ?? 0 });
  if (bestOf !== undefined && bestOf !== sampling.n) throw unsupportedParam("best_of", "choosing the best of several completions is not supported (best_of must equal n)");
  return { endpoint: "completions", ...sampling, prompts: parsePrompts(body["prompt"]) };
}

/**
 * Check a `/v1/chat/completions` body; messages are turned into the chat module's camelCase form.
 * @throws ApiError (400) naming the field that is missing, of the wrong type, out of range or unsupported
 * @example parseChatRequest({ model: "m", messages: [{ role: "user", content: "Hi" }] }).messages // [{ role: "user", content: "Hi" }]
 */
export function parseChatRequest(body: JsonFields): ChatRequest {
  const tools = parseToolFields(body);
  const logprobs = optionalBoolean(body, "logprobs") ?? false;
  const topLogprobs = optionalInteger(body, "top_logprobs", 0, MAX_TOP_LOGPROBS);
  if (topLogprobs !== undefined && !logprobs) throw invalidParam("top_logprobs", "needs logprobs: true");
  const sampling = parseSampling(body, { logprobs, topLogprobs: topLogprobs ?? 0 });
  const maxCompletionTokens = optionalInteger(body, "max_completion_tokens", 1, Number.MAX_SAFE_INTEGER);
  const maxTokens = maxCompletionTokens ?? sampling.maxTokens;
  return { endpoint: "chat", ...sampling, maxTokens, messages: parseMessages(body["messages"]), tools };
}

function parseSampling(body: JsonFields, logprobs: { logprobs: boolean; topLogprobs: number }): SamplingRequest {
  if (isSet(body["logit_bias"])) throw unsupportedParam("logit_bias", "logit bias is not supported");
  const responseFormat = parseResponseFormat(body);
  const stream = optionalBoolean(body, "stream") ?? false;
  const streamOptions = optionalObject(body, "stream_options");
  if (streamOptions !== undefined && !stream) throw invalidParam("stream_options", "only allowed when stream is true");
  return {
    model: optionalString(body, "model"),
    maxTokens: optionalInteger(body, "max_tokens", 1, Number.MAX_SAFE_INTEGER),
    temperature: optionalNumber(body, "temperature", 0, 2),
    topP: parseTopP(body),
    stop: parseStop(body["stop"]),
    seed: optionalInteger(body, "seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    n: optionalInteger(body, "n", 1, MAX_N) ?? 1,
    presencePenalty: optionalNumber(body, "presence_penalty", -2, 2),
    frequencyPenalty: optionalNumber(body, "frequency_penalty", -2, 2),
    topK: parseTopK(body),
    minP: optionalNumber(body, "min_p", 0, 1),
    repetitionPenalty: parseRepetitionPenalty(body),
    ...logprobs,
    stream,
    includeUsage: streamOptions === undefined ? false : optionalBoolean(streamOptions, "include_usage", "stream_options.include_usage") ?? false,
    responseFormat,
  };
}

function parseTopP(body: JsonFields): number | undefined {
  const topP = optionalNumber(body, "top_p", 0, 1);
  if (topP === 0) throw invalidParam("top_p", "must be above 0 (1 keeps every token)");
  return topP;
}

function parseTopK(body: JsonFields): number | undefined {
  const topK = optionalInteger(body, "top_k", -1, Number.MAX_SAFE_INTEGER);
  return topK === -1 ? 0 : topK;
}

function parseRepetitionPenalty(body: JsonFields): number | undefined {
  const penalty = optionalNumber(body, "repetition_penalty", 0, 100);
  if (penalty === 0) throw invalidParam("repetition_penalty", "must be above 0 (1 is no penalty)");
  return penalty;
}

/** OpenAI's limit on `json_schema.name`: letters, digits, underscores and dashes, at most 64. */
const SCHEMA_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * `response_format`: `{type: "text"}`, `{type: "json_object"}` or `{type: "json_schema", json_schema:
 * {name, schema, strict?, description?}}`. The schema is compiled here (and cached for the engine),
 * so a keyword constrained decoding cannot enforce is a 400 naming it and its JSON pointer.
 */
export function parseResponseFormat(body: JsonFields): ResponseFormat | undefined {
  const format = optionalObject(body, "response_format");
  if (format === undefined) return undefined;
  const type = format["type"];
  if (type === "text") return undefined;
  if (type === "json_object") return { type: "json_object" };
  if (type !== "json_schema") {
    throw invalidParam("response_format.type", `expected "text", "json_object" or "json_schema", got ${typeof type === "string" ? JSON.stringify(type) : jsonType(type)}`);
  }
  const spec = optionalObject(format, "json_schema", "response_format.json_schema");
  if (spec === undefined) throw invalidParam("response_format.json_schema", "is required when type is \"json_schema\"", "missing_required_parameter");
  const name = optionalString(spec, "name", "response_format.json_schema.name");
  if (name === undefined) throw invalidParam("response_format.json_schema.name", "is required", "missing_required_parameter");
  if (!SCHEMA_NAME.test(name)) throw invalidParam("response_format.json_schema.name", "must be 1 to 64 letters, digits, underscores or dashes");
  optionalString(spec, "description", "response_format.json_schema.description");
  optionalBoolean(spec, "strict", "response_format.json_schema.strict"); // strict or not, the output is held to the schema
  // OpenAI: "schema" may be left out (any JSON object is then expected, as in JSON mode).
  const schema = spec["schema"] ?? undefined;
  if (schema === undefined) return { type: "json_object" };
  const result: ResponseFormat = { type: "json_schema", schema: optionalObject(spec, "schema", "response_format.json_schema.schema") };
  try {
    responseFormatGrammar(result);
  } catch (error) {
    if (error instanceof SchemaError) throw unsupportedParam("response_format.json_schema.schema", error.message);
    throw error;
  }
  return result;
}

function parseStop(value: unknown): readonly string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list)) throw invalidParam("stop", `expected a string or an array of strings, got ${jsonType(value)}`, "invalid_type");
  if (list.length > MAX_STOP_SEQUENCES) throw invalidParam("stop", `at most ${MAX_STOP_SEQUENCES} sequences, got ${list.length}`);
  return list.map((s: unknown, i) => {
    const param = typeof value === "string" ? "stop" : `stop[${i}]`;
    if (typeof s !== "string") throw invalidParam(param, `expected a string, got ${jsonType(s)}`, "invalid_type");
    if (s === "") throw invalidParam(param, "a stop sequence cannot be empty");
    if (s.length > MAX_STOP_LENGTH) throw invalidParam(param, `at most ${MAX_STOP_LENGTH} characters, got ${s.length}`);
    return s;
  });
}

function isTokenId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** `prompt`: a string, a list of strings, a list of token ids, or a list of lists of token ids. */
function parsePrompts(value: unknown): CompletionPrompt[] {
  if (value === undefined || value === null) throw invalidParam("prompt", "is required", "missing_required_parameter");
  if (typeof value === "string") return [{ kind: "text", text: value }];
  const expected = "a string, an array of strings, an array of token ids or an array of arrays of token ids";
  if (!Array.isArray(value)) throw invalidParam("prompt", `expected ${expected}, got ${jsonType(value)}`, "invalid_type");
  if (value.length === 0) throw invalidParam("prompt", "the list is empty");
  if (typeof value[0] === "number") return [{ kind: "ids", ids: tokenIds(value, "prompt") }];
  if (value.length > MAX_PROMPTS) throw invalidParam("prompt", `at most ${MAX_PROMPTS} prompts in one request, got ${value.length}`);
  return value.map((item: unknown, i): CompletionPrompt => {
    if (typeof item === "string") return { kind: "text", text: item };
    if (Array.isArray(item) && item.length > 0) return { kind: "ids", ids: tokenIds(item, `prompt[${i}]`) };
    throw invalidParam(`prompt[${i}]`, `expected a string or a non-empty array of token ids, got ${jsonType(item)}`, "invalid_type");
  });
}

function tokenIds(list: readonly unknown[], param: string): number[] {
  const bad = list.findIndex((id) => !isTokenId(id));
  if (bad >= 0) throw invalidParam(`${param}[${bad}]`, `expected a token id (a non-negative integer), got ${typeof list[bad] === "number" ? list[bad] : jsonType(list[bad])}`);
  return list as number[];
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

/** `messages`: OpenAI's wire messages to the chat module's camelCase ChatMessage. */
function parseMessages(value: unknown): ChatMessage[] {
  if (value === undefined || value === null) throw invalidParam("messages", "is required", "missing_required_parameter");
  if (!Array.isArray(value)) throw invalidParam("messages", `expected an array of messages, got ${jsonType(value)}`, "invalid_type");
  if (value.length === 0) throw invalidParam("messages", "the list is empty; a chat needs at least one message");
  // The Llama 3.1 format takes one tool call per assistant message: parallel calls become one message each.
  return splitToolCalls(value.map((message: unknown, i) => parseMessage(message, `messages[${i}]`)));
}

function parseMessage(message: unknown, at: string): ChatMessage {
  if (!isFields(message)) throw invalidParam(at, `expected a message object, got ${jsonType(message)}`, "invalid_type");
  const role = message["role"];
  if (typeof role !== "string" || !ROLES.has(role)) {
    const got = typeof role === "string" ? JSON.stringify(role) : jsonType(role);
    throw invalidParam(`${at}.role`, `expected one of system, developer, user, assistant, tool; got ${got}`);
  }
  if (role === "assistant") {
    const toolCalls = parseToolCalls(message, at);
    const raw = message["content"];
    const content = (raw === undefined || raw === null) && toolCalls !== undefined ? null : parseContent(raw, `${at}.content`);
    return { role, content, ...(toolCalls === undefined ? {} : { toolCalls }) };
  }
  const content = parseContent(message["content"], `${at}.content`);
  if (role === "tool") {
    const toolCallId = optionalString(message, "tool_call_id", `${at}.tool_call_id`);
    return { role, content, ...(toolCallId === undefined ? {} : { toolCallId }) };
  }
  // OpenAI's "developer" role is the system role of models before o1.
  return { role: role === "developer" ? "system" : (role as "system" | "user"), content };
}

function parseContent(value: unknown, at: string): ChatContent {
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) throw invalidParam(at, `expected a string or an array of content parts, got ${jsonType(value)}`, "invalid_type");
  return value.map((part: unknown, j) => {
    if (!isFields(part)) throw invalidParam(`${at}[${j}]`, `expected a content part object, got ${jsonType(part)}`, "invalid_type");
    if (part["type"] !== "text") {
      const type = typeof part["type"] === "string" ? JSON.stringify(part["type"]) : jsonType(part["type"]);
      throw unsupportedParam(`${at}[${j}].type`, `content part type ${type} is not supported; this model reads "text" parts`);
    }
    const text = part["text"];
    if (typeof text !== "string") throw invalidParam(`${at}[${j}].text`, `expected a string, got ${jsonType(text)}`, "invalid_type");
    return { type: "text" as const, text };
  });
}

function parseToolCalls(message: JsonFields, at: string): ChatToolCall[] | undefined {
  const calls = optionalArray(message, "tool_calls", `${at}.tool_calls`);
  if (calls === undefined || calls.length === 0) return undefined;
  return calls.map((call: unknown, j) => {
    const where = `${at}.tool_calls[${j}]`;
    if (!isFields(call)) throw invalidParam(where, `expected a tool call object, got ${jsonType(call)}`, "invalid_type");
    const fn = optionalObject(call, "function", `${where}.function`);
    if (fn === undefined) throw invalidParam(`${where}.function`, "is required", "missing_required_parameter");
    const name = optionalString(fn, "name", `${where}.function.name`);
    if (name === undefined || name === "") throw invalidParam(`${where}.function.name`, "expected a non-empty string");
    const args = fn["arguments"];
    if (typeof args !== "string" && !isFields(args)) throw invalidParam(`${where}.function.arguments`, `expected a JSON string, got ${jsonType(args)}`, "invalid_type");
    const id = optionalString(call, "id", `${where}.id`);
    return { ...(id === undefined ? {} : { id }), type: "function" as const, function: { name, arguments: args as ChatToolCall["function"]["arguments"] } };
  });
}
