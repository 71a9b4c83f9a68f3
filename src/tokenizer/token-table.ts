// The mergeable (BPE) vocabulary: the byte string of every token, index = token id = merge rank (as in
// tiktoken's `mergeable_ranks`, where a token's rank is its id), stored contiguously, plus an
// open-addressing hash table over the byte strings so the BPE loop can look up any byte range of a
// piece without allocating a key. Built once per tokenizer by the loaders.

/** Byte strings of the BPE tokens (id = rank) with allocation-free lookup by bytes. */
export class TokenTable {
  /** Number of BPE tokens; ids are 0..size-1. */
  readonly size: number;
  /** All token bytes, concatenated in id order. */
  readonly data: Uint8Array;
  /** Token `id` is `data[offsets[id], offsets[id + 1])`. */
  readonly offsets: Uint32Array;
  private readonly slots: Int32Array;
  private readonly mask: number;

  private constructor(data: Uint8Array, offsets: Uint32Array) {
    this.size = offsets.length - 1;
    this.data = data;
    this.offsets = offsets;
    let capacity = 16;
    while (capacity < this.size * 2) capacity *= 2; // load factor <= 0.5 keeps probes short
    this.slots = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
  }

  /**
   * Build the table from the token byte strings in id order.
   *
   * @param onDuplicate called with (id, earlierId) when two ids have the same bytes; the later id is
   *   then unreachable by lookup. Loaders turn this into an error naming the file and line.
   */
  static build(tokens: readonly Uint8Array[], onDuplicate?: (id: number, earlierId: number) => void): TokenTable {
    let total = 0;
    for (const t of tokens) total += t.length;
    const data = new Uint8Array(total);
    const offsets = new Uint32Array(tokens.length + 1);
    let at = 0;
    tokens.forEach((t, id) => {
      data.set(t, at);
      at += t.length;
      offsets[id + 1] = at;
    });
    return TokenTable.index(data, offsets, onDuplicate);
  }

  /**
   * Build the table from byte ranges of one buffer: token `id` is `raw[starts[id], ends[id])`.
   * Lets loaders decode every token into a single scratch buffer instead of one array per token.
   */
  static fromRanges(
    raw: Uint8Array,
    starts: Uint32Array,
    ends: Uint32Array,
    onDuplicate?: (id: number, earlierId: number) => void,
  ): TokenTable {
    const n = starts.length;
    let total = 0;
    for (let id = 0; id < n; id++) total += ends[id]! - starts[id]!;
    const data = new Uint8Array(total);
    const offsets = new Uint32Array(n + 1);
    let at = 0;
    for (let id = 0; id < n; id++) {
      data.set(raw.subarray(starts[id]!, ends[id]!), at);
      at += ends[id]! - starts[id]!;
      offsets[id + 1] = at;
    }
    return TokenTable.index(data, offsets, onDuplicate);
  }

  private static index(data: Uint8Array, offsets: Uint32Array, onDuplicate?: (id: number, earlierId: number) => void): TokenTable {
    const table = new TokenTable(data, offsets);
    for (let id = 0; id < table.size; id++) {
      const earlier = table.insert(id);
      if (earlier >= 0) onDuplicate?.(id, earlier);
    }
    return table;
  }

  /** The first byte value (0-255) that is not a single-byte token, or -1 when all 256 are. */
  missingByte(): number {
    const one = new Uint8Array(1);
    for (let b = 0; b < 256; b++) {
      one[0] = b;
      if (this.lookup(one, 0, 1) < 0) return b;
    }
    return -1;
  }

  /** The bytes of token `id` (a view into `data`; do not modify). */
  bytes(id: number): Uint8Array {
    return this.data.subarray(this.offsets[id]!, this.offsets[id + 1]!);
  }

  /** The id of the token whose bytes are `bytes[start, end)`, or -1. */
  lookup(bytes: Uint8Array, start: number, end: number): number {
    return this.lookupHashed(bytes, start, end, hashBytes(bytes, start, end));
  }

  /** `lookup` with the range's hashBytes already computed (e.g. incrementally over prefixes). */
  lookupHashed(bytes: Uint8Array, start: number, end: number, hash: number): number {
    let slot = hash & this.mask;
    const length = end - start;
    for (;;) {
      const id = this.slots[slot]!;
      if (id < 0) return -1;
      const from = this.offsets[id]!;
      if (this.offsets[id + 1]! - from === length && this.sameBytes(from, bytes, start, length)) return id;
      slot = (slot + 1) & this.mask;
    }
  }

  private sameBytes(from: number, bytes: Uint8Array, start: number, length: number): boolean {
    for (let k = 0; k < length; k++) if (this.data[from + k] !== bytes[start + k]) return false;
    return true;
  }

  /** Insert `id`; returns the id already holding the same bytes (not inserted), or -1. */
  private insert(id: number): number {
    const from = this.offsets[id]!;
    const end = this.offsets[id + 1]!;
    const existing = this.lookup(this.data, from, end);
    if (existing >= 0) return existing;
    let slot = hashBytes(this.data, from, end) & this.mask;
    while (this.slots[slot]! >= 0) slot = (slot + 1) & this.mask;
    this.slots[slot] = id;
    return -1;
  }
}

/** FNV-1a offset basis and prime: hashBytes(b[0..k+1]) = imul(hashBytes(b[0..k]) ^ b[k], prime). */
export const FNV_BASIS = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/** FNV-1a, 32 bits, over `bytes[start, end)`. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = FNV_BASIS;
  for (let k = start; k < end; k++) h = Math.imul(h ^ bytes[k]!, FNV_PRIME);
  return h >>> 0;
}
