// The options shared by every chat path (Jinja template, built-in Llama 3 and Llama 3.1 formats), and
// the function that checks them once. Names follow transformers' `apply_chat_template` keyword
// arguments in camelCase (`add_generation_prompt` -> `addGenerationPrompt`, `documents`), and the
// variables the Llama 3.1 template reads (`builtin_tools`, `tools_in_user_message`, `date_string`).

import { ArgumentError } from "../errors.js";
import { describe, isJsonObject, toJsonValue, type JsonObject } from "./python-compat.js";
import type { ToolDefinition } from "./messages.js";

/** Options of every chat path. */
export interface ChatTemplateOptions {
  /**
   * End with the header of an assistant turn, so that the model writes the answer. Default `false`,
   * as in transformers; set it when the prompt is for generation. (The original Llama 3 template of
   * April 2024 ignores it and always adds the header.)
   */
  readonly addGenerationPrompt?: boolean;
  /**
   * Leave the final message open (no end-of-turn token) so the model continues it, e.g. an assistant
   * answer you have started. Cannot be combined with `addGenerationPrompt`. Default `false`.
   */
  readonly continueFinalMessage?: boolean;
  /** Function tools the model may call, as JSON schemas (`{type: "function", function: {...}}`). */
  readonly tools?: readonly ToolDefinition[];
  /**
   * Documents for retrieval-augmented generation, as transformers' `documents=` argument: objects,
   * usually `{title, text}`, passed to a Jinja template as `documents` (None when not given). The
   * Llama 3.x templates and the built-in formats do not use them.
   */
  readonly documents?: readonly JsonObject[];
  /** Llama 3.1 built-in tools by name (`"brave_search"`, `"wolfram_alpha"`, `"code_interpreter"`). */
  readonly builtinTools?: readonly string[];
  /** Llama 3.1: put the tool definitions in the first user message (default, `true`) or the system message. */
  readonly toolsInUserMessage?: boolean;
  /**
   * Llama 3.1: the "Today Date: ..." of the system preamble, e.g. `"26 Jul 2024"`. Default: the Llama 3.1
   * template's own default ("26 Jul 2024") or, for the 3.2 template and the built-in format, `now`
   * formatted as `"%d %b %Y"`.
   */
  readonly dateString?: string;
  /** The time that `strftime_now` and the built-in date use. Default: the current time. */
  readonly now?: Date;
  /** More variables for a Jinja template (transformers' extra `**kwargs`); the built-in formats ignore them. */
  readonly templateVariables?: Readonly<Record<string, unknown>>;
}

/** Options after checking. */
export interface NormalizedChatOptions {
  readonly addGenerationPrompt: boolean;
  readonly continueFinalMessage: boolean;
  readonly tools: readonly JsonObject[] | undefined;
  readonly documents: readonly JsonObject[] | undefined;
  readonly builtinTools: readonly string[] | undefined;
  readonly toolsInUserMessage: boolean | undefined;
  readonly dateString: string | undefined;
  readonly now: Date;
  readonly templateVariables: Readonly<Record<string, unknown>>;
}

/**
 * Checks the options.
 * @throws {ArgumentError} naming the bad option.
 */
export function normalizeOptions(options: ChatTemplateOptions = {}): NormalizedChatOptions {
  const addGenerationPrompt = optionalBoolean(options.addGenerationPrompt, "addGenerationPrompt") ?? false;
  const continueFinalMessage = optionalBoolean(options.continueFinalMessage, "continueFinalMessage") ?? false;
  if (addGenerationPrompt && continueFinalMessage) {
    throw new ArgumentError("options: addGenerationPrompt and continueFinalMessage cannot both be set");
  }
  const now = options.now ?? new Date();
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new ArgumentError(`options.now: expected a valid Date, got ${describe(now)}`);
  }
  const templateVariables = options.templateVariables ?? {};
  if (typeof templateVariables !== "object" || templateVariables === null || Array.isArray(templateVariables)) {
    throw new ArgumentError(`options.templateVariables: expected an object, got ${describe(templateVariables)}`);
  }
  return {
    addGenerationPrompt,
    continueFinalMessage,
    tools: normalizeObjects(options.tools, "tools"),
    documents: normalizeObjects(options.documents, "documents"),
    builtinTools: normalizeStrings(options.builtinTools, "builtinTools"),
    toolsInUserMessage: optionalBoolean(options.toolsInUserMessage, "toolsInUserMessage"),
    dateString: optionalString(options.dateString, "dateString"),
    now,
    templateVariables,
  };
}

function normalizeObjects(values: unknown, name: string): JsonObject[] | undefined {
  if (values === undefined) return undefined;
  if (!Array.isArray(values)) throw new ArgumentError(`options.${name}: expected an array, got ${describe(values)}`);
  return values.map((value: unknown, i) => {
    const json = toJsonValue(value, `options.${name}[${i}]`);
    if (!isJsonObject(json)) throw new ArgumentError(`options.${name}[${i}]: expected an object, got ${describe(json)}`);
    return json;
  });
}

function normalizeStrings(values: unknown, name: string): string[] | undefined {
  if (values === undefined) return undefined;
  if (!Array.isArray(values) || !values.every((v): v is string => typeof v === "string")) {
    throw new ArgumentError(`options.${name}: expected an array of strings`);
  }
  return [...values];
}

function optionalBoolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  throw new ArgumentError(`options.${name}: expected a boolean, got ${describe(value)}`);
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || typeof value === "string") return value;
  throw new ArgumentError(`options.${name}: expected a string, got ${describe(value)}`);
}
