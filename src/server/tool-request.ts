// Reading the tool fields of an OpenAI chat request: `tools` (function definitions with JSON-schema
// parameters), `tool_choice` ("none", "auto", "required" or `{type: "function", function: {name}}`)
// and `parallel_tool_calls` (OpenAI API reference, "Create chat completion"). The Responses API's
// flatter tool shape (`{type: "function", name, parameters}`) is read here too, into the same record.
// A malformed field is a 400 naming it; the legacy `functions` / `function_call` fields are refused.

import type { JsonObject } from "../chat/index.js";
import { invalidParam, unsupportedParam } from "./api-error.js";
import { type JsonFields, isFields, isSet, jsonType, optionalBoolean } from "./fields.js";

/** Most tools in one request (OpenAI documents 128). */
export const MAX_TOOLS = 128;
// OpenAI's rule for function names: letters, digits, underscores and dashes, at most 64.
const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Which calls the model must make. */
export type ToolChoice =
  | { readonly kind: "none" }
  | { readonly kind: "auto" }
  | { readonly kind: "required" }
  | { readonly kind: "function"; readonly name: string };

/** One function the model may call. */
export interface FunctionTool {
  readonly name: string;
  readonly description: string | undefined;
  /** The JSON schema of the arguments (`{type: "object", properties: {}}` when the request gives none). */
  readonly parameters: JsonObject;
  /** The definition as chat templates take it: `{type: "function", function: {name, description, parameters}}`. */
  readonly definition: JsonObject;
}

/** The tool fields of a request, checked. */
export interface ToolRequest {
  readonly tools: readonly FunctionTool[];
  readonly choice: ToolChoice;
  /** Whether one reply may make several calls (`parallel_tool_calls`, default true). */
  readonly parallel: boolean;
}

/**
 * The tool fields of a chat-completions body (`flat`: the Responses API's tool shape), or undefined
 * when it has no tools.
 * @throws ApiError (400) naming the field
 */
export function parseToolFields(body: JsonFields, flat = false): ToolRequest | undefined {
  if (isSet(body["functions"])) throw unsupportedParam("functions", "the deprecated functions field is not supported; use tools");
  if (isSet(body["function_call"])) throw unsupportedParam("function_call", "the deprecated function_call field is not supported; use tool_choice");
  const raw = body["tools"];
  const parallel = optionalBoolean(body, "parallel_tool_calls") ?? true;
  const choiceValue = body["tool_choice"];
  if (raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0)) {
    // A tool_choice without tools asks for nothing, except a call that cannot be made.
    const choice = parseChoice(choiceValue, [], flat);
    if (choice.kind === "required" || choice.kind === "function") throw invalidParam("tool_choice", "needs tools");
    return undefined;
  }
  if (!Array.isArray(raw)) throw invalidParam("tools", `expected an array of tools, got ${jsonType(raw)}`, "invalid_type");
  if (raw.length > MAX_TOOLS) throw invalidParam("tools", `at most ${MAX_TOOLS} tools, got ${raw.length}`);
  const tools = raw.map((tool: unknown, i) => (flat ? parseFlatTool(tool, `tools[${i}]`) : parseTool(tool, `tools[${i}]`)));
  const names = new Set<string>();
  tools.forEach((t, i) => {
    if (names.has(t.name)) throw invalidParam(`tools[${i}]`, `a second function named ${JSON.stringify(t.name)}`);
    names.add(t.name);
  });
  return { tools, choice: parseChoice(choiceValue, tools, flat), parallel };
}

function parseTool(tool: unknown, at: string): FunctionTool {
  if (!isFields(tool)) throw invalidParam(at, `expected a tool object, got ${jsonType(tool)}`, "invalid_type");
  if (tool["type"] !== "function") {
    throw unsupportedParam(`${at}.type`, `tool type ${JSON.stringify(tool["type"])} is not supported; only "function"`);
  }
  const fn = tool["function"];
  if (!isFields(fn)) throw invalidParam(`${at}.function`, `expected an object with name and parameters, got ${jsonType(fn)}`, "invalid_type");
  return functionTool(fn, `${at}.function`);
}

// Responses API: `{type: "function", name, description, parameters, strict}`.
function parseFlatTool(tool: unknown, at: string): FunctionTool {
  if (!isFields(tool)) throw invalidParam(at, `expected a tool object, got ${jsonType(tool)}`, "invalid_type");
  if (tool["type"] !== "function") {
    throw unsupportedParam(`${at}.type`, `tool type ${JSON.stringify(tool["type"])} is not supported (no built-in tools run here); only "function"`);
  }
  return functionTool(tool, at);
}

function functionTool(fn: JsonFields, at: string): FunctionTool {
  const name = fn["name"];
  if (typeof name !== "string" || !FUNCTION_NAME.test(name)) {
    throw invalidParam(`${at}.name`, `expected 1 to 64 letters, digits, underscores or dashes, got ${typeof name === "string" ? JSON.stringify(name) : jsonType(name)}`);
  }
  const description = fn["description"];
  if (description !== undefined && description !== null && typeof description !== "string") {
    throw invalidParam(`${at}.description`, `expected a string, got ${jsonType(description)}`, "invalid_type");
  }
  const params = fn["parameters"];
  if (params !== undefined && params !== null && !isFields(params)) {
    throw invalidParam(`${at}.parameters`, `expected a JSON schema object, got ${jsonType(params)}`, "invalid_type");
  }
  const parameters = (params ?? { type: "object", properties: {} }) as JsonObject;
  const desc = typeof description === "string" ? description : undefined;
  const definition: JsonObject = { type: "function", function: { name, ...(desc === undefined ? {} : { description: desc }), parameters } };
  return { name, description: desc, parameters, definition };
}

function parseChoice(value: unknown, tools: readonly FunctionTool[], flat: boolean): ToolChoice {
  if (value === undefined || value === null || value === "auto") return { kind: "auto" };
  if (value === "none") return { kind: "none" };
  if (value === "required") return { kind: "required" };
  if (!isFields(value) || value["type"] !== "function") {
    const got = typeof value === "string" ? JSON.stringify(value) : jsonType(value);
    throw invalidParam("tool_choice", `expected "none", "auto", "required" or {"type": "function", ...}, got ${got}`);
  }
  const fn = flat ? value : value["function"];
  const name = isFields(fn) ? fn["name"] : undefined;
  const param = flat ? "tool_choice.name" : "tool_choice.function.name";
  if (typeof name !== "string") throw invalidParam(param, "is required", "missing_required_parameter");
  if (!tools.some((t) => t.name === name)) throw invalidParam(param, `no tool named ${JSON.stringify(name)} in tools`);
  return { kind: "function", name };
}
