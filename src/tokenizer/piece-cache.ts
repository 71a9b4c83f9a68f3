// A bounded cache of BPE results keyed by piece text, in typed arrays: no string or array is
// allocated per entry, so caching adds no garbage-collection work and holds no reference into the
// caller's input (a `text.slice()` key can pin a whole document in V8). Two generations: lookups try
// the young one, then the old one (promoting hits); when the young one is full it becomes the old
// one and the old one is cleared. A generation starts small and doubles up to its maximum, so memory
// follows use: at most about 12 MB per generation with the defaults (131072 pieces), which holds the
// distinct non-token pieces of ~10 MB of mixed text. Pieces are compared as UTF-16 code units; the
// caller passes the hash (text-index.ts hashChars) it computed once for the whole-piece index too.

/** Int32s per slot: hash, chars start, chars length, ids start, ids count. */
const SLOT = 5;
const EMPTY = -1;
const INITIAL_CAPACITY = 1 << 10;

class Generation {
  slots: Int32Array;
  chars: Uint16Array;
  ids: Int32Array;
  capacity: number;
  count = 0;
  charsUsed = 0;
  idsUsed = 0;

  constructor(
    private readonly maxCapacity: number,
    private readonly charsPerPiece: number,
    private readonly idsPerPiece: number,
  ) {
    this.capacity = Math.min(INITIAL_CAPACITY, maxCapacity);
    this.slots = new Int32Array(this.capacity * 2 * SLOT).fill(EMPTY); // load factor <= 1/2
    this.chars = new Uint16Array(this.capacity * charsPerPiece);
    this.ids = new Int32Array(this.capacity * idsPerPiece);
  }

  clear(): void {
    this.slots.fill(EMPTY);
    this.count = this.charsUsed = this.idsUsed = 0;
  }

  /** Slot offset of the piece, or -1. */
  find(text: string, start: number, end: number, hash: number): number {
    const { slots, chars } = this;
    const mask = this.capacity * 2 - 1;
    const length = end - start;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const at = slot * SLOT;
      const h = slots[at]!;
      if (h === EMPTY) return -1;
      if (h !== hash || slots[at + 2] !== length) continue;
      const from = slots[at + 1]!;
      let k = 0;
      while (k < length && chars[from + k] === text.charCodeAt(start + k)) k++;
      if (k === length) return at;
    }
  }

  /** Make room for one more piece, growing up to the maximum; false when the generation is full. */
  makeRoom(nChars: number, nIds: number): boolean {
    if (this.count >= this.capacity) {
      if (this.capacity >= this.maxCapacity) return false;
      this.rehash(this.capacity * 2);
    }
    const maxChars = this.maxCapacity * this.charsPerPiece;
    const maxIds = this.maxCapacity * this.idsPerPiece;
    if (this.charsUsed + nChars > maxChars || this.idsUsed + nIds > maxIds) return false;
    if (this.charsUsed + nChars > this.chars.length) this.chars = grown(this.chars, this.charsUsed + nChars, maxChars);
    if (this.idsUsed + nIds > this.ids.length) this.ids = grown(this.ids, this.idsUsed + nIds, maxIds);
    return true;
  }

  private rehash(capacity: number): void {
    const old = this.slots;
    this.capacity = capacity;
    this.slots = new Int32Array(capacity * 2 * SLOT).fill(EMPTY);
    for (let at = 0; at < old.length; at += SLOT) {
      if (old[at] !== EMPTY) this.slots.set(old.subarray(at, at + SLOT), this.freeSlot(old[at]!));
    }
  }

  private freeSlot(hash: number): number {
    const mask = this.capacity * 2 - 1;
    let slot = hash & mask;
    while (this.slots[slot * SLOT] !== EMPTY) slot = (slot + 1) & mask;
    return slot * SLOT;
  }

  insert(text: string, start: number, end: number, hash: number, ids: readonly number[], idsFrom: number): void {
    const at = this.freeSlot(hash);
    this.slots[at] = hash;
    this.slots[at + 1] = this.charsUsed;
    this.slots[at + 2] = end - start;
    this.slots[at + 3] = this.idsUsed;
    this.slots[at + 4] = ids.length - idsFrom;
    for (let i = start; i < end; i++) this.chars[this.charsUsed++] = text.charCodeAt(i);
    for (let k = idsFrom; k < ids.length; k++) this.ids[this.idsUsed++] = ids[k]!;
    this.count++;
  }
}

/** A copy of `array` with room for at least `needed` elements (doubling, capped at `max`). */
function grown<T extends Uint16Array | Int32Array>(array: T, needed: number, max: number): T {
  let size = Math.max(array.length, 1);
  while (size < needed) size *= 2;
  const copy = new (array.constructor as new (n: number) => T)(Math.min(size, max));
  copy.set(array);
  return copy;
}

/** BPE results by piece text, bounded. */
export class PieceCache {
  private young: Generation;
  private old: Generation;

  /**
   * @param maxCapacity pieces per generation
   * @param charsPerPiece, idsPerPiece average sizes the arenas allow for (a generation is also full
   *   when an arena is)
   */
  constructor(maxCapacity = 1 << 17, charsPerPiece = 16, idsPerPiece = 6) {
    this.young = new Generation(maxCapacity, charsPerPiece, idsPerPiece);
    this.old = new Generation(maxCapacity, charsPerPiece, idsPerPiece);
  }

  /** Append the cached ids of `text[start, end)` to `out`; false when not cached. */
  get(text: string, start: number, end: number, hash: number, out: number[]): boolean {
    let gen = this.young;
    let at = gen.find(text, start, end, hash);
    if (at < 0) {
      gen = this.old;
      at = gen.find(text, start, end, hash);
      if (at < 0) return false;
    }
    const from = gen.slots[at + 3]!;
    const count = gen.slots[at + 4]!;
    const outFrom = out.length;
    for (let k = 0; k < count; k++) out.push(gen.ids[from + k]!);
    if (gen === this.old) this.set(text, start, end, hash, out, outFrom);
    return true;
  }

  /** Remember that `text[start, end)` encodes to `ids[idsFrom, ids.length)`. */
  set(text: string, start: number, end: number, hash: number, ids: readonly number[], idsFrom: number): void {
    const nChars = end - start;
    const nIds = ids.length - idsFrom;
    if (!this.young.makeRoom(nChars, nIds)) {
      const recycled = this.old;
      recycled.clear();
      this.old = this.young;
      this.young = recycled;
      if (!this.young.makeRoom(nChars, nIds)) return; // larger than a whole arena: not cached
    }
    this.young.insert(text, start, end, hash, ids, idsFrom);
  }
}
