// The Hugging Face wire form of chat messages, which Jinja chat templates read: snake_case fields
// (`tool_calls`, `tool_call_id`) and the OpenAI tool-call shape `{type, function: {name, arguments}}`.
// This is the only place camelCase message fields become wire names (../shared/STYLE.md "Wire names
// stay at the edges"). Reference: transformers `apply_chat_template` docs, "Tool use".

import type { JsonObject } from "./python-compat.js";
import type { ChatRole, NormalizedMessage } from "./messages.js";

/** A tool call as templates see it. */
export interface WireToolCall {
  readonly id?: string;
  readonly type: "function";
  readonly function: { readonly name: string; readonly arguments: JsonObject };
}

/** A message as templates see it. Absent keys are left out, not undefined: templates test `'tool_calls' in message`. */
export interface WireMessage {
  readonly role: ChatRole;
  readonly content: string | null;
  readonly tool_calls?: readonly WireToolCall[];
  readonly tool_call_id?: string;
  readonly name?: string;
}

/** The wire form of normalized messages. */
export function toWireMessages(messages: readonly NormalizedMessage[]): WireMessage[] {
  return messages.map((m) => ({
    role: m.role,
    content: m.content,
    ...(m.toolCalls === undefined
      ? {}
      : {
          tool_calls: m.toolCalls.map((c) => ({
            ...(c.id === undefined ? {} : { id: c.id }),
            type: "function" as const,
            function: { name: c.name, arguments: c.arguments },
          })),
        }),
    ...(m.toolCallId === undefined ? {} : { tool_call_id: m.toolCallId }),
    ...(m.name === undefined ? {} : { name: m.name }),
  }));
}
