// The inverse of llama31-format.ts for a model's reply: tells whether a Llama 3.1 / 3.2 / 3.3 reply is
// one or more tool calls and, if so, returns them as a function name and JSON arguments. Follows
// Meta's decoder (meta-llama/llama-models models/llama3/api/chat_format.py `decode_assistant_message`
// and api/tool_utils.py `maybe_extract_custom_tool_call` / `maybe_extract_builtin_tool_call`), which
// reads these forms:
//  - custom tools as JSON: `{"name": "f", "parameters": {...}}` (also `"type": "function"`, and
//    `"arguments"` for `"parameters"`, as the 3.2 models sometimes write), optionally after
//    `<|python_tag|>`; several calls as JSON objects separated by `;` or whitespace (vLLM's
//    `llama3_json` parser reads the same), or as a JSON array of them;
//  - `<function=f>{...}</function>`, the function-tag form of Meta's 3.1 system prompt;
//  - built-in tools after `<|python_tag|>`: `brave_search.call(query="...")`, and code with no
//    `.call(` as a `code_interpreter` call `{code}`.
// A reply that does not start like a call is text. One that starts like a call (`{"name":`,
// `<|python_tag|>`, `<function=`, `[f(`) but does not parse (truncated JSON, parameters that are not
// an object) is "malformed": the caller gets its text back and a reason, never an exception. Not a streaming parser: tool-call-stream.ts buffers deltas and calls this at the end.
// The reply text is the generated text with `<|python_tag|>` written where the model emitted that
// token (decoding skips special tokens, so the caller restores it: see `PYTHON_TAG`).

import { PYTHON_TAG } from "./segments.js";
import type { JsonObject, JsonValue } from "./python-compat.js";

/** A tool call read from a reply: a function name and its arguments. */
export interface ParsedToolCall {
  readonly name: string;
  readonly arguments: JsonObject;
}

/** What a reply is. */
export type ParsedReply =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "tool_calls"; readonly calls: readonly ParsedToolCall[] }
  | { readonly kind: "malformed"; readonly text: string; readonly reason: string };

// Longest reply this parser looks at; a longer one is returned as text unparsed. A tool call is
// small; this bounds the work on a runaway reply.
export const MAX_TOOL_REPLY_LENGTH = 1 << 20;
const FUNCTION_TAG = "<function=";

/**
 * Whether `text` (the start of a reply, leading whitespace ignored) could still become a tool call:
 * it is empty, starts with `{`, `[`, `<|python_tag|>` or `<function=`, or is a prefix of one of those.
 */
export function mayBeToolCall(text: string): boolean {
  const t = text.trimStart();
  if (t === "") return true;
  if (t.startsWith("{") || t.startsWith("[")) return true;
  return [PYTHON_TAG, FUNCTION_TAG].some((tag) => t.startsWith(tag) || tag.startsWith(t));
}

/**
 * Reads a Llama 3.1 reply as tool calls or text (see the module header).
 * @param reply The generated text, with `<|python_tag|>` where the model emitted it.
 * @returns `tool_calls` with at least one call, `text` for an ordinary reply, or `malformed` with the
 * text and why (for a reply that starts like a call but is not one). Never throws.
 * @example parseLlama31Reply('{"name": "get_weather", "parameters": {"city": "Paris"}}')
 * // { kind: "tool_calls", calls: [{ name: "get_weather", arguments: { city: "Paris" } }] }
 */
