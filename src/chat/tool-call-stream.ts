// Streaming side of the Llama 3.1 tool-call parser: text deltas go in; text that is safe to show
// goes out at once, unless the reply may be a tool call, which is held back until the reply ends and
// then parsed whole (llama31-tool-parser.ts). A reply is one or the other from its first characters
// (`{`, `[`, `<|python_tag|>`, `<function=`), so ordinary text streams with no delay beyond its first
// non-blank character, and a tool call is never shown half as text. Pure text logic: no tokens.

import { type ParsedReply, mayBeToolCall, parseLlama31Reply } from "./llama31-tool-parser.js";

/** The end of a streamed reply: what it was (the whole reply), and the text not yet returned by `push`. */
export interface ToolStreamEnd {
  readonly reply: ParsedReply;
  /** Text held back (a reply that turned out to be text, or a malformed call); "" for calls. */
  readonly unsent: string;
}

/** Splits a streamed reply into shown text and held-back tool calls. */
export class ToolCallStream {
  private buffer = "";
  private full = "";
  private passing = false;

  /** @param enabled false: every delta passes through (no tools in the request). */
  constructor(private readonly enabled = true) {
    this.passing = !enabled;
  }

  /** Whether the reply so far is held back (it may still be a tool call). */
  get holding(): boolean {
    return !this.passing;
  }

  /** Add a delta; returns the text to show now ("" while the reply may still be a tool call). */
  push(delta: string): string {
    this.full += delta;
    if (this.passing) return delta;
    this.buffer += delta;
    if (mayBeToolCall(this.buffer)) return "";
    this.passing = true;
    const out = this.buffer;
    this.buffer = "";
    return out;
  }

  /** The reply is complete: parse what was held back. */
  finish(): ToolStreamEnd {
    if (this.passing) return { reply: { kind: "text", text: this.full }, unsent: "" };
    const reply = parseLlama31Reply(this.buffer);
    return { reply, unsent: reply.kind === "tool_calls" || !this.enabled ? "" : this.buffer };
  }
}
