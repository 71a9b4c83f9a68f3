// The entry points of chat formatting. `applyChatTemplate` turns messages into a prompt (text and token
// ids) with the tokenizer's Jinja chat template when it has one, else with the built-in Llama 3 or
// Llama 3.1 format. The two paths tokenize differently, on purpose: a template's output is one string,
// tokenized with special-token parsing and no added BOS (transformers' `apply_chat_template(...,
// tokenize=True)`; the template writes `<|begin_of_text|>` itself), while a built-in format's segments
// are tokenized as Meta's `ChatFormat` does, with message text kept plain. `renderChatTemplate` and
// `formatChat` are the two paths without a tokenizer.

import { ArgumentError } from "../errors.js";
import { END_OF_MESSAGE, END_OF_TURN } from "../tokenizer/special-tokens.js";
import { renderJinja } from "./jinja.js";
import { formatLlama3 } from "./llama3-format.js";
import { formatLlama31 } from "./llama31-format.js";
import { normalizeMessages, type ChatMessage, type NormalizedMessage } from "./messages.js";
import { normalizeOptions, type ChatTemplateOptions, type NormalizedChatOptions } from "./options.js";
import { pythonLstrip, pythonStrip } from "./python-compat.js";
import { segmentsToIds, segmentsToText, type ChatSegment } from "./segments.js";
import { polyfillToolMessages, templateCapabilities } from "./template-capabilities.js";
import type { ChatTokenizer } from "./tokenizer.js";
import { toWireMessages } from "./wire.js";

/** Which path formats a chat: the tokenizer's Jinja template, or a built-in format. */
export type ChatFormatName = "template" | "llama3" | "llama3.1";

/** Options of {@link applyChatTemplate}. */
export interface ApplyChatTemplateOptions extends ChatTemplateOptions {
  /**
   * `"template"`: the Jinja template; `"llama3"` / `"llama3.1"`: a built-in format, even when the
   * tokenizer has a template (useful because it keeps special-token strings typed by users as plain
   * text). Default: `"template"` when there is a template, else `"llama3.1"` when the vocabulary has
   * the Llama 3.1 token `<|eom_id|>`, else `"llama3"`.
   */
  readonly format?: ChatFormatName;
  /** A Jinja template to use instead of the tokenizer's (transformers' `chat_template=` argument). */
  readonly chatTemplate?: string;
  /**
   * Which of the tokenizer's named templates to use (transformers' `chat_template="tool_use"`), for a
   * `tokenizer_config.json` whose `chat_template` is a list of `{name, template}`. Default, as in
   * transformers: `"tool_use"` when `tools` are given and the tokenizer has it, else `"default"`.
   */
  readonly templateName?: string;
}

/** Options of {@link renderChatTemplate}. */
export interface RenderChatTemplateOptions extends ChatTemplateOptions {
  /** Passed to the template as `bos_token`. */
  readonly bosToken?: string;
  /** Passed to the template as `eos_token`. */
  readonly eosToken?: string;
}

/** A formatted chat, ready for the model. */
export interface ChatPrompt {
  /** The prompt as text, special tokens written as their strings. */
  readonly text: string;
  /** The prompt's token ids, starting with `<|begin_of_text|>` (for the Llama 3.x formats). */
  readonly ids: number[];
  /** The path that made it. */
  readonly format: ChatFormatName;
}

// Variables that the options set; a caller's templateVariables may not replace them.
const RESERVED_VARIABLES = ["messages", "tools", "documents", "add_generation_prompt"] as const;

/**
 * Formats a chat for a Llama 3.x model.
 * @param tokenizer The model's tokenizer (its template, special tokens and encoder are used).
 * @param messages The conversation, oldest first.
 * @param options Generation prompt, tools, format choice (see {@link ApplyChatTemplateOptions}).
 * @returns The prompt's text and token ids, and which format made them.
 * @throws {ArgumentError} for invalid messages or options, naming the message index or option, and
 * when the tokenizer has named templates but none can be chosen (no `"default"`, or no
 * `options.templateName` among them; the message lists the names).
 * @throws {ChatTemplateError} when the Jinja template does not parse, fails, rejects the chat
 * (`raise_exception`, with the template's message) or runs past a rendering limit.
 * @throws {UnsupportedError} for tools with the Llama 3 format, or non-text content parts.
 * @throws {TokenizerError} when the vocabulary lacks a special token the built-in format needs.
 * @example
 * const { ids } = applyChatTemplate(tokenizer, [{ role: "user", content: "Hi" }], { addGenerationPrompt: true });
 */
