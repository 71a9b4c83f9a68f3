// A chat prompt as a list of segments: special tokens named by their strings, and plain text. The
// built-in Llama 3 / 3.1 formats produce segments so that token ids can be made the way Meta's
// `ChatFormat` makes them: special tokens by id, and text encoded with special-token strings left as
// plain text, so a user who types "<|eot_id|>" cannot end their own turn. A Jinja template produces
// one string instead, and loses that distinction (reference: meta-llama/llama3 llama/tokenizer.py
// `ChatFormat`; meta-llama/llama-models models/llama3/chat_format.py).

import { TokenizerError } from "../errors.js";
import type { ChatTokenizer } from "./tokenizer.js";

/** One piece of a formatted chat: a special token, or text to encode without special-token parsing. */
export type ChatSegment =
  | { readonly kind: "special"; readonly token: string }
  | { readonly kind: "text"; readonly text: string };

// Special token names of the Llama 3 vocabulary that src/tokenizer/special-tokens.ts does not export
// as constants (meta-llama/llama3 llama/tokenizer.py; <|python_tag|> 128010 is a Llama 3.1 name, from
// meta-llama/llama-models models/llama3/tokenizer.py). BEGIN_OF_TEXT, END_OF_TURN and END_OF_MESSAGE
// come from there.
export const START_HEADER_ID = "<|start_header_id|>";
export const END_HEADER_ID = "<|end_header_id|>";
export const PYTHON_TAG = "<|python_tag|>";

/** A special-token segment. */
export function special(token: string): ChatSegment {
  return { kind: "special", token };
}

/** A text segment. */
export function text(value: string): ChatSegment {
  return { kind: "text", text: value };
}

/**
 * The segments of a message header, as Meta's `encode_header` writes it: `<|start_header_id|>`, the
 * role as text, `<|end_header_id|>`, then "\n\n" as its own text (Meta encodes it separately).
 */
export function header(role: string): ChatSegment[] {
  return [special(START_HEADER_ID), text(role), special(END_HEADER_ID), text("\n\n")];
}

/** The prompt as one string, special tokens written as their strings (what a Jinja template renders). */
export function segmentsToText(segments: readonly ChatSegment[]): string {
  return segments.map((s) => (s.kind === "special" ? s.token : s.text)).join("");
}

/**
 * Token ids of the segments: special tokens by `tokenToId`, each text segment encoded on its own with
 * special-token strings kept as plain text and no BOS/EOS added.
 * @throws {TokenizerError} when the vocabulary lacks a special token the segments use (a Llama 3.0
 * vocabulary has no `<|eom_id|>` or `<|python_tag|>`).
 */
export function segmentsToIds(tokenizer: ChatTokenizer, segments: readonly ChatSegment[]): number[] {
  const ids: number[] = [];
  for (const segment of segments) {
    if (segment.kind === "special") {
      const id = tokenizer.tokenToId(segment.token);
      if (id === undefined) {
        throw new TokenizerError(`the chat format needs the special token ${segment.token}, which this tokenizer lacks`);
      }
      ids.push(id);
    } else if (segment.text !== "") {
      ids.push(...tokenizer.encode(segment.text, { addSpecialTokens: false, allowedSpecial: "none" }));
    }
  }
  return ids;
}
