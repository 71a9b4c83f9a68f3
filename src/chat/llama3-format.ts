// The built-in Llama 3 chat format, for tokenizer folders without a chat template (Meta's
// `tokenizer.model` folders of Llama 3.0). It follows Meta's `ChatFormat` in meta-llama/llama3
// llama/tokenizer.py (@ a0940f9): `<|begin_of_text|>`, then per message `<|start_header_id|>` +
// role + `<|end_header_id|>` + "\n\n" + content.strip() + `<|eot_id|>`; the assistant header at the
// end when a generation prompt is wanted. Rendered as text it equals the Llama 3 Instruct Jinja
// template. Llama 3.0 has no tool tokens: tools and tool messages are refused, not guessed.

import { UnsupportedError } from "../errors.js";
import { BEGIN_OF_TEXT, END_OF_TURN } from "../tokenizer/special-tokens.js";
import type { NormalizedMessage } from "./messages.js";
import type { NormalizedChatOptions } from "./options.js";
import { pythonStrip } from "./python-compat.js";
import { header, special, text, type ChatSegment } from "./segments.js";

/**
 * Formats messages as Meta's Llama 3 `ChatFormat.encode_dialog_prompt` does (the generation prompt
 * only when `options.addGenerationPrompt`).
 * @throws {UnsupportedError} for tools, tool calls and tool-result messages, which Llama 3.0 lacks.
 */
export function formatLlama3(messages: readonly NormalizedMessage[], options: NormalizedChatOptions): ChatSegment[] {
  if (options.tools !== undefined || options.builtinTools !== undefined) {
    throw new UnsupportedError('the Llama 3 chat format has no tools; use format "llama3.1" (Llama 3.1 and later)');
  }
  const segments: ChatSegment[] = [special(BEGIN_OF_TEXT)];
  messages.forEach((message, i) => {
    if (message.role === "tool" || message.role === "ipython" || message.toolCalls !== undefined) {
      throw new UnsupportedError(
        `messages[${i}]: the Llama 3 chat format has no tool calls or tool results; use format "llama3.1"`,
      );
    }
    segments.push(...header(message.role), text(pythonStrip(message.content ?? "")), special(END_OF_TURN));
  });
  if (options.addGenerationPrompt) segments.push(...header("assistant"));
  return segments;
}