export function applyChatTemplate(
  tokenizer: ChatTokenizer,
  messages: readonly ChatMessage[],
  options: ApplyChatTemplateOptions = {},
): ChatPrompt {
  const templates = tokenizerTemplates(tokenizer);
  const explicit = options.chatTemplate !== undefined || options.templateName !== undefined;
  const format = options.format ?? (explicit || templates.size > 0 ? "template" : defaultBuiltinFormat(tokenizer));
  if (format === "template") {
    const template = chooseTemplate(templates, options);
    if (template === undefined) {
      throw new ArgumentError(
        'options.format: "template" asked for, but the tokenizer has no chat_template and options.chatTemplate is not set',
      );
    }
    const text = renderChatTemplate(template, messages, {
      ...options,
      ...(tokenizer.bosToken === undefined ? {} : { bosToken: tokenizer.bosToken }),
      ...(tokenizer.eosToken === undefined ? {} : { eosToken: tokenizer.eosToken }),
    });
    return { text, ids: tokenizer.encode(text, { addSpecialTokens: false, allowedSpecial: "all" }), format };
  }
  if (options.templateName !== undefined) {
    throw new ArgumentError(`options.templateName: picks a Jinja template, but options.format is "${format}"`);
  }
  const segments = formatChat(messages, format, options);
  return { text: segmentsToText(segments), ids: segmentsToIds(tokenizer, segments), format };
}

/**
 * Renders a Jinja chat template to text, as transformers' `apply_chat_template(..., tokenize=False)`.
 * @throws {ArgumentError} for invalid messages or options.
 * @throws {ChatTemplateError} when the template does not parse, fails, or rejects the chat.
 * @example
 * renderChatTemplate(template, [{ role: "user", content: "Hi" }], { bosToken: "<|begin_of_text|>" });
 */
export function renderChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  options: RenderChatTemplateOptions = {},
): string {
  const normalized = withToolPolyfills(template, normalizeMessages(messages));
  const opts = normalizeOptions(options);
  const finalText = opts.continueFinalMessage ? finalMessageText(normalized) : undefined;
  const rendered = renderJinja(template, templateVariables(normalized, opts, options), opts.now);
  return finalText === undefined ? rendered : cutAfterFinalMessage(rendered, finalText);
}

/**
 * Whether the chat format that {@link applyChatTemplate} would use with these options takes tool
 * definitions: the built-in Llama 3.1 format does, the built-in Llama 3 format does not, and a Jinja
 * template does when it reads `tools` (the Llama 3 Instruct template does not; transformers then
 * drops the tools silently, which a server should refuse instead).
 * @throws {ArgumentError} as applyChatTemplate does when no template can be chosen.
 */
export function chatFormatTakesTools(tokenizer: ChatTokenizer, options: ApplyChatTemplateOptions = {}): boolean {
  const templates = tokenizerTemplates(tokenizer);
  const explicit = options.chatTemplate !== undefined || options.templateName !== undefined;
  const format = options.format ?? (explicit || templates.size > 0 ? "template" : defaultBuiltinFormat(tokenizer));
  if (format !== "template") return format === "llama3.1";
  const template = chooseTemplate(templates, options);
  return template !== undefined && templateCapabilities(template).tools;
}

// Tool calls and tool results rewritten as text for a template that cannot render them (the Llama 3
// template fails on an assistant tool call's null content); probing happens only when there are some.
function withToolPolyfills(template: string, messages: NormalizedMessage[]): NormalizedMessage[] {
  if (!messages.some((m) => m.toolCalls !== undefined || m.role === "tool" || m.role === "ipython")) return messages;
  return polyfillToolMessages(messages, templateCapabilities(template));
}

/**
 * Formats a chat with a built-in format, as segments (special tokens and plain text).
 * @throws {ArgumentError} for invalid messages or options.
 * @throws {UnsupportedError} for tools or tool messages with the Llama 3 format.
 * @example
 * segmentsToText(formatChat([{ role: "user", content: "Hi" }], "llama3", { addGenerationPrompt: true }));
 */
export function formatChat(
  messages: readonly ChatMessage[],
  format: "llama3" | "llama3.1",
  options: ChatTemplateOptions = {},
): ChatSegment[] {
  const normalized = normalizeMessages(messages);
  const opts = normalizeOptions(options);
  if (opts.continueFinalMessage) finalMessageText(normalized);
  const segments = format === "llama3" ? formatLlama3(normalized, opts) : formatLlama31(normalized, opts);
  if (opts.continueFinalMessage) {
    // The final message is the last thing written (no generation prompt): drop its end-of-turn token.
    const last = segments.at(-1);
    if (last?.kind === "special" && (last.token === END_OF_TURN || last.token === END_OF_MESSAGE)) segments.pop();
  }
  return segments;
}

