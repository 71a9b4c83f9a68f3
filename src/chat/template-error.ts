// The error a Jinja chat template reports: a template that does not parse, one that fails while
// rendering or runs past a limit, or one that calls `raise_exception(...)` on purpose (e.g. the Llama
// 3.1 template's "This model only supports single tool-calls at once!"). It extends `LlamaError` directly: `TokenizerError`
// declares its `name` as the literal "TokenizerError", so it cannot be subclassed with another name.

import { LlamaError } from "../errors.js";

/** How a chat template failed. */
export type ChatTemplateFailure =
  /** The template text is not valid Jinja (for the implementation in `@huggingface/jinja`). */
  | "syntax"
  /** The template called `raise_exception(message)`: it rejects this conversation. */
  | "raised"
  /** Rendering failed otherwise (unknown filter, wrong operand types...). */
  | "runtime"
  /**
   * Rendering went past one of the limits that keep a hostile template from hanging or exhausting the
   * process (steps, nesting depth, output length...; jinja-limits.ts). The message names the limit.
   */
  | "limit";

/** A chat template that cannot be parsed or rendered, or that raised an exception on purpose. */
export class ChatTemplateError extends LlamaError {
  override readonly name = "ChatTemplateError";
  readonly failure: ChatTemplateFailure;
  /** The message the template (or the Jinja engine) gave, without our prefix. */
  readonly templateMessage: string;
  constructor(failure: ChatTemplateFailure, templateMessage: string, options?: { cause?: unknown }) {
    const what =
      failure === "raised"
        ? "the chat template rejected the conversation"
        : failure === "syntax"
          ? "the chat template does not parse"
          : failure === "limit"
            ? "the chat template was stopped"
            : "the chat template failed while rendering";
    super(`${what}: ${templateMessage}`, options);
    this.failure = failure;
    this.templateMessage = templateMessage;
  }
}
