// Constrained decoding at the token level: a byte Grammar (constraint.ts) turned into a stateful
// logits processor over a tokenizer's vocabulary. The vocabulary's token bytes sit in a byte trie,
// so the tokens allowed in a grammar state are found by one walk of the trie that steps the grammar
// once per trie edge and prunes a subtree as soon as its prefix leaves the grammar (not vocabSize x
// token length steps). Masks are cached per grammar-state key (equal keys have equal futures), so a
// state seen before (the inside of a string, the same point of a repeated object) costs no walk.
// Special tokens are never allowed, except the sequence's stop ids where the grammar accepts; when
// the document is complete and nothing may follow, the sequence ends. After llama.cpp's grammar
// sampler (src/llama-grammar.cpp `llama_grammar_apply_impl`, which checks candidates by their bytes)
// with the trie and per-state mask cache of outlines / XGrammar instead of a per-candidate check.

import { UnsupportedError } from "../errors.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { Grammar } from "./constraint.js";

/** Most grammar states one TokenGrammar interns (with their masks) before it starts a fresh table. */
export const MAX_CACHED_STATES = 4096;

/** A mask allowing more ids than vocabSize / LIST_FRACTION is kept as a bitset (vocabSize / 8 bytes). */
const LIST_FRACTION = 32;

/**
 * The trie of the token bytes in flat arrays (at most `total` nodes: one per byte, plus the root).
 * Child lookup while building is an open-addressing table over parent * 256 + byte.
 */
function buildTrie(bytes: readonly (Uint8Array | undefined)[], total: number): { edgeByte: Uint8Array; firstChild: Int32Array; nextSibling: Int32Array; firstToken: Int32Array; nextToken: Int32Array } {
  const edgeByte = new Uint8Array(total);
  const firstChild = new Int32Array(total).fill(-1);
  const nextSibling = new Int32Array(total).fill(-1);
  const firstToken = new Int32Array(total).fill(-1);
  const nextToken = new Int32Array(bytes.length).fill(-1);
  let slots = 1;
  while (slots < 2 * total) slots *= 2;
  const mask = slots - 1;
  const keys = new Int32Array(slots).fill(-1);
  const values = new Int32Array(slots);
  let nodes = 1;
  for (let id = 0; id < bytes.length; id++) {
    const b = bytes[id];
    if (b === undefined) continue;
    let node = 0;
    for (let i = 0; i < b.length; i++) {
      const key = node * 256 + b[i]!;
      let at = (Math.imul(key, 0x9e3779b1) >>> 12) & mask;
      while (keys[at] !== -1 && keys[at] !== key) at = (at + 1) & mask;
      if (keys[at] === key) {
        node = values[at]!;
        continue;
      }
      const child = nodes++;
      edgeByte[child] = b[i]!;
      nextSibling[child] = firstChild[node]!;
      firstChild[node] = child;
      keys[at] = key;
      values[at] = child;
      node = child;
    }
    nextToken[id] = firstToken[node]!;
    firstToken[node] = id;
  }
  return { edgeByte: edgeByte.slice(0, nodes), firstChild: firstChild.slice(0, nodes), nextSibling: nextSibling.slice(0, nodes), firstToken: firstToken.slice(0, nodes), nextToken };
}

/** The vocabulary's token bytes as a trie: node 0 is the root (the empty prefix). */
export class TokenVocabulary {
  private static readonly cache = new WeakMap<Tokenizer, Map<number, TokenVocabulary>>();
  /** Per node: the byte of the edge into it, its first child and next sibling (-1: none), its first token. */
  private readonly edgeByte: Uint8Array;
  private readonly firstChild: Int32Array;
  private readonly nextSibling: Int32Array;
  private readonly firstToken: Int32Array;
  /** Per id: the next id with the same bytes (-1: none). */
  private readonly nextToken: Int32Array;
  private readonly bytes: (Uint8Array | undefined)[];
  /** The walk's stack: at each depth, the next child to visit (longest token + 1 entries). */
  private readonly pendingScratch: Int32Array;

  /**
   * @param size the number of scores per step (the model's vocabSize)
   * @param bytesOf the bytes of an id that may be generated as text, undefined for special or unknown ids
   */
  constructor(readonly size: number, bytesOf: (id: number) => Uint8Array | undefined) {
    this.bytes = new Array<Uint8Array | undefined>(size);
    let total = 1;
    for (let id = 0; id < size; id++) {
      const b = bytesOf(id);
      if (b === undefined || b.length === 0) continue;
      this.bytes[id] = b;
      total += b.length;
    }
    const trie = buildTrie(this.bytes, total);
    this.edgeByte = trie.edgeByte;
    this.firstChild = trie.firstChild;
    this.nextSibling = trie.nextSibling;
    this.firstToken = trie.firstToken;
    this.nextToken = trie.nextToken;
    let longest = 0;
    for (const b of this.bytes) if (b !== undefined && b.length > longest) longest = b.length;
    this.pendingScratch = new Int32Array(longest + 1);
  }

