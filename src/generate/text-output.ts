// The text side of a generating sequence: streaming detokenization (special tokens skipped, as
// transformers' text-generation pipeline decodes) and stop strings. A stop string may span
// several tokens, so text that could still turn out to be the start of a stop string is held back
// until it cannot; when a stop string appears, the text is cut before it (as OpenAI, vLLM and
// llama.cpp return it) and nothing after it is ever emitted. The deltas it returns concatenate to
// the final text exactly.

import type { DecodeStream } from "../tokenizer/decode-stream.js";

/** What one token changed. */
export interface TextStep {
  /** Text safe to show now. */
  readonly delta: string;
  /** The stop string that just matched, if one did. */
  readonly stopString?: string;
}

/** Text of one sequence, built token by token. */
export class TextOutput {
  private decoded = "";
  private emitted = 0;
  private stopped = false;
  private readonly longestStop: number;

  /**
   * @param stream a decode stream (skipping special tokens), or undefined to produce no text
   * @param stopStrings non-empty strings that end generation
   */
  constructor(private readonly stream: DecodeStream | undefined, private readonly stopStrings: readonly string[]) {
    this.longestStop = Math.max(0, ...stopStrings.map((s) => s.length));
  }

  /** The final text so far (what has been emitted). */
  get text(): string {
    return this.decoded.slice(0, this.emitted);
  }

  /** Add a token; returns the text that may be shown now, and the stop string if one matched. */
  push(tokenId: number): TextStep {
    if (this.stream === undefined || this.stopped) return { delta: "" };
    const before = this.decoded.length;
    this.decoded += this.stream.push(tokenId);
    return this.scan(before);
  }

  /** The sequence ended for another reason: release any held-back text (and incomplete bytes). */
  finish(): string {
    if (this.stream === undefined || this.stopped) return "";
    const before = this.decoded.length;
    this.decoded += this.stream.flush();
    const step = this.scan(before);
    if (step.stopString !== undefined) return step.delta;
    const rest = this.decoded.slice(this.emitted);
    this.emitted = this.decoded.length;
    return step.delta + rest;
  }

  private scan(before: number): TextStep {
    // A match must end in the new text, so it starts at most longestStop - 1 characters before it.
    const from = Math.max(0, before - this.longestStop + 1);
    let cut = -1;
    let matched: string | undefined;
    for (const stop of this.stopStrings) {
      const at = this.decoded.indexOf(stop, from);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        matched = stop;
      }
    }
    if (matched !== undefined) {
      this.stopped = true;
      const delta = this.decoded.slice(this.emitted, Math.max(this.emitted, cut));
      this.decoded = this.decoded.slice(0, Math.max(this.emitted, cut));
      this.emitted = this.decoded.length;
      return { delta, stopString: matched };
    }
    const safe = this.decoded.length - this.heldBack();
    const delta = safe > this.emitted ? this.decoded.slice(this.emitted, safe) : "";
    this.emitted = Math.max(this.emitted, safe);
    return { delta };
  }

  /** Length of the longest end of the text that is a proper prefix of a stop string. */
  private heldBack(): number {
    for (let n = Math.min(this.longestStop - 1, this.decoded.length); n > 0; n--) {
      const tail = this.decoded.slice(this.decoded.length - n);
      if (this.stopStrings.some((stop) => stop.length > n && stop.startsWith(tail))) return n;
    }
    return 0;
  }
}
