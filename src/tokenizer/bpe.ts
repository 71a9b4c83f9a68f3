// Byte-pair encoding of one pre-tokenizer piece by rank, as tiktoken's `_byte_pair_merge`
// (openai/tiktoken src/lib.rs): start from single bytes and repeatedly merge the adjacent pair whose
// concatenation is the lowest-ranked token, the leftmost one on ties, until no adjacent pair is a
// token. Ranks are token ids. Two twins with the same result:
// - bytePairEncodeReference: the obvious loop over byte strings (scan all pairs, merge one, repeat);
//   the spec, used by the tests.
// - BytePairEncoder: works on token ids. A PairTable maps (left id, right id) to the id of their
//   concatenation, for every token and every split of it into two tokens (the same set as the
//   `merges` of an HF tokenizer.json: 280 147 pairs for Llama 3), so a merge step is an integer
//   hash probe instead of hashing byte strings. Short pieces use tiktoken's array loop (rescan for
//   the minimum after each merge); long ones a linked list and a binary heap keyed by (rank, start)
//   with lazy invalidation, O(n log n), whose (rank, start) order is the same "lowest rank, then
//   leftmost" choice. Runs of 10 000 identical bytes stay fast (bpe.test.ts counts the steps; the
//   speed itself is measured by `npm run bench -- tokenizer`).
// Hugging Face's merges-list BPE gives the same result on Llama 3; the whole-piece shortcut
// (`ignore_merges`) lives in the encoder, not here.

import { byteKey } from "./byte-level.js";
import { FNV_BASIS, FNV_PRIME, type TokenTable } from "./token-table.js";

/**
 * Reference BPE: ids of `bytes` under `ranks` (byte key -> rank = id). Every single byte must be a
 * token (true of byte-level vocabularies).
 */
export function bytePairEncodeReference(ranks: ReadonlyMap<string, number>, bytes: Uint8Array): number[] {
  let parts: string[] = Array.from(bytes, (b) => String.fromCharCode(b));
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const rank = ranks.get(parts[i]! + parts[i + 1]!);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) break;
    parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
  }
  return parts.map((p) => {
    const id = ranks.get(p);
    if (id === undefined) throw new Error(`bpe reference: byte ${p.charCodeAt(0)} is not a token`);
    return id;
  });
}

/** (left id, right id) -> id of the token whose bytes are their concatenation. */
export class PairTable {
  /** Number of pairs. */
  readonly size: number;
  /**
   * Open addressing, one slot = [left, right, merged, unused] in one array so a probe touches one
   * cache line (three separate arrays cost three misses per probe on a table of several MB).
   */
  private readonly slots: Int32Array;
  private readonly mask: number;

  private constructor(capacity: number, size: number) {
    this.size = size;
    this.slots = new Int32Array(capacity * SLOT).fill(-1);
    this.mask = capacity - 1;
  }

  /** Every split of every token into two tokens. */
  static build(table: TokenTable): PairTable {
    const { data, offsets } = table;
    // (left, right, merged) triples; a token of n bytes has at most n - 1 splits.
    const found = new Int32Array(3 * (data.length - table.size));
    let nFound = 0;
    for (let id = 0; id < table.size; id++) {
      const from = offsets[id]!;
      const to = offsets[id + 1]!;
      let prefixHash = FNV_BASIS; // hash of data[from, cut), extended one byte per cut
      for (let cut = from + 1; cut < to; cut++) {
        prefixHash = Math.imul(prefixHash ^ data[cut - 1]!, FNV_PRIME);
        const left = table.lookupHashed(data, from, cut, prefixHash >>> 0);
        if (left < 0) continue;
        const right = table.lookup(data, cut, to);
        if (right < 0) continue;
        found[nFound++] = left;
        found[nFound++] = right;
        found[nFound++] = id;
      }
    }
    const size = nFound / 3;
    let capacity = 16;
    while (capacity < size * 1.5) capacity *= 2; // load factor <= 2/3
    const pairs = new PairTable(capacity, size);
    for (let k = 0; k < nFound; k += 3) pairs.insert(found[k]!, found[k + 1]!, found[k + 2]!);
    return pairs;
  }

  /** The merged id, or -1 when `left`+`right` is not a token. */
  get(left: number, right: number): number {
    const slots = this.slots;
    let slot = hashPair(left, right) & this.mask;
    for (;;) {
      const at = slot * SLOT;
      const l = slots[at]!;
      if (l === left && slots[at + 1] === right) return slots[at + 2]!;
      if (l < 0) return -1;
      slot = (slot + 1) & this.mask;
    }
  }

  private insert(left: number, right: number, merged: number): void {
    let slot = hashPair(left, right) & this.mask;
    while (this.slots[slot * SLOT]! >= 0) slot = (slot + 1) & this.mask;
    this.slots[slot * SLOT] = left;
    this.slots[slot * SLOT + 1] = right;
    this.slots[slot * SLOT + 2] = merged;
  }
}