export function parseLlama31Reply(reply: string): ParsedReply {
  if (reply.length > MAX_TOOL_REPLY_LENGTH) return { kind: "text", text: reply };
  let body = reply.trim();
  const tagged = body.startsWith(PYTHON_TAG);
  if (tagged) body = body.slice(PYTHON_TAG.length).trim();
  const malformed = (reason: string): ParsedReply => ({ kind: "malformed", text: reply, reason });
  if (body.startsWith(FUNCTION_TAG)) return functionTagCalls(body, malformed);
  if (/^\[\s*[A-Za-z_]\w*\(/.test(body)) return pythonicCalls(body, malformed);
  if (body.startsWith("{") || body.startsWith("[")) {
    const calls = jsonCalls(body);
    if (typeof calls !== "string") return { kind: "tool_calls", calls };
    // JSON that is not a call (an answer in JSON, "[1] see ...") is text, unless the model tagged it
    // as a call or it opens like one (`{"name":`, `[{"type":`).
    const opensLikeCall = /^\[?\s*\{\s*"(name|type)"\s*:/.test(body);
    return !tagged && (calls === NOT_A_CALL || !opensLikeCall) ? { kind: "text", text: reply } : malformed(calls);
  }
  if (!tagged) return { kind: "text", text: reply };
  if (body === "") return malformed("<|python_tag|> with nothing after it");
  const builtin = /^([A-Za-z_]\w*)\.call\(([\s\S]*)\)$/.exec(body);
  if (builtin === null) {
    if (/^[A-Za-z_]\w*\.call\(/.test(body)) return malformed("a built-in tool call without its closing parenthesis");
    // Meta's decoder: code after <|python_tag|> that calls no tool is for the code interpreter.
    return { kind: "tool_calls", calls: [{ name: "code_interpreter", arguments: { code: body } }] };
  }
  const args = keywordArguments(builtin[2]!);
  if (typeof args === "string") return malformed(`${builtin[1]}.call(...): ${args}`);
  return { kind: "tool_calls", calls: [{ name: builtin[1]!, arguments: args }] };
}

const NOT_A_CALL = "the JSON is not a tool call (no \"name\" and \"parameters\")";

// JSON calls: one object, a list of objects, or objects separated by ";" / whitespace.
function jsonCalls(body: string): ParsedToolCall[] | string {
  const values: JsonValue[] = [];
  let at = 0;
  while (at < body.length) {
    const end = jsonValueEnd(body, at);
    if (end === undefined) return "the JSON of the tool call is incomplete or invalid";
    let value: JsonValue;
    try {
      value = JSON.parse(body.slice(at, end)) as JsonValue;
    } catch (error) {
      return `the JSON of the tool call does not parse (${(error as Error).message})`;
    }
    if (Array.isArray(value)) values.push(...value);
    else values.push(value);
    at = end;
    while (at < body.length && /[\s;]/.test(body[at]!)) at++;
    if (at < body.length && body[at] !== "{" && body[at] !== "[") return "text follows the JSON of the tool call";
  }
  const calls: ParsedToolCall[] = [];
  for (const value of values) {
    const call = callOf(value);
    if (call === undefined) return NOT_A_CALL;
    if (typeof call === "string") return call;
    calls.push(call);
  }
  return calls.length === 0 ? NOT_A_CALL : calls;
}

// A call, undefined for JSON that is no call (no name), or why a named call is malformed.
function callOf(value: JsonValue): ParsedToolCall | string | undefined {
  if (!isObject(value)) return undefined;
  const name = value["name"];
  if (typeof name !== "string" || name === "") return undefined;
  if (value["type"] !== undefined && value["type"] !== "function") return undefined;
  const args = value["parameters"] ?? value["arguments"] ?? {};
  return isObject(args) ? { name, arguments: args } : `the parameters of ${JSON.stringify(name)} are not a JSON object`;
}

function functionTagCalls(body: string, malformed: (reason: string) => ParsedReply): ParsedReply {
  const calls: ParsedToolCall[] = [];
  let rest = body;
  while (rest !== "") {
    const m = /^<function=([^>\s]+)>/.exec(rest);
    if (m === null) return malformed("text follows a <function=...> tool call");
    const start = m[0].length;
    const end = jsonValueEnd(rest, start);
    if (end === undefined) return malformed(`<function=${m[1]}>: the JSON arguments are incomplete or invalid`);
    let args: JsonValue;
    try {
      args = JSON.parse(rest.slice(start, end)) as JsonValue;
    } catch (error) {
      return malformed(`<function=${m[1]}>: the arguments do not parse (${(error as Error).message})`);
    }
    if (!isObject(args)) return malformed(`<function=${m[1]}>: the arguments are not a JSON object`);
    calls.push({ name: m[1]!, arguments: args });
    rest = rest.slice(end).trimStart();
    if (rest.startsWith("</function>")) rest = rest.slice("</function>".length).trimStart();
    if (rest.startsWith(";")) rest = rest.slice(1).trimStart();
  }
  return { kind: "tool_calls", calls };
}

// The Llama 3.2 "pythonic" form, `[f(a="x", b=1), g()]` (Meta's `parse_python_list_for_function_calls`).
function pythonicCalls(body: string, malformed: (reason: string) => ParsedReply): ParsedReply {
  if (!body.endsWith("]")) return malformed("a [f(...)] tool-call list without its closing bracket");
  const calls: ParsedToolCall[] = [];
  const call = /\s*([A-Za-z_]\w*)\(((?:[^()"']|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*)\)\s*(,|\])/y;
  let at = 1;
  while (at < body.length) {
    call.lastIndex = at;
    const m = call.exec(body);
    if (m === null) return malformed(`cannot read the tool-call list at ${JSON.stringify(body.slice(at, at + 20))}`);
    const args = keywordArguments(m[2]!);
    if (typeof args === "string") return malformed(`${m[1]}(...): ${args}`);
    calls.push({ name: m[1]!, arguments: args });
    at = call.lastIndex;
    if (m[3] === "]") break;
  }
  if (at !== body.length) return malformed("text follows the [f(...)] tool-call list");
  return { kind: "tool_calls", calls };
}

// Python keyword arguments of a built-in call: `query="..."` (or single quotes), numbers, True/False/None.
function keywordArguments(source: string): JsonObject | string {
  const args: Record<string, JsonValue> = {};
  const re = /\s*([A-Za-z_]\w*)\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|True|False|None)\s*(,|$)/y;
  let at = 0;
  while (at < source.length && source.slice(at).trim() !== "") {
    re.lastIndex = at;
    const m = re.exec(source);
    if (m === null) return `cannot read the arguments at ${JSON.stringify(source.slice(at, at + 20))}`;
    args[m[1]!] = pythonLiteral(m[2]!);
    at = re.lastIndex;
    if (m[3] === "") break;
  }
  return args;
}

function pythonLiteral(literal: string): JsonValue {
  if (literal === "True") return true;
  if (literal === "False") return false;
  if (literal === "None") return null;
  if (literal.startsWith('"') || literal.startsWith("'")) {
    const inner = literal.slice(1, -1);
    return inner.replace(/\\(["'\\nt])/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
  }
  return Number(literal);
}

// Where the JSON value starting at `start` (an object or array) ends, by matching brackets outside
// strings; undefined when it does not close.
function jsonValueEnd(text: string, start: number): number | undefined {
  const open = text[start];
  if (open !== "{" && open !== "[") return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return undefined;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
