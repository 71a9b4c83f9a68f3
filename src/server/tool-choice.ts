// What `tool_choice` asks of generation: "auto" and "none" nothing (the reply is read as a call or as
// text), "required" and a named function a reply that must be such a call. The latter needs
// constrained decoding over a grammar of the calls (the `agent` work: toolCallGrammar); until this
// build has it, those choices are refused with a 400 rather than hoped for.

import type { GenerationOptions } from "../generate/types.js";
import { unsupportedParam } from "./api-error.js";
import type { ToolRequest } from "./tool-request.js";

/**
 * The generation options that enforce a request's tool_choice.
 * @throws ApiError (400) for "required" or a named function, which need constrained decoding
 */
export function toolChoiceOptions(tools: ToolRequest | undefined): Partial<GenerationOptions> {
  const kind = tools?.choice.kind;
  if (kind === "required" || kind === "function") {
    throw unsupportedParam("tool_choice", `"${kind === "function" ? "a named function" : "required"}" needs constrained decoding, which this build does not have yet; use "auto"`);
  }
  return {};
}