/** Int32s per pair-table slot (16 bytes: four slots per 64-byte cache line). */
const SLOT = 4;

function hashPair(left: number, right: number): number {
  const h = Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x7f4a7c15, 0x85ebca77);
  return (h ^ (h >>> 15)) >>> 0;
}

/** No merge: larger than any rank. */
const NO_RANK = 0x7fffffff;
// Heap keys pack (rank, start) into one float64: rank * 2^32 + start is exact below 2^53 since
// ranks are < 2^21 and pieces < 2^32 bytes, and orders by rank first, then start.
const START_SPAN = 4294967296;

/**
 * Scratch memory a BytePairEncoder keeps between pieces. Buffers grown past it for a longer piece
 * are dropped once that piece is encoded, so one huge input does not stay attached to the encoder
 * (a 16 MB piece kept ~470 MB here). Pieces up to 2048 bytes reuse their buffers.
 */
export const MAX_RETAINED_SCRATCH_BYTES = 64 * 1024;
/** Scratch bytes per piece byte: ids, ranks, next, prev (4 bytes each) + a heap entry (8 + 4). */
const SCRATCH_BYTES_PER_BYTE = 28;
const INITIAL_SCRATCH_LENGTH = 256;

/** The fast BPE for one vocabulary; keeps scratch buffers, so one instance per encoder. */
export class BytePairEncoder {
  private readonly pairs: PairTable;
  private readonly byteIds = new Int32Array(256);
  /** Merged id of byte pair (b1, b2) at b1 * 256 + b2, or NO_RANK: the first round of every piece. */
  private readonly bytePairs = new Int32Array(256 * 256);
  /** Pieces up to this many bytes use the array loop, longer ones the heap. */
  private readonly heapFrom: number;
  private ids = new Int32Array(INITIAL_SCRATCH_LENGTH);
  private ranks = new Int32Array(INITIAL_SCRATCH_LENGTH);
  private next = new Int32Array(INITIAL_SCRATCH_LENGTH);
  private prev = new Int32Array(INITIAL_SCRATCH_LENGTH);
  // The heap can outgrow the piece: a merge pushes up to two pairs while the two it made stale stay
  // in the heap until popped, so it holds up to n - 1 + (merges so far) < 2n entries ("ma" repeated
  // reaches 1.5n with Llama 3's ranks). It grows on demand.
  private heapKeys = new Float64Array(INITIAL_SCRATCH_LENGTH);
  private heapEnds = new Int32Array(INITIAL_SCRATCH_LENGTH);
  private heapSize = 0;
  private stepCount = 0;

  /**
   * @param table the vocabulary; all 256 single bytes must be tokens
   * @param heapFrom piece length (bytes) from which the heap algorithm is used (tests change it)
   * @param pairs the table's pair table, when already built
   */
  constructor(table: TokenTable, heapFrom = 48, pairs = PairTable.build(table)) {
    this.pairs = pairs;
    const one = new Uint8Array(1);
    for (let b = 0; b < 256; b++) {
      one[0] = b;
      this.byteIds[b] = table.lookup(one, 0, 1);
    }
    for (let b1 = 0; b1 < 256; b1++) {
      for (let b2 = 0; b2 < 256; b2++) {
        const r = this.pairs.get(this.byteIds[b1]!, this.byteIds[b2]!);
        this.bytePairs[b1 * 256 + b2] = r < 0 ? NO_RANK : r;
      }
    }
    this.heapFrom = heapFrom;
  }

  /**
   * Elementary steps done so far: parts scanned by the array loop plus heap pushes and pops. A
   * deterministic measure of the algorithm's work for tests (speed belongs to `npm run bench`).
   */
  get steps(): number {
    return this.stepCount;
  }

  /** Bytes of scratch buffers currently held (at most MAX_RETAINED_SCRATCH_BYTES between calls). */
  get scratchBytes(): number {
    return 16 * this.ids.length + 12 * this.heapKeys.length;
  }

  /** Append the ids of `bytes[0, n)` to `out`. */
  encode(bytes: Uint8Array, n: number, out: number[]): void {
    if (n === 0) return;
    if (this.ids.length < n) this.allocate(n);
    if (n < this.heapFrom) this.encodeShort(bytes, n, out);
    else this.encodeLong(bytes, n, out);
    if (this.scratchBytes > MAX_RETAINED_SCRATCH_BYTES) this.allocate(INITIAL_SCRATCH_LENGTH);
  }

  /** Scratch for pieces of `n` bytes: a power of two while it may be kept, else exactly n. */
  private allocate(n: number): void {
    let size = INITIAL_SCRATCH_LENGTH;
    while (size < n) size *= 2;
    if (size * SCRATCH_BYTES_PER_BYTE > MAX_RETAINED_SCRATCH_BYTES) size = n; // dropped after this piece
    this.ids = new Int32Array(size);
    this.ranks = new Int32Array(size);
    this.next = new Int32Array(size);
    this.prev = new Int32Array(size);
    this.heapKeys = new Float64Array(size);
    this.heapEnds = new Int32Array(size);
  }

