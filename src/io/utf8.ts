// Checking that bytes are UTF-8 without decoding them: what TextDecoder("utf-8", { fatal: true })
// accepts, for readers that check untrusted strings at open but decode them later, if ever (the
// GGUF reader's vocabulary arrays), and for the tokenizer's byte-level decoding. The well-formed byte sequences are those of the Unicode
// Standard, Table 3-7 (no overlong forms, no surrogates, nothing above U+10FFFF).

/**
 * The offset of the first byte of `bytes[start, end)` where well-formed UTF-8 (Unicode Table 3-7)
 * breaks, or -1 when it is all well-formed.
 */
export function invalidUtf8Offset(bytes: Uint8Array, start = 0, end = bytes.length): number {
  for (let i = start; i < end; ) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // no overlong forms
      if (b === 0xed) hi = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // no overlong forms
      if (b === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    if (i + need >= end) return i; // truncated sequence
    const b1 = bytes[i + 1]!;
    if (b1 < lo || b1 > hi) return i;
    for (let k = 2; k <= need; k++) {
      const bk = bytes[i + k]!;
      if (bk < 0x80 || bk > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** Whether `bytes[start, end)` is well-formed UTF-8. */
export function isWellFormedUtf8(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  return invalidUtf8Offset(bytes, start, end) < 0;
}