  /**
   * The vocabulary of a tokenizer's text tokens (special tokens excluded), built once per tokenizer and size.
   * @param size the model's vocabSize (ids the tokenizer does not know are never allowed)
   */
  static of(tokenizer: Tokenizer, size: number): TokenVocabulary {
    let bySize = TokenVocabulary.cache.get(tokenizer);
    if (bySize === undefined) TokenVocabulary.cache.set(tokenizer, (bySize = new Map()));
    let vocab = bySize.get(size);
    if (vocab === undefined) {
      vocab = new TokenVocabulary(size, (id) => (tokenizer.isSpecialId(id) ? undefined : tokenizer.idToBytes(id)));
      bySize.set(size, vocab);
    }
    return vocab;
  }

  /** Number of trie nodes (the root included). */
  get nodeCount(): number {
    return this.edgeByte.length;
  }

  /** The bytes of a text token, undefined for a special or unknown id. */
  tokenBytes(id: number): Uint8Array | undefined {
    return this.bytes[id];
  }

  /**
   * Every id whose bytes stay inside a grammar, found by one depth-first walk of the trie from
   * `start` (iterative: an explicit stack of the next sibling to visit at each depth).
   * @param step the state after a byte, or null when the byte leaves the grammar
   * @param out receives the ids (in trie order); needs room for `size` ids
   * @returns how many ids were written
   */
  allowedIds<T>(start: T, step: (state: T, byte: number) => T | null, out: Int32Array): number {
    const { edgeByte, firstChild, nextSibling, firstToken, nextToken } = this;
    const pending = this.pendingScratch;
    const states = new Array<T>(pending.length);
    let count = 0;
    let depth = 0;
    states[0] = start;
    pending[0] = firstChild[0]!;
    while (depth >= 0) {
      const child = pending[depth]!;
      if (child === -1) {
        depth--;
        continue;
      }
      pending[depth] = nextSibling[child]!;
      const next = step(states[depth]!, edgeByte[child]!);
      if (next === null) continue;
      for (let id = firstToken[child]!; id !== -1; id = nextToken[id]!) out[count++] = id;
      depth++;
      states[depth] = next;
      pending[depth] = firstChild[child]!;
    }
    return count;
  }
}

/** The text tokens allowed in one grammar state: a sorted id list when few, else a bitset. */
type Mask = { readonly kind: "list"; readonly ids: Int32Array } | { readonly kind: "bits"; readonly bits: Uint32Array; readonly count: number };

/**
 * A grammar state interned by its key, with its transitions and its mask filled in as they are
 * needed: equal keys have equal futures, so a walk steps the grammar once per distinct (state,
 * byte) and follows the table for every other trie edge.
 */
export interface StateNode<S> {
  readonly state: S;
  readonly accepts: boolean;
  readonly canContinue: boolean;
  /** By byte: the next node, null when the byte leaves the grammar, undefined while unknown. */
  readonly next: (StateNode<S> | null | undefined)[];
  mask: Mask | undefined;
}

/** A grammar over one vocabulary, with its states interned and their masks cached; shared by every sequence using it. */
export class TokenGrammar<S = unknown> {
  private static readonly cache = new WeakMap<Grammar<unknown>, WeakMap<TokenVocabulary, TokenGrammar<unknown>>>();
  private nodes = new Map<string, StateNode<S>>();
  private startNode: StateNode<S> | undefined;
  /** Trie walks done (mask cache misses), for benchmarks and tests. */
  walks = 0;
  private scratch: Int32Array | undefined;

  constructor(readonly grammar: Grammar<S>, readonly vocabulary: TokenVocabulary) {}

  /** The shared TokenGrammar of `grammar` on `vocabulary` (one state table per pair). */
  static of<S>(grammar: Grammar<S>, vocabulary: TokenVocabulary): TokenGrammar<S> {
    const g = grammar as Grammar<unknown>;
    let byVocab = TokenGrammar.cache.get(g);
    if (byVocab === undefined) TokenGrammar.cache.set(g, (byVocab = new WeakMap()));
    let tokens = byVocab.get(vocabulary);
    if (tokens === undefined) byVocab.set(vocabulary, (tokens = new TokenGrammar(g, vocabulary)));
    return tokens as TokenGrammar<S>;
  }

  /** Grammar states interned in the current table. */
  get stateCount(): number {
    return this.nodes.size;
  }

  /** The node before any byte. */
  get start(): StateNode<S> {
    return (this.startNode ??= this.intern(this.grammar.initial()));
  }

  private intern(state: S): StateNode<S> {
    const key = this.grammar.key(state);
    let node = this.nodes.get(key);
    if (node === undefined) {
      // A full table starts over, with a new start node for new sequences: the nodes that running
      // sequences hold keep working (and are freed with them), they are just no longer shared.
      if (this.nodes.size >= MAX_CACHED_STATES) {
        this.nodes = new Map();
        this.startNode = undefined;
      }
      node = { state, accepts: this.grammar.accepts(state), canContinue: this.grammar.canContinue(state), next: new Array<StateNode<S> | null | undefined>(256).fill(undefined), mask: undefined };
      this.nodes.set(key, node);
    }
    return node;
  }