  private growHeap(): void {
    const keys = new Float64Array(2 * this.heapKeys.length);
    const ends = new Int32Array(2 * this.heapEnds.length);
    keys.set(this.heapKeys);
    ends.set(this.heapEnds);
    this.heapKeys = keys;
    this.heapEnds = ends;
  }

  /** tiktoken's loop: ids[k] is part k, ranks[k] the merge of parts k and k+1. */
  private encodeShort(bytes: Uint8Array, n: number, out: number[]): void {
    const { ids, ranks, pairs, byteIds, bytePairs } = this;
    for (let k = 0; k < n; k++) ids[k] = byteIds[bytes[k]!]!;
    for (let k = 0; k + 1 < n; k++) ranks[k] = bytePairs[bytes[k]! * 256 + bytes[k + 1]!]!;
    let m = n;
    for (;;) {
      let best = -1;
      let bestRank = NO_RANK;
      for (let k = 0; k + 1 < m; k++) {
        if (ranks[k]! < bestRank) {
          bestRank = ranks[k]!;
          best = k;
        }
      }
      this.stepCount += m;
      if (best < 0) break;
      ids[best] = bestRank;
      for (let k = best + 1; k + 1 < m; k++) {
        ids[k] = ids[k + 1]!;
        ranks[k] = ranks[k + 1]!;
      }
      m--;
      if (best > 0) {
        const r = pairs.get(ids[best - 1]!, bestRank);
        ranks[best - 1] = r < 0 ? NO_RANK : r;
      }
      if (best + 1 < m) {
        const r = pairs.get(bestRank, ids[best + 1]!);
        ranks[best] = r < 0 ? NO_RANK : r;
      }
    }
    for (let k = 0; k < m; k++) out.push(ids[k]!);
  }

  /** Linked parts (start s spans [s, next[s]), next[s] = -1 once swallowed) and a heap of pairs. */
  private encodeLong(bytes: Uint8Array, n: number, out: number[]): void {
    const { ids, next, prev, byteIds } = this;
    this.heapSize = 0;
    for (let s = 0; s < n; s++) {
      ids[s] = byteIds[bytes[s]!]!;
      next[s] = s + 1;
      prev[s] = s - 1;
    }
    for (let s = 0; s + 1 < n; s++) {
      const rank = this.bytePairs[bytes[s]! * 256 + bytes[s + 1]!]!;
      if (rank !== NO_RANK) this.push(rank * START_SPAN + s, s + 2);
    }
    while (this.heapSize > 0) {
      const key = this.heapKeys[0]!;
      const pairEnd = this.heapEnds[0]!;
      this.pop();
      const s = key % START_SPAN;
      const mid = next[s]!;
      // Stale entry: s was swallowed, or its right neighbour has grown since the pair was pushed.
      if (mid < 0 || mid >= n || next[mid]! !== pairEnd) continue;
      ids[s] = (key - s) / START_SPAN;
      next[s] = pairEnd;
      next[mid] = -1;
      if (pairEnd < n) prev[pairEnd] = s;
      if (prev[s]! >= 0) this.candidate(prev[s]!, n);
      this.candidate(s, n);
    }
    for (let s = 0; s < n; s = next[s]!) out.push(ids[s]!);
  }

  /** Push the pair (s, next[s]) if it merges. */
  private candidate(s: number, n: number): void {
    const mid = this.next[s]!;
    if (mid >= n) return;
    const rank = this.pairs.get(this.ids[s]!, this.ids[mid]!);
    if (rank >= 0) this.push(rank * START_SPAN + s, this.next[mid]!);
  }

  private push(key: number, pairEnd: number): void {
    if (this.heapSize === this.heapKeys.length) this.growHeap();
    this.stepCount++;
    const { heapKeys, heapEnds } = this;
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapKeys[parent]! <= key) break;
      heapKeys[i] = heapKeys[parent]!;
      heapEnds[i] = heapEnds[parent]!;
      i = parent;
    }
    heapKeys[i] = key;
    heapEnds[i] = pairEnd;
  }

  private pop(): void {
    this.stepCount++;
    const { heapKeys, heapEnds } = this;
    const size = --this.heapSize;
    const key = heapKeys[size]!;
    const pairEnd = heapEnds[size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && heapKeys[child + 1]! < heapKeys[child]!) child++;
      if (heapKeys[child]! >= key) break;
      heapKeys[i] = heapKeys[child]!;
      heapEnds[i] = heapEnds[child]!;
      i = child;
    }
    heapKeys[i] = key;
    heapEnds[i] = pairEnd;
  }
}

/** Rank map (byte key -> id) for the reference functions, from a token table. */
export function rankMapOf(table: TokenTable): Map<string, number> {
  const ranks = new Map<string, number>();
  for (let id = 0; id < table.size; id++) ranks.set(byteKey(table.bytes(id)), id);
  return ranks;
}
