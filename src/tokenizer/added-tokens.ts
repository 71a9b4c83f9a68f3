// Added tokens (HF `added_tokens`, Meta's special tokens, and tokens added at run time): tokens whose
// text is matched in the input *before* pre-tokenization and replaced by their id, as HF tokenizers'
// AddedVocabulary does (Aho-Corasick, leftmost-longest) and as tiktoken does for allowed specials.
// `special` ones are the control tokens (skipped by decode's skipSpecialTokens, subject to
// allowedSpecial); non-special added tokens are always matched, as in HF.
//
// The fast matcher is a trie over UTF-16 code units entered only at characters that start some token;
// splitOnAddedTokensReference is its regex twin (alternation sorted longest first, which makes the
// leftmost-first regex pick the longest token at the leftmost position).

/**
 * Most ids an added-token list may use past the BPE vocabulary: an added token's id is a BPE id
 * (same text) or below nBpe + MAX_ADDED_TOKENS. Llama 3 adds 256; the largest vocabularies in use add
 * a few thousand. Stops an id such as 2^53 from making `vocabSize` (and an embedding resize) absurd.
 */
export const MAX_ADDED_TOKENS = 1 << 16;

/** One added token. */
export interface AddedToken {
  readonly id: number;
  readonly content: string;
  /** A control token: skipped by `skipSpecialTokens`, recognised in text per `allowedSpecial`. */
  readonly special: boolean;
}

interface TrieNode {
  readonly children: Map<number, TrieNode>;
  id: number; // -1 when no token ends here
}

/** A match of an added token in text. */
export interface AddedTokenMatch {
  readonly start: number;
  readonly end: number;
  readonly id: number;
}

/** Finds added tokens in text, leftmost first, longest at that position. */
export class AddedTokenMatcher {
  private readonly root: TrieNode = { children: new Map(), id: -1 };
  /** Flags the UTF-16 code units that start some token. */
  private readonly starts = new Uint8Array(0x10000);

  constructor(tokens: Iterable<AddedToken>) {
    for (const token of tokens) {
      if (token.content === "") continue;
      let node = this.root;
      for (let i = 0; i < token.content.length; i++) {
        const c = token.content.charCodeAt(i);
        let child = node.children.get(c);
        if (child === undefined) {
          child = { children: new Map(), id: -1 };
          node.children.set(c, child);
        }
        node = child;
      }
      node.id = token.id;
      this.starts[token.content.charCodeAt(0)] = 1;
    }
  }

  /** The first match in `text[from, end)`, or undefined. */
  find(text: string, from: number, end: number): AddedTokenMatch | undefined {
    const starts = this.starts;
    for (let i = from; i < end; i++) {
      if (starts[text.charCodeAt(i)] === 0) continue;
      let node: TrieNode | undefined = this.root;
      let bestEnd = -1;
      let bestId = -1;
      for (let j = i; j < end; j++) {
        node = node.children.get(text.charCodeAt(j));
        if (node === undefined) break;
        if (node.id >= 0) {
          bestEnd = j + 1;
          bestId = node.id;
        }
      }
      if (bestId >= 0) return { start: i, end: bestEnd, id: bestId };
    }
    return undefined;
  }
}

/**
 * Reference twin of AddedTokenMatcher: split `text` into ordinary strings and token ids with a
 * regex alternation of the escaped contents, longest first.
 */
export function splitOnAddedTokensReference(text: string, tokens: readonly AddedToken[]): Array<string | number> {
  const usable = tokens.filter((t) => t.content !== "").sort((a, b) => b.content.length - a.content.length);
  if (usable.length === 0) return text === "" ? [] : [text];
  const idOf = new Map(usable.map((t) => [t.content, t.id]));
  const regex = new RegExp(usable.map((t) => t.content.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")).join("|"), "g");
  const out: Array<string | number> = [];
  let last = 0;
  for (const m of text.matchAll(regex)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(idOf.get(m[0])!);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