  /** The node after `byte`, or null when it leaves the grammar. */
  step(node: StateNode<S>, byte: number): StateNode<S> | null {
    let next = node.next[byte];
    if (next === undefined) {
      const s = this.grammar.step(node.state, byte);
      next = s === undefined ? null : this.intern(s);
      node.next[byte] = next;
    }
    return next;
  }

  /** The mask of a node, from its cache or one trie walk. */
  mask(node: StateNode<S>): Mask {
    if (node.mask !== undefined) return node.mask;
    this.walks++;
    const scratch = (this.scratch ??= new Int32Array(this.vocabulary.size));
    const count = this.vocabulary.allowedIds(node, (n, byte) => n.next[byte] ?? this.step(n, byte), scratch);
    let mask: Mask;
    if (count > this.vocabulary.size / LIST_FRACTION) {
      const bits = new Uint32Array(Math.ceil(this.vocabulary.size / 32));
      for (let i = 0; i < count; i++) {
        const id = scratch[i]!;
        bits[id >>> 5]! |= 1 << (id & 31);
      }
      mask = { kind: "bits", bits, count };
    } else mask = { kind: "list", ids: scratch.slice(0, count).sort() };
    node.mask = mask;
    return mask;
  }

  /** Number of text tokens allowed in a node. */
  allowedCount(node: StateNode<S>): number {
    const m = this.mask(node);
    return m.kind === "list" ? m.ids.length : m.count;
  }
}

/** Sets every score outside the mask to -Infinity. */
function applyMask(scores: Float32Array, mask: Mask): void {
  if (mask.kind === "list") {
    const kept = new Float32Array(mask.ids.length);
    mask.ids.forEach((id, i) => (kept[i] = scores[id]!));
    scores.fill(-Infinity);
    mask.ids.forEach((id, i) => (scores[id] = kept[i]!));
    return;
  }
  const { bits } = mask;
  for (let w = 0; w < bits.length; w++) {
    const word = bits[w]!;
    if (word === 0xffffffff) continue; // 32 allowed ids
    const end = Math.min(scores.length, (w + 1) * 32);
    for (let id = w * 32; id < end; id++) if (((word >>> (id & 31)) & 1) === 0) scores[id] = -Infinity;
  }
}

/**
 * One sequence's constraint: its grammar state, advanced by each chosen token.
 * @example
 * const c = new TokenConstraint(TokenGrammar.of(grammar, TokenVocabulary.of(tokenizer, vocabSize)), eosIds);
 * c.apply(scores); const id = argmax(scores); c.accept(id); if (c.finished) ...
 */
export class TokenConstraint<S = unknown> {
  private node: StateNode<S>;

  /** @param stopIds the sequence's stop ids: allowed (and the only special tokens allowed) where the document is complete */
  constructor(readonly tokens: TokenGrammar<S>, private readonly stopIds: readonly number[]) {
    this.node = tokens.start;
  }

  /** The grammar state after the tokens accepted so far. */
  get state(): S {
    return this.node.state;
  }

  /** Whether the bytes so far are a complete document (a stop id may end the sequence). */
  get complete(): boolean {
    return this.node.accepts;
  }

  /** Whether the document is complete and no text token can extend it: the sequence should end now. */
  get finished(): boolean {
    return this.node.accepts && (!this.node.canContinue || this.tokens.allowedCount(this.node) === 0);
  }

  /**
   * Set to -Infinity every score (vocabSize) of a token that would leave the grammar.
   * @throws UnsupportedError when no token at all may follow (a grammar no token sequence can complete)
   */
  apply(scores: Float32Array): void {
    const mask = this.tokens.mask(this.node);
    const complete = this.node.accepts;
    const count = mask.kind === "list" ? mask.ids.length : mask.count;
    if (count === 0 && !(complete && this.stopIds.length > 0)) throw new UnsupportedError("constrained decoding: no token of the vocabulary continues the grammar here");
    const stops = complete ? this.stopIds.map((id) => scores[id]!) : [];
    applyMask(scores, mask);
    if (complete) this.stopIds.forEach((id, i) => (scores[id] = stops[i]!));
  }

  /**
   * Advance the state by a chosen token (a stop id where the document is complete leaves it as it is).
   * @throws UnsupportedError for a token the mask did not allow
   */
  accept(tokenId: number): void {
    if (this.node.accepts && this.stopIds.includes(tokenId)) return;
    const bytes = this.tokens.vocabulary.tokenBytes(tokenId);
    let n: StateNode<S> | null = bytes === undefined ? null : this.node;
    for (let i = 0; bytes !== undefined && i < bytes.length && n !== null; i++) n = this.tokens.step(n, bytes[i]!);
    if (n === null) throw new UnsupportedError(`constrained decoding: token ${tokenId} leaves the grammar`);
    this.node = n;
  }
}
