// Checking that bytes are UTF-8 without decoding them: what TextDecoder("utf-8", { fatal: true })
// accepts, for readers that check untrusted strings at open but decode them later, if ever (the
// GGUF reader's vocabulary arrays). The well-formed byte sequences are those of the Unicode
// Standard, Table 3-7 (no overlong forms, no surrogates, nothing above U+10FFFF).

/**
 * Whether bytes[start, end) is well-formed UTF-8.
 * @example isWellFormedUtf8(new TextEncoder().encode("héllo"), 0, 6) // true
 */
export function isWellFormedUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    // Continuation bytes after the lead, and the range of the first (Table 3-7's narrowed rows).
    let n: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) n = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      n = 2;
      if (lead === 0xe0) low = 0xa0;
      else if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      n = 3;
      if (lead === 0xf0) low = 0x90;
      else if (lead === 0xf4) high = 0x8f;
    } else return false;
    if (i + n >= end) return false;
    const first = bytes[i + 1]!;
    if (first < low || first > high) return false;
    for (let k = 2; k <= n; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return false;
    i += n + 1;
  }
  return true;
}
