// The part of a tokenizer that chat formatting needs, as a structural interface. src/chat imports only
// the special-token names from src/tokenizer, not the `Tokenizer` class: this keeps the chat code
// testable with a tiny fake, and the real `Tokenizer` satisfies this interface by shape. The member
// names were agreed with the tokenizer module.

/** Options of {@link ChatTokenizer.encode}. */
export interface ChatEncodeOptions {
  /** Add the tokenizer's own BOS/EOS around the text (chat formats pass `false`: they write BOS themselves). */
  readonly addSpecialTokens?: boolean;
  /**
   * Which special-token strings in the text become their ids: `"all"`, `"none"` (they stay plain
   * text, as Meta's `Tokenizer.encode` treats them), or a set of names.
   */
  readonly allowedSpecial?: "all" | "none" | ReadonlySet<string>;
}

/** What chat formatting needs from a tokenizer. */
export interface ChatTokenizer {
  /** Token ids of `text`. */
  encode(text: string, options?: ChatEncodeOptions): number[];
  /** The id of a token given by its string (e.g. `"<|eot_id|>"`), or `undefined` when the vocabulary lacks it. */
  tokenToId(token: string): number | undefined;
  /** The Jinja `chat_template` of `tokenizer_config.json` (the one named "default"), if the folder has one. */
  readonly chatTemplate: string | undefined;
  /**
   * All chat templates by name, when `chat_template` is a list of `{name, template}` (a plain string is
   * named "default"). Chat formatting picks among them as transformers does (see `applyChatTemplate`).
   */
  readonly chatTemplates?: ReadonlyMap<string, string>;
  /** The BOS token string (`"<|begin_of_text|>"` for Llama 3), passed to templates as `bos_token`. */
  readonly bosToken: string | undefined;
  /** The EOS token string, passed to templates as `eos_token`. */
  readonly eosToken: string | undefined;
}
