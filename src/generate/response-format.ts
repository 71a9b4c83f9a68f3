// The `responseFormat` generation option (OpenAI's response formats, camelCase) and how it becomes
// a byte Grammar: "json_schema" compiles the schema (json-schema.ts, SchemaError naming an
// unsupported keyword), "json_object" is any JSON object (OpenAI's JSON mode), "text" is no
// constraint. Compiled grammars are kept in a small cache keyed by the schema's JSON text, so
// requests repeating a schema share one grammar and with it the token masks cached on it.

import { ArgumentError } from "../errors.js";
import type { Grammar } from "./constraint.js";
import { JsonGrammar } from "./json-grammar.js";
import { anyJsonObject, compileJsonSchema } from "./json-schema.js";

/** What the output must be: free text, any JSON object, or a JSON document matching a schema. */
export type ResponseFormat =
  | { readonly type: "text" }
  | { readonly type: "json_object" }
  | { readonly type: "json_schema"; readonly schema: unknown };

/** Compiled response formats kept (least recently used dropped). */
export const MAX_CACHED_FORMATS = 16;

const compiled = new Map<string, Grammar<unknown>>();

/**
 * The grammar of a response format (undefined for "text").
 * @throws ArgumentError for a malformed format; SchemaError (an ArgumentError) naming an unsupported keyword and its JSON pointer
 * @example responseFormatGrammar({ type: "json_schema", schema: { type: "object", properties: { a: { type: "integer" } } } })
 */
export function responseFormatGrammar(format: ResponseFormat): Grammar<unknown> | undefined {
  if (typeof format !== "object" || format === null) throw new ArgumentError(`responseFormat must be an object like { type: "json_schema", schema }, got ${JSON.stringify(format)}`);
  switch (format.type) {
    case "text":
      return undefined;
    case "json_object":
      return cached("json_object", () => new JsonGrammar(anyJsonObject()));
    case "json_schema": {
      if (format.schema === undefined) throw new ArgumentError("responseFormat: json_schema needs a schema");
      let key: string;
      try {
        key = `schema:${JSON.stringify(format.schema)}`;
      } catch (error) {
        throw new ArgumentError("responseFormat: the schema is not JSON (a cycle or a BigInt?)", { cause: error });
      }
      return cached(key, () => new JsonGrammar(compileJsonSchema(format.schema)));
    }
    default:
      throw new ArgumentError(`responseFormat.type must be "text", "json_object" or "json_schema", got ${JSON.stringify((format as { type?: unknown }).type)}`);
  }
}

function cached(key: string, make: () => Grammar<unknown>): Grammar<unknown> {
  let grammar = compiled.get(key);
  if (grammar !== undefined) compiled.delete(key);
  else grammar = make();
  compiled.set(key, grammar);
  if (compiled.size > MAX_CACHED_FORMATS) compiled.delete(compiled.keys().next().value!);
  return grammar;
}
