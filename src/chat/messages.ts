// Chat messages: the public, camelCase TypeScript types, and the one function that checks a caller's
// messages (which may come from untyped JavaScript or a JSON request) and turns them into the
// normalized form both chat paths read. Text-part lists are joined into one string here, because none
// of the Llama 3 / 3.1 / 3.2 / 3.3 text templates accepts a list (they apply `trim` to the content).
// The snake_case wire form that Jinja templates read is made in wire.ts, nowhere else.

import { ArgumentError, UnsupportedError } from "../errors.js";
import { describe, isJsonObject, toJsonValue, type JsonObject } from "./python-compat.js";

/** Who speaks. `ipython` is Llama 3.1's name for tool output; `tool` is the OpenAI/HF name for the same. */
export type ChatRole = "system" | "user" | "assistant" | "ipython" | "tool";

const ROLES: ReadonlySet<string> = new Set<ChatRole>(["system", "user", "assistant", "ipython", "tool"]);

function isRole(value: unknown): value is ChatRole {
  return typeof value === "string" && ROLES.has(value);
}

/** One part of a message in the list-of-parts form (OpenAI / HF `[{type: "text", text}]`). */
export interface ChatTextPart {
  readonly type: "text";
  readonly text: string;
}

/** Message text: a string, or text parts that are joined with nothing between them. */
export type ChatContent = string | readonly ChatTextPart[];

/** A tool definition as OpenAI and HF pass it: `{type: "function", function: {name, description, parameters}}`. */
export type ToolDefinition = JsonObject;

/** A call the assistant made to a tool. */
export interface ChatToolCall {
  readonly id?: string;
  readonly type?: "function";
  readonly function: {
    readonly name: string;
    /** The arguments: an object, or its JSON text as OpenAI sends it (parsed here). */
    readonly arguments: JsonObject | string;
  };
}

export interface SystemMessage {
  readonly role: "system";
  readonly content: ChatContent;
}

export interface UserMessage {
  readonly role: "user";
  readonly content: ChatContent;
}

export interface AssistantMessage {
  readonly role: "assistant";
  /** May be left out (or null) when the message is a tool call. */
  readonly content?: ChatContent | null;
  /** Tool calls (the Llama 3.1 templates take exactly one per message). An empty list means none. */
  readonly toolCalls?: readonly ChatToolCall[];
}

/** The output of a tool, fed back to the model. */
export interface ToolResultMessage {
  readonly role: "tool" | "ipython";
  readonly content: ChatContent;
  readonly toolCallId?: string;
  /** The tool's name, for templates that print it (the Llama 3.x ones do not). */
  readonly name?: string;
}

/** One message of a chat. */
export type ChatMessage = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage;

/** A tool call after checking: arguments parsed into an object. */
export interface NormalizedToolCall {
  readonly id: string | undefined;
  readonly name: string;
  readonly arguments: JsonObject;
}

/** A message after checking: content is one string (null only for an assistant tool call without text). */
export interface NormalizedMessage {
  readonly role: ChatRole;
  readonly content: string | null;
  readonly toolCalls: readonly NormalizedToolCall[] | undefined;
  readonly toolCallId: string | undefined;
  readonly name: string | undefined;
}

type Fields = Readonly<Record<string, unknown>>;

function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks a caller's messages and returns them normalized.
 * @throws {ArgumentError} naming the bad message (`messages[2].role: ...`) for an empty list, a
 * non-object message, an unknown role, content that is neither a string nor text parts, malformed tool
 * calls, or HF wire names (`tool_calls`) where the camelCase API names belong.
 * @throws {UnsupportedError} for content parts other than text (images).
 */
export function normalizeMessages(messages: unknown): NormalizedMessage[] {
  if (!Array.isArray(messages)) {
    throw new ArgumentError(`messages: expected an array of chat messages, got ${describe(messages)}`);
  }
  if (messages.length === 0) throw new ArgumentError("messages: the list is empty; a chat needs at least one message");
  return messages.map((message: unknown, i) => normalizeMessage(message, `messages[${i}]`));
}

