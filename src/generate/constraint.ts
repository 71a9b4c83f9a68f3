// The interface of a byte-level grammar that constrained decoding runs on: immutable states, a step
// per byte, acceptance, and a key that identifies a state for caching. json-grammar.ts implements it
// for JSON schemas; any other grammar (a regex, a GBNF-like one) implements the same and is passed
// as the `constraint` generation option. token-constraint.ts turns a Grammar into allowed-token
// masks over a tokenizer's vocabulary.

/** A grammar over bytes whose states are immutable values. */
export interface Grammar<S> {
  /** Identifies the grammar (for caches shared between grammars). */
  readonly id: string;
  /** The state before any byte. */
  initial(): S;
  /** The state after `byte`, or undefined when no valid document continues with it. */
  step(state: S, byte: number): S | undefined;
  /** Whether the bytes so far are a complete document (end of sequence allowed). */
  accepts(state: S): boolean;
  /** Whether some byte can still follow. */
  canContinue(state: S): boolean;
  /** Equal keys mean equal futures: what may follow is the same. */
  key(state: S): string;
}

/** The state after `bytes` from `state`, or undefined when they leave the grammar. */
export function stepBytes<S>(grammar: Grammar<S>, state: S, bytes: Uint8Array): S | undefined {
  let s: S | undefined = state;
  for (const b of bytes) {
    s = grammar.step(s, b);
    if (s === undefined) return undefined;
  }
  return s;
}
