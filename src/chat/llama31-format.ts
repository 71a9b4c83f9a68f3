// The built-in Llama 3.1 chat format (also right for 3.2 and 3.3 text models), for tokenizer folders
// without a chat template (Meta's `tokenizer.model` folders). Its specification is the Jinja template
// Meta published with Llama-3.1-8B-Instruct and Llama-3.3-70B-Instruct (test/fixtures/chat/
// llama-3.3-70b-instruct.jinja): the same layout, written as segments so that message text is encoded
// as plain text, as Meta's `ChatFormat` (meta-llama/llama-models models/llama3/chat_format.py) does.
// Rendered as text it equals that template for the same options, so a model gets the same prompt
// from its HF folder and from its Meta folder. Where Meta's Python code and the template differ, the
// template wins, being what served models see:
//  - a system preamble is always written: "Cutting Knowledge Date: December 2023\nToday Date: <date>";
//    with tools, "Environment: ipython" first, and "Tools: ..." for built-in tools;
//  - custom tool definitions go (as indented JSON) in the first user message by default;
//  - a tool call is `{"name": ..., "parameters": ...}`, or `<|python_tag|>name.call(k="v")` for a
//    built-in tool; it ends with `<|eom_id|>` when built-in tools are on, else `<|eot_id|>`;
//  - tool results go under the `ipython` header as the template's `tojson` writes them: a string
//    result is JSON-quoted (the template tests `content is iterable`, true of strings).
// The one deliberate difference: the date defaults to today (as in Meta's reference and the 3.2
// template), where the 3.1 template falls back to a fixed "26 Jul 2024".

import { ArgumentError } from "../errors.js";
import { BEGIN_OF_TEXT, END_OF_MESSAGE, END_OF_TURN } from "../tokenizer/special-tokens.js";
import type { NormalizedMessage, NormalizedToolCall } from "./messages.js";
import type { NormalizedChatOptions } from "./options.js";
import { pythonJsonDumps, pythonStrip, type JsonObject } from "./python-compat.js";
import { PYTHON_TAG, header, special, text, type ChatSegment } from "./segments.js";
import { strftime } from "./strftime.js";

// Text of the Llama 3.1 template (see the file header), kept verbatim.
const KNOWLEDGE_CUTOFF = "Cutting Knowledge Date: December 2023\n";
const RESPOND_FORMAT =
  'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' +
  "Do not use variables.\n\n";
const SYSTEM_TOOLS_INTRO =
  "You have access to the following functions. To call a function, please respond with JSON for a function call.";
const USER_TOOLS_INTRO =
  "Given the following functions, please respond with a JSON for a function call " +
  "with its proper arguments that best answers the given prompt.\n\n";
// The date format of the Llama 3.2 template's `strftime_now("%d %b %Y")`, e.g. "26 Jul 2024".
const LLAMA31_DATE_FORMAT = "%d %b %Y";

/**
 * Formats messages in the Llama 3.1 layout (see the module header).
 * @throws {ArgumentError} when tools go in the first user message but there is none, when an
 * assistant message has more than one tool call, or a built-in tool call has a non-string argument.
 */
export function formatLlama31(messages: readonly NormalizedMessage[], options: NormalizedChatOptions): ChatSegment[] {
  const { tools, builtinTools } = options;
  const toolsInUserMessage = options.toolsInUserMessage ?? true;
  let rest = messages.map((message, index) => ({ message, index }));
  let systemMessage = "";
  if (rest[0]?.message.role === "system") {
    systemMessage = pythonStrip(contentOf(rest[0].message, rest[0].index));
    rest = rest.slice(1);
  }

  let system = "";
  if (builtinTools !== undefined || tools !== undefined) system += "Environment: ipython\n";
  if (builtinTools !== undefined) {
    system += "Tools: " + builtinTools.filter((t) => t !== "code_interpreter").join(", ") + "\n\n";
  }
  system += KNOWLEDGE_CUTOFF;
  system += "Today Date: " + (options.dateString ?? strftime(options.now, LLAMA31_DATE_FORMAT)) + "\n\n";
  if (tools !== undefined && !toolsInUserMessage) system += SYSTEM_TOOLS_INTRO + RESPOND_FORMAT + toolList(tools);
  system += systemMessage;
  const segments: ChatSegment[] = [special(BEGIN_OF_TEXT), ...header("system"), text(system), special(END_OF_TURN)];

  if (tools !== undefined && toolsInUserMessage) {
    const first = rest[0];
    if (first === undefined) {
      throw new ArgumentError(
        "messages: tools go in the first user message (toolsInUserMessage), but there is no message after the system message",
      );
    }
    // Like the template, this takes the next message whatever its role and writes it as the user's.
    const userText = pythonStrip(contentOf(first.message, first.index));
    const userTurn = USER_TOOLS_INTRO + RESPOND_FORMAT + toolList(tools) + userText;
    segments.push(...header("user"), text(userTurn), special(END_OF_TURN));
    rest = rest.slice(1);
  }

  for (const { message, index } of rest) segments.push(...formatMessage(message, index, builtinTools));
  if (options.addGenerationPrompt) segments.push(...header("assistant"));
  return segments;
}

function formatMessage(
  message: NormalizedMessage,
  index: number,
  builtinTools: readonly string[] | undefined,
): ChatSegment[] {
  if (message.toolCalls !== undefined) {
    const [call, ...more] = message.toolCalls;
    if (call === undefined || more.length > 0) {
      const got = message.toolCalls.length;
      throw new ArgumentError(`messages[${index}].toolCalls: the Llama 3.1 format takes one tool call per message, got ${got}`);
    }
    // The template ignores an assistant's text when the message carries a tool call.
    const end = special(builtinTools !== undefined ? END_OF_MESSAGE : END_OF_TURN);
    return [...header("assistant"), ...formatToolCall(call, index, builtinTools), end];
  }
  const content = contentOf(message, index);
  if (message.role === "tool" || message.role === "ipython") {
    return [...header("ipython"), text(pythonJsonDumps(content)), special(END_OF_TURN)];
  }
  return [...header(message.role), text(pythonStrip(content)), special(END_OF_TURN)];
}

function formatToolCall(
  call: NormalizedToolCall,
  index: number,
  builtinTools: readonly string[] | undefined,
): ChatSegment[] {
  if (builtinTools?.includes(call.name) === true) {
    const args = Object.entries(call.arguments).map(([name, value]) => {
      if (typeof value !== "string") {
        const where = `messages[${index}].toolCalls[0].function.arguments.${name}`;
        throw new ArgumentError(`${where}: a built-in tool call takes string arguments`);
      }
      return `${name}="${value}"`;
    });
    return [special(PYTHON_TAG), text(`${call.name}.call(${args.join(", ")})`)];
  }
  // The name is written unescaped, as the template concatenates it.
  return [text(`{"name": "${call.name}", "parameters": ${pythonJsonDumps(call.arguments)}}`)];
}

function toolList(tools: readonly JsonObject[]): string {
  return tools.map((t) => pythonJsonDumps(t, { indent: 4 }) + "\n\n").join("");
}

function contentOf(message: NormalizedMessage, index: number): string {
  if (message.content === null) {
    throw new ArgumentError(`messages[${index}].content: this message is written as text here, but it has none`);
  }
  return message.content;
}
