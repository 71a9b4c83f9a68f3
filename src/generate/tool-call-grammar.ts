// The grammar of a Llama 3.1 JSON tool call restricted to given functions: `{"name": "<one of the
// names>", "parameters": {<that function's parameter schema>}}`, as Meta's 3.1 prompt format asks
// for it ("Respond in the format {"name": function name, "parameters": dictionary of argument name
// and its value}", llama-models `llama3_1/prompt_format.md`, and the official chat template). It is
// one JSON schema (an anyOf of one object per function, name first), compiled by json-schema.ts, so
// constrained decoding (`constraint` in the generation options) makes `tool_choice: "required"` or
// a named function a guarantee. Parsing the reply and the chat templates are the chat layer's work.

import { ArgumentError } from "../errors.js";
import type { Grammar } from "./constraint.js";
import { JsonGrammar } from "./json-grammar.js";
import { SchemaError, compileJsonSchema } from "./json-schema.js";

/** A function tool: OpenAI's `{type: "function", function: {name, parameters}}` or the bare `{name, parameters}`. */
export type ToolFunction =
  | { readonly type: "function"; readonly function: { readonly name: string; readonly parameters?: unknown } }
  | { readonly name: string; readonly parameters?: unknown };

/** Which call must be made: any of the tools ("required"), or the named one. */
export type ToolCallChoice = "required" | { readonly name: string };

/** Keys that hold data, not schemas: a "$ref" inside them is not a reference. */
const DATA_KEYS = new Set(["const", "enum", "default", "examples"]);

function nameAndParameters(tool: ToolFunction, at: string): { name: string; parameters: unknown } {
  const fn = typeof tool === "object" && tool !== null && "function" in tool ? (tool.function as unknown) : tool;
  if (typeof fn !== "object" || fn === null) throw new ArgumentError(`${at}: expected a function tool ({ type: "function", function: { name, parameters } })`);
  const { name, parameters } = fn as { name?: unknown; parameters?: unknown };
  if (typeof name !== "string" || name === "") throw new ArgumentError(`${at}: the function needs a non-empty name`);
  // No parameters: the call takes none, `"parameters": {}` (OpenAI: "omitting parameters defines a function with an empty parameter list").
  return { name, parameters: parameters ?? { type: "object", properties: {} } };
}

/** A copy of `schema` whose local references ("#/...") point into it at `base` of the combined schema. */
function rebase(schema: unknown, base: string): unknown {
  if (Array.isArray(schema)) return schema.map((s) => rebase(s, base));
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "$ref" && typeof value === "string" && value.startsWith("#")) out[key] = `#${base}${value.slice(1)}`;
    else out[key] = DATA_KEYS.has(key) ? value : rebase(value, base);
  }
  return out;
}

/**
 * The JSON schema of a tool call `{"name": ..., "parameters": ...}` for the chosen function(s).
 * @throws ArgumentError for an empty tool list, a tool without a name, duplicate names or a choice naming no tool
 */
export function toolCallSchema(tools: readonly ToolFunction[], choice: ToolCallChoice = "required"): { anyOf: object[] } {
  if (!Array.isArray(tools) || tools.length === 0) throw new ArgumentError("tools: a tool call needs at least one function");
  const all = tools.map((t, i) => nameAndParameters(t, `tools[${i}]`));
  const seen = new Set<string>();
  for (const { name } of all) {
    if (seen.has(name)) throw new ArgumentError(`tools: the function name ${JSON.stringify(name)} appears twice`);
    seen.add(name);
  }
  let chosen = all;
  if (choice !== "required") {
    if (typeof choice !== "object" || choice === null || typeof choice.name !== "string") throw new ArgumentError(`toolChoice must be "required" or { name }, got ${JSON.stringify(choice)}`);
    chosen = all.filter((t) => t.name === choice.name);
    if (chosen.length === 0) throw new ArgumentError(`toolChoice names ${JSON.stringify(choice.name)}, which is not one of the tools (${all.map((t) => t.name).join(", ")})`);
  }
  return {
    anyOf: chosen.map(({ name, parameters }, i) => ({
      type: "object",
      properties: { name: { const: name }, parameters: rebase(parameters, `/anyOf/${i}/properties/parameters`) },
      required: ["name", "parameters"],
      additionalProperties: false,
    })),
  };
}

/**
 * A Grammar for Llama 3.1's JSON tool call restricted to the given functions: the name is one of
 * theirs (the named one for a named choice) and the parameters match that function's schema.
 * Pass it as the `constraint` generation option.
 * @param tools the function tools (OpenAI's shape or bare `{ name, parameters }`)
 * @param choice "required" (any of them, the default) or `{ name }`
 * @throws ArgumentError for bad tools or choice; SchemaError naming an unsupported keyword, its
 *   pointer relative to the function's parameters, and the function
 * @example
 * const grammar = toolCallGrammar([{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }], { name: "get_weather" });
 * const out = await engine.submit(ids, { constraint: grammar }); // {"name": "get_weather", "parameters": {"city": "..."}}
 */
export function toolCallGrammar(tools: readonly ToolFunction[], choice: ToolCallChoice = "required"): Grammar<unknown> {
  const schema = toolCallSchema(tools, choice);
  try {
    return new JsonGrammar(compileJsonSchema(schema));
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    const m = /^\/anyOf\/(\d+)\/properties\/parameters(.*)$/.exec(error.pointer);
    if (m === null) throw error;
    const name = (schema.anyOf[Number(m[1])] as { properties: { name: { const: string } } }).properties.name.const;
    const detail = error.message.replace(/^JSON schema at #[^:]*: /, "");
    throw new SchemaError(m[2]!, error.keyword, `${detail} (in the parameters of the function ${JSON.stringify(name)})`);
  }
}
