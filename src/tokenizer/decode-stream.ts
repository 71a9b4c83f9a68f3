// Streaming detokenization: turn ids into text one at a time, as a model generates them, without ever
// emitting half of a UTF-8 character, such that the concatenation of everything pushed and flushed
// equals the batch decode of the same ids. Both sides use the WHATWG UTF-8 decoder (TextDecoder,
// `ignoreBOM` so a leading U+FEFF is kept, as Rust's String::from_utf8_lossy keeps it); in streaming
// mode it holds back an incomplete trailing sequence and its replacement of invalid bytes by U+FFFD
// ("maximal subparts", the same rule as from_utf8_lossy and Python's errors="replace") does not depend
// on where the input was cut. Also here: HF's `clean_up_tokenization` for batch decodes.

/** Options of a decode stream. */
export interface DecodeStreamOptions {
  /** Drop special tokens (BOS, EOS, headers...) instead of rendering their text. Default false. */
  readonly skipSpecialTokens?: boolean;
}

/** Incremental detokenizer; create one with `Tokenizer.createDecodeStream()`. */
export class DecodeStream {
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  private readonly bytesOf: (id: number, index: number) => Uint8Array | undefined;
  private pushed = 0;

  /**
   * @param bytesOf the bytes of id (undefined: contributes nothing); throws for an invalid id, given
   *   the id's position in the stream for the message
   */
  constructor(bytesOf: (id: number, index: number) => Uint8Array | undefined) {
    this.bytesOf = bytesOf;
  }

  /**
   * Add one id; returns the text that is now complete (possibly "").
   *
   * @throws TokenizerError for an id that is not an integer in the vocabulary
   */
  push(id: number): string {
    const bytes = this.bytesOf(id, this.pushed++);
    if (bytes === undefined || bytes.length === 0) return "";
    return this.decoder.decode(bytes, { stream: true });
  }

  /**
   * End of input: returns what is held back (an incomplete character becomes U+FFFD, as in the batch
   * decode) and resets the stream for reuse.
   */
  flush(): string {
    this.pushed = 0;
    return this.decoder.decode();
  }
}

/**
 * Hugging Face's `clean_up_tokenization` (transformers tokenization_utils_base.py): removes the space
 * before some punctuation and English contractions. A lossy, English-specific rule applied only when
 * asked for.
 */
export function cleanUpTokenizationSpaces(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
