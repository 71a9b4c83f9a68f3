// A chat example for training: the conversation through the model's chat template (applyChatTemplate,
// the same path inference uses), with labels only on the assistant turns. transformers marks those
// with `return_assistant_tokens_mask`, which needs `{% generation %}` blocks that the Llama 3.x
// templates lack; instead, as templates render a conversation left to right, the assistant turn i is
// the text between render(messages[:i], add_generation_prompt) and render(messages[:i+1]): its
// content and end-of-turn token (`...<|eot_id|>`), not its header. The first render must be a
// prefix of the whole (checked; a template that rewrites earlier turns cannot be masked this way and
// is an error); for the end see turnEnd. Tokens are mapped to text by their bytes (byte-level BPE is lossless), and a token is
// trained on when it starts inside an assistant span.

import { applyChatTemplate, type ChatMessage, type ChatTokenizer } from "../chat/index.js";
import { IGNORE_INDEX } from "./batch.js";

/** What the chat path needs from a tokenizer. */
export interface ChatDataTokenizer extends ChatTokenizer {
  readonly eosTokenId: number;
  /** A token's bytes, or undefined for an unknown id. */
  idToBytes(id: number): Uint8Array | undefined;
}

/** Makes the caller's error for a field of the line. */
export type FieldError = (field: string | undefined, message: string) => Error;

const utf8 = new TextEncoder();

/**
 * Token ids and assistant-only labels of a `messages` value.
 * @throws what `fail` makes, for a value that is not a list with an assistant message, or a template
 *   whose renders are not prefix-consistent; ArgumentError / ChatTemplateError from the chat module
 */
export function assistantMaskedExample(messages: unknown, tokenizer: ChatDataTokenizer, fail: FieldError): { inputIds: Int32Array; labels: Int32Array } {
  if (!Array.isArray(messages)) throw fail("messages", "must be an array of {role, content} messages");
  if (messages.length === 0) throw fail("messages", "is empty");
  const list = messages as ChatMessage[];
  const assistantTurns = list.flatMap((m, i) => ((m as { role?: unknown } | null)?.role === "assistant" ? [i] : []));
  if (assistantTurns.length === 0) throw fail("messages", "has no assistant message, so there is nothing to train on");
  const full = applyChatTemplate(tokenizer, list);
  const spans = assistantTurns.map((i) => {
    const before = applyChatTemplate(tokenizer, list.slice(0, i), { addGenerationPrompt: true }).text;
    const through = applyChatTemplate(tokenizer, list.slice(0, i + 1)).text;
    if (!through.startsWith(before) || !full.text.startsWith(before)) {
      throw fail(`messages[${i}]`, "the chat template does not render this conversation's first turns as a prefix of the whole, so the assistant turn cannot be located");
    }
    return { start: utf8.encode(before).length, end: utf8.encode(turnEnd(full.text, through, before.length, tokenizer, () => fail(`messages[${i}]`, "the chat template renders no end-of-turn token after this assistant turn"))).length };
  });
  const starts = tokenByteStarts(full.ids, tokenizer, utf8.encode(full.text).length, fail);
  const labels = Int32Array.from(full.ids);
  full.ids.forEach((_, t) => {
    const at = starts[t]!;
    if (!spans.some((s) => at >= s.start && at < s.end)) labels[t] = IGNORE_INDEX;
  });
  return { inputIds: Int32Array.from(full.ids), labels };
}

/**
 * The rendered text up to the end of an assistant turn starting at `start`: after the last
 * end-of-turn token (<|eot_id|>, <|eom_id|> or EOS) that the render through this turn shares with
 * the whole. Not simply the render through this turn: templates that always append a generation
 * prompt (Meta-Llama-3-8B-Instruct's) add a header after it that is not part of the turn.
 */
function turnEnd(full: string, through: string, start: number, tokenizer: ChatDataTokenizer, fail: () => Error): string {
  let common = start;
  while (common < through.length && through[common] === full[common]) common++;
  const shared = full.slice(0, common);
  let end = -1;
  for (const marker of new Set(["<|eot_id|>", "<|eom_id|>", tokenizer.eosToken ?? "<|eot_id|>"])) {
    const at = shared.lastIndexOf(marker);
    if (at >= start) end = Math.max(end, at + marker.length);
  }
  if (end < 0) throw fail();
  return full.slice(0, end);
}

/** Byte offset in the rendered text where each token starts; the tokens' bytes must add up to it. */
function tokenByteStarts(ids: readonly number[], tokenizer: ChatDataTokenizer, textBytes: number, fail: FieldError): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const id of ids) {
    starts.push(at);
    const bytes = tokenizer.idToBytes(id);
    if (bytes === undefined) throw fail("messages", `the chat template produced token id ${id}, which the tokenizer does not know`);
    at += bytes.length;
  }
  if (at !== textBytes) throw fail("messages", `the chat's tokens spell ${at} bytes but its text has ${textBytes}; cannot map tokens to assistant turns`);
  return starts;
}