// The tokenizer's templates by name; a tokenizer that gives only `chatTemplate` has it as "default".
function tokenizerTemplates(tokenizer: ChatTokenizer): ReadonlyMap<string, string> {
  const templates = new Map(tokenizer.chatTemplates ?? []);
  if (tokenizer.chatTemplate !== undefined && !templates.has("default")) templates.set("default", tokenizer.chatTemplate);
  return templates;
}

// transformers' `get_chat_template`: a template passed in, else the one named, else "tool_use" when
// tools are given and it exists, else "default"; undefined when the tokenizer has no template at all.
function chooseTemplate(templates: ReadonlyMap<string, string>, options: ApplyChatTemplateOptions): string | undefined {
  const names = [...templates.keys()].sort().map((n) => JSON.stringify(n)).join(", ");
  if (options.chatTemplate !== undefined) {
    if (options.templateName !== undefined) {
      throw new ArgumentError("options.chatTemplate and options.templateName: set one, not both");
    }
    return options.chatTemplate;
  }
  if (options.templateName !== undefined) {
    const named = templates.get(options.templateName);
    if (named === undefined) {
      const has = templates.size === 0 ? "has no chat templates" : `has the chat templates ${names}`;
      throw new ArgumentError(`options.templateName: no template named ${JSON.stringify(options.templateName)}; the tokenizer ${has}`);
    }
    return named;
  }
  if (templates.size === 0) return undefined;
  const withTools = options.tools !== undefined;
  const chosen = (withTools ? templates.get("tool_use") : undefined) ?? templates.get("default");
  if (chosen === undefined) {
    const wanted = withTools ? '"tool_use" or "default"' : '"default"';
    throw new ArgumentError(`the tokenizer has no chat template named ${wanted}; choose one of ${names} with options.templateName`);
  }
  return chosen;
}

function defaultBuiltinFormat(tokenizer: ChatTokenizer): "llama3" | "llama3.1" {
  // <|eom_id|> (128008) is named only in Llama 3.1 and later vocabularies; 3.0 calls it a reserved token.
  return tokenizer.tokenToId(END_OF_MESSAGE) !== undefined ? "llama3.1" : "llama3";
}

function templateVariables(
  messages: readonly NormalizedMessage[],
  opts: NormalizedChatOptions,
  tokens: RenderChatTemplateOptions,
): Record<string, unknown> {
  for (const name of RESERVED_VARIABLES) {
    if (name in opts.templateVariables) {
      throw new ArgumentError(`options.templateVariables.${name}: set from the messages and options, not passable here`);
    }
  }
  // Order as transformers merges them: special tokens, then the caller's keyword arguments.
  return {
    ...(tokens.bosToken === undefined ? {} : { bos_token: tokens.bosToken }),
    ...(tokens.eosToken === undefined ? {} : { eos_token: tokens.eosToken }),
    ...opts.templateVariables,
    ...(opts.builtinTools === undefined ? {} : { builtin_tools: opts.builtinTools }),
    ...(opts.toolsInUserMessage === undefined ? {} : { tools_in_user_message: opts.toolsInUserMessage }),
    ...(opts.dateString === undefined ? {} : { date_string: opts.dateString }),
    messages: toWireMessages(messages),
    // transformers passes tools=None and documents=None when there are none; templates test
    // `tools is not none`.
    tools: opts.tools ?? null,
    documents: opts.documents ?? null,
    add_generation_prompt: opts.addGenerationPrompt,
  };
}

function finalMessageText(messages: readonly NormalizedMessage[]): string {
  const final = messages.at(-1);
  if (final === undefined || final.content === null || final.toolCalls !== undefined) {
    throw new ArgumentError("options.continueFinalMessage: the final message has no text to continue (a tool call)");
  }
  return final.content;
}

// transformers' continue_final_message: cut the rendered chat just after the final message's text.
function cutAfterFinalMessage(rendered: string, finalText: string): string {
  const stripped = pythonStrip(finalText);
  const at = rendered.lastIndexOf(stripped);
  if (at < 0) {
    throw new ArgumentError("options.continueFinalMessage: the final message does not appear in the rendered chat");
  }
  const lstripped = pythonLstrip(finalText);
  // If the template kept the message's spacing, keep it; otherwise the template trimmed it.
  const end = rendered.slice(at, at + lstripped.length) === finalText ? at + lstripped.length : at + stripped.length;
  return rendered.slice(0, end);
}
