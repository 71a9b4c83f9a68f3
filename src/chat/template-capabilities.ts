// What a Jinja chat template can do with tools, and the message rewrites ("polyfills") that let a
// template without tool support still render a conversation that has tool calls and tool results.
// Follows llama.cpp's minja (`chat_template_caps`, `polyfill_tool_calls`, `polyfill_tool_responses`
// in minja/chat-template.hpp, docs/CAPABILITIES_AND_POLYFILLS.md): capabilities are found by
// rendering small probe conversations, and a template that cannot render an assistant tool call (the
// Llama 3 template applies `trim` to the null content of one, a Jinja NullValue error) gets the call as
// JSON text in the message content instead; a template that drops tool results gets them as user
// messages; `splitToolCalls` writes several calls of one message as consecutive messages, for a caller
// (the server) whose clients send parallel calls to a template that takes one. Whether a template takes tool definitions is read from its text: it must name
// `tools`.

import { renderJinja } from "./jinja.js";
import type { ChatMessage, NormalizedMessage } from "./messages.js";
import { toWireMessages } from "./wire.js";

/** What a chat template renders. */
export interface TemplateCapabilities {
  /** The template reads `tools` (or `custom_tools`), so tool definitions reach the prompt. */
  readonly tools: boolean;
  /** An assistant message with `tool_calls` (and null content) renders, and the call's name appears. */
  readonly toolCalls: boolean;
  /** A `tool` message renders and its content appears. */
  readonly toolResponses: boolean;
  /** An assistant message with two tool calls renders (the Llama 3.1 templates raise "only supports single tool-calls"). */
  readonly parallelToolCalls: boolean;
}

// Capabilities by template text. Servers use one or two templates; the bound keeps a long-lived
// process that is handed many from growing without end.
const MAX_CACHED_TEMPLATES = 32;
const cache = new Map<string, TemplateCapabilities>();

const PROBE_CALL = "probe_tool_call_name";
const PROBE_RESULT = "probe tool result text";
const PROBE_DATE = new Date(Date.UTC(2024, 6, 26));

/**
 * The capabilities of a template (cached per template text).
 * @example templateCapabilities(LLAMA3_CHAT_TEMPLATE) // { tools: false, toolCalls: false, toolResponses: true }
 */
export function templateCapabilities(template: string): TemplateCapabilities {
  const cached = cache.get(template);
  if (cached !== undefined) return cached;
  const user: NormalizedMessage = { role: "user", content: "Hi", toolCalls: undefined, toolCallId: undefined, name: undefined };
  const call: NormalizedMessage = {
    role: "assistant", content: null, toolCalls: [{ id: "call_1", name: PROBE_CALL, arguments: { a: 1 } }], toolCallId: undefined, name: undefined,
  };
  const answer: NormalizedMessage = { role: "assistant", content: "Hello", toolCalls: undefined, toolCallId: undefined, name: undefined };
  const result: NormalizedMessage = { role: "tool", content: PROBE_RESULT, toolCalls: undefined, toolCallId: "call_1", name: PROBE_CALL };
  const caps: TemplateCapabilities = {
    tools: /\b(custom_)?tools\b/.test(template),
    toolCalls: probe(template, [user, call]).includes(PROBE_CALL),
    toolResponses: probe(template, [user, answer, result]).includes(PROBE_RESULT),
    parallelToolCalls: probe(template, [user, { ...call, toolCalls: [...call.toolCalls!, { id: "call_2", name: PROBE_CALL + "_2", arguments: {} }] }]).includes(PROBE_CALL + "_2"),
  };
  if (cache.size >= MAX_CACHED_TEMPLATES) cache.delete(cache.keys().next().value as string);
  cache.set(template, caps);
  return caps;
}

// The rendered probe, or "" when the template fails on it.
function probe(template: string, messages: readonly NormalizedMessage[]): string {
  try {
    const variables = { bos_token: "", eos_token: "", messages: toWireMessages(messages), tools: null, documents: null, add_generation_prompt: false };
    return renderJinja(template, variables, PROBE_DATE);
  } catch {
    return "";
  }
}

/**
 * Splits assistant messages with several tool calls into consecutive assistant messages of one call
 * each, for formats that take one call per message (the Llama 3.1 template and built-in format; the
 * model itself writes one call per turn there). The text, if any, stays with the first call.
 * @example splitToolCalls([{ role: "assistant", toolCalls: [a, b] }]) // [{ role: "assistant", toolCalls: [a] }, { role: "assistant", content: null, toolCalls: [b] }]
 */
export function splitToolCalls(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.flatMap((m): ChatMessage[] => {
    if (m.role !== "assistant" || m.toolCalls === undefined || m.toolCalls.length < 2) return [m];
    return m.toolCalls.map((call, i): ChatMessage => ({ ...m, content: i === 0 ? (m.content ?? null) : null, toolCalls: [call] }));
  });
}

/**
 * Rewrites the tool messages a template cannot render (minja's polyfills): an assistant's tool calls
 * become JSON text `{"tool_calls": [{name, arguments, id}], "content": ...}` in its content, and a
 * tool result becomes a user message `{"tool_response": {tool, content, tool_call_id}}`. Messages the
 * template can render are returned unchanged. (Several calls in one message, which the Llama 3.1
 * template refuses, are left to the caller: see {@link splitToolCalls}.)
 */
export function polyfillToolMessages(
  messages: readonly NormalizedMessage[],
  caps: Pick<TemplateCapabilities, "toolCalls" | "toolResponses">,
): NormalizedMessage[] {
  return messages.map((m): NormalizedMessage => {
    if (m.toolCalls !== undefined && !caps.toolCalls) {
      const calls = m.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments, ...(c.id === undefined ? {} : { id: c.id }) }));
      const text = JSON.stringify({ tool_calls: calls, ...(m.content === null || m.content === "" ? {} : { content: m.content }) }, null, 2);
      return { ...m, content: text, toolCalls: undefined };
    }
    if ((m.role === "tool" || m.role === "ipython") && !caps.toolResponses) {
      const response = { ...(m.name === undefined ? {} : { tool: m.name }), content: m.content, ...(m.toolCallId === undefined ? {} : { tool_call_id: m.toolCallId }) };
      return { role: "user", content: JSON.stringify({ tool_response: response }, null, 2), toolCalls: undefined, toolCallId: undefined, name: undefined };
    }
    return m;
  });
}