function normalizeMessage(message: unknown, where: string): NormalizedMessage {
  if (!isFields(message)) {
    throw new ArgumentError(`${where}: expected an object with role and content, got ${describe(message)}`);
  }
  for (const [wire, api] of [["tool_calls", "toolCalls"], ["tool_call_id", "toolCallId"]] as const) {
    if (wire in message) throw new ArgumentError(`${where}.${wire}: write ${api}; ${wire} is the template wire name`);
  }
  const role = message["role"];
  if (!isRole(role)) {
    const got = typeof role === "string" ? `"${role}"` : describe(role);
    throw new ArgumentError(`${where}.role: unknown role ${got} (expected system, user, assistant, ipython or tool)`);
  }
  const toolCalls = normalizeToolCalls(message["toolCalls"], role, `${where}.toolCalls`);
  const rawContent = message["content"];
  const content =
    (rawContent === undefined || rawContent === null) && toolCalls !== undefined
      ? null
      : normalizeContent(rawContent, `${where}.content`);
  return {
    role,
    content,
    toolCalls,
    toolCallId: optionalString(message["toolCallId"], `${where}.toolCallId`),
    name: optionalString(message["name"], `${where}.name`),
  };
}

function normalizeContent(content: unknown, where: string): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) {
    const got = describe(content);
    throw new ArgumentError(`${where}: expected a string or an array of {type: "text", text} parts, got ${got}`);
  }
  return content
    .map((part: unknown, j) => {
      const at = `${where}[${j}]`;
      if (!isFields(part)) throw new ArgumentError(`${at}: expected a content part object, got ${describe(part)}`);
      if (part["type"] !== "text") {
        const type = JSON.stringify(part["type"]);
        throw new UnsupportedError(`${at}: content part type ${type} is not supported; Llama 3 text models take "text" parts`);
      }
      const text = part["text"];
      if (typeof text !== "string") throw new ArgumentError(`${at}.text: expected a string, got ${describe(text)}`);
      return text;
    })
    .join("");
}

function normalizeToolCalls(calls: unknown, role: ChatRole, where: string): NormalizedToolCall[] | undefined {
  if (calls === undefined || calls === null) return undefined;
  if (role !== "assistant") {
    throw new ArgumentError(`${where}: only assistant messages carry tool calls, this one is ${role}`);
  }
  if (!Array.isArray(calls)) throw new ArgumentError(`${where}: expected an array, got ${describe(calls)}`);
  // An empty list means "no calls"; HF would pass `tool_calls: []` on and the Llama 3.1 template would
  // then reject the message, which helps no one.
  if (calls.length === 0) return undefined;
  return calls.map((call: unknown, j) => normalizeToolCall(call, `${where}[${j}]`));
}

function normalizeToolCall(call: unknown, where: string): NormalizedToolCall {
  if (!isFields(call)) throw new ArgumentError(`${where}: expected a tool call object, got ${describe(call)}`);
  if (call["type"] !== undefined && call["type"] !== "function") {
    throw new ArgumentError(`${where}.type: expected "function", got ${JSON.stringify(call["type"])}`);
  }
  const fn = call["function"];
  if (!isFields(fn)) throw new ArgumentError(`${where}.function: expected {name, arguments}, got ${describe(fn)}`);
  const name = fn["name"];
  if (typeof name !== "string" || name === "") {
    throw new ArgumentError(`${where}.function.name: expected a non-empty string, got ${describe(name)}`);
  }
  return {
    id: optionalString(call["id"], `${where}.id`),
    name,
    arguments: parseArguments(fn["arguments"], `${where}.function.arguments`),
  };
}

function parseArguments(args: unknown, where: string): JsonObject {
  let value: unknown = args;
  if (typeof args === "string") {
    try {
      value = JSON.parse(args);
    } catch (err) {
      throw new ArgumentError(`${where}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
  }
  const json = toJsonValue(value, where);
  if (!isJsonObject(json)) throw new ArgumentError(`${where}: expected a JSON object, got ${describe(json)}`);
  return json;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new ArgumentError(`${where}: expected a string, got ${describe(value)}`);
  return value;
}
