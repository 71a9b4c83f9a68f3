// A tiny stand-in for the Llama 3 tokenizer, for the chat tests: each character is one token
// (id = FAKE_CHAR_BASE + code point) and the Llama 3 special tokens have their real ids. It follows the
// ChatTokenizer contract (special-token parsing only when allowed; BOS added by default, as HF's
// Llama 3 tokenizer does), so chat code can be tested without the real tokenizer.

import type { ChatEncodeOptions, ChatTokenizer } from "../src/chat/tokenizer.js";

/** Ids of characters start here, above every special id. */
export const FAKE_CHAR_BASE = 1_000_000;

// Real Llama 3 ids (meta-llama/llama3 llama/tokenizer.py; 3.1 names from meta-llama/llama-models).
const SPECIALS_30: ReadonlyArray<readonly [string, number]> = [
  ["<|begin_of_text|>", 128000],
  ["<|end_of_text|>", 128001],
  ["<|start_header_id|>", 128006],
  ["<|end_header_id|>", 128007],
  ["<|eot_id|>", 128009],
];
const SPECIALS_31_EXTRA: ReadonlyArray<readonly [string, number]> = [
  ["<|eom_id|>", 128008],
  ["<|python_tag|>", 128010],
];

/** A character-level fake of the Llama 3 tokenizer. */
export class FakeChatTokenizer implements ChatTokenizer {
  readonly chatTemplate: string | undefined;
  readonly chatTemplates: ReadonlyMap<string, string>;
  readonly bosToken = "<|begin_of_text|>";
  readonly eosToken = "<|end_of_text|>";
  private readonly specials: ReadonlyMap<string, number>;
  /** Every encode call, to check how callers ask for special-token handling. */
  readonly calls: { text: string; options: ChatEncodeOptions | undefined }[] = [];

  /**
   * `names`: "3.1" has <|eom_id|> and <|python_tag|>; "3.0" calls them reserved tokens.
   * `chatTemplates`: named templates, as the real Tokenizer has them for a list-form `chat_template`;
   * `chatTemplate` is the one named "default", as there.
   */
  constructor(options: { chatTemplate?: string; chatTemplates?: Readonly<Record<string, string>>; names?: "3.0" | "3.1" } = {}) {
    const templates = new Map(Object.entries(options.chatTemplates ?? {}));
    if (options.chatTemplate !== undefined) templates.set("default", options.chatTemplate);
    this.chatTemplates = templates;
    this.chatTemplate = templates.get("default");
    const names = options.names ?? "3.1";
    this.specials = new Map(names === "3.1" ? [...SPECIALS_30, ...SPECIALS_31_EXTRA] : SPECIALS_30);
  }

  encode(text: string, options?: ChatEncodeOptions): number[] {
    this.calls.push({ text, options });
    const allowed = options?.allowedSpecial ?? "none";
    const ids: number[] = options?.addSpecialTokens === false ? [] : [128000];
    let i = 0;
    while (i < text.length) {
      const special = this.specialAt(text, i, allowed);
      if (special !== undefined) {
        ids.push(this.specials.get(special) ?? -1);
        i += special.length;
      } else {
        const cp = text.codePointAt(i) ?? 0;
        ids.push(FAKE_CHAR_BASE + cp);
        i += cp > 0xffff ? 2 : 1;
      }
    }
    return ids;
  }

  tokenToId(token: string): number | undefined {
    return this.specials.get(token);
  }

  /** Ids back to text (specials as their strings), for readable assertions. */
  decode(ids: readonly number[]): string {
    const names = new Map([...this.specials].map(([name, id]) => [id, name]));
    return ids.map((id) => (id >= FAKE_CHAR_BASE ? String.fromCodePoint(id - FAKE_CHAR_BASE) : names.get(id) ?? `<${id}>`)).join("");
  }

  private specialAt(text: string, at: number, allowed: "all" | "none" | ReadonlySet<string>): string | undefined {
    if (allowed === "none") return undefined;
    for (const name of this.specials.keys()) {
      if ((allowed === "all" || allowed.has(name)) && text.startsWith(name, at)) return name;
    }
    return undefined;
  }
}
