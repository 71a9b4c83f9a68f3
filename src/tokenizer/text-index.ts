// The whole-piece shortcut's index: every token whose bytes are well-formed UTF-8, by its text as
// UTF-16 code units, in an open-addressing hash table, so the encoder can test "is this piece of the
// input a token?" on `text[start, end)` directly, without slicing a string or hashing it through a
// Map. (A piece with a lone surrogate never matches: its JS text has no UTF-8 spelling.)

import { isWellFormedUtf8 } from "./byte-level.js";
import { FNV_BASIS, FNV_PRIME, type TokenTable } from "./token-table.js";

/** Token ids by the UTF-16 text of their bytes. */
export class TokenTextIndex {
  /** All indexed token texts, concatenated. */
  private readonly chars: Uint16Array;
  /** Slot -> [id, start in chars, length, hash]; id -1 marks an empty slot. */
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(table: TokenTable) {
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    const { data, offsets } = table;
    let capacity = 16;
    while (capacity < table.size * 2) capacity *= 2;
    this.mask = capacity - 1;
    this.slots = new Int32Array(capacity * SLOT).fill(-1);
    // An ASCII token's UTF-16 text is its bytes, so the chars arena never exceeds the byte count.
    const chars = new Uint16Array(data.length);
    let at = 0;
    for (let id = 0; id < table.size; id++) {
      const from = offsets[id]!;
      const to = offsets[id + 1]!;
      let ascii = true;
      for (let k = from; k < to; k++) {
        if (data[k]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      const start = at;
      if (ascii) {
        for (let k = from; k < to; k++) chars[at++] = data[k]!;
      } else if (isWellFormedUtf8(data, from, to)) {
        const text = decoder.decode(data.subarray(from, to));
        for (let i = 0; i < text.length; i++) chars[at++] = text.charCodeAt(i);
      } else {
        continue; // a partial character: no piece of text can equal it
      }
      let hash = FNV_BASIS;
      for (let i = start; i < at; i++) hash = Math.imul(hash ^ chars[i]!, FNV_PRIME);
      hash &= 0x7fffffff;
      let slot = hash & this.mask;
      while (this.slots[slot * SLOT]! >= 0) slot = (slot + 1) & this.mask;
      const s = slot * SLOT;
      this.slots[s] = id;
      this.slots[s + 1] = start;
      this.slots[s + 2] = at - start;
      this.slots[s + 3] = hash;
    }
    this.chars = chars.subarray(0, at);
  }

  /** The id of the token whose text is `text[start, end)`, or -1; `hash` is hashChars of it. */
  lookup(text: string, start: number, end: number, hash = hashChars(text, start, end)): number {
    const { slots, chars } = this;
    const length = end - start;
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const at = slot * SLOT;
      const id = slots[at]!;
      if (id < 0) return -1;
      if (slots[at + 3] !== hash || slots[at + 2] !== length) continue;
      const from = slots[at + 1]!;
      let k = 0;
      while (k < length && chars[from + k] === text.charCodeAt(start + k)) k++;
      if (k === length) return id;
    }
  }
}

/** Int32s per slot: id, start, length, hash (16 bytes, four slots per cache line). */
const SLOT = 4;

/** FNV-1a over the UTF-16 code units of `text[start, end)`, as a non-negative int32. */
export function hashChars(text: string, start: number, end: number): number {
  let h = FNV_BASIS;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h & 0x7fffffff;
}
