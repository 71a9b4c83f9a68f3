// What `tool_choice` asks of generation: "auto" and "none" nothing (the reply is read as a call or as
// text), "required" and a named function a reply that must be such a call, guaranteed by constrained
// decoding: the `constraint` option with generate/tool-call-grammar.ts's grammar of the Llama 3.1
// JSON call `{"name": ..., "parameters": ...}` over the allowed functions. Grammars are cached by
// their tools and choice, so repeated requests share one grammar and the token masks cached on it.

import { toolCallGrammar } from "../generate/tool-call-grammar.js";
import type { Grammar } from "../generate/constraint.js";
import type { GenerationOptions } from "../generate/types.js";
import { toApiError } from "./api-error.js";
import type { ToolRequest } from "./tool-request.js";

/** Tool-call grammars kept (least recently used dropped). */
export const MAX_CACHED_TOOL_GRAMMARS = 16;
const grammars = new Map<string, Grammar<unknown>>();

/**
 * The generation options that enforce a request's tool_choice.
 * @throws ApiError (400, param "tools") for a parameter schema the constraint cannot compile
 */
export function toolChoiceOptions(tools: ToolRequest | undefined): Partial<GenerationOptions> {
  const choice = tools?.choice;
  if (tools === undefined || choice === undefined || (choice.kind !== "required" && choice.kind !== "function")) return {};
  const functions = tools.tools.map((t) => ({ name: t.name, parameters: t.parameters }));
  const wanted = choice.kind === "function" ? { name: choice.name } : "required";
  const key = JSON.stringify([functions, wanted]);
  let grammar = grammars.get(key);
  if (grammar === undefined) {
    try {
      grammar = toolCallGrammar(functions, wanted);
    } catch (error) {
      throw toApiError(error, "tools");
    }
  } else {
    grammars.delete(key);
  }
  grammars.set(key, grammar);
  if (grammars.size > MAX_CACHED_TOOL_GRAMMARS) grammars.delete(grammars.keys().next().value!);
  return { constraint: grammar };
}
