// Byte-level helpers shared by the loaders, the encoder and the decoder: GPT-2's reversible mapping
// between the 256 byte values and printable characters (how Hugging Face `tokenizer.json` spells
// byte-level BPE tokens, `bytes_to_unicode` in openai/gpt-2 `encoder.py` and in HF tokenizers
// `pre_tokenizers/byte_level.rs`), UTF-8 encoding and strict validation, and "byte keys": a byte
// sequence spelled as a one-byte-per-char (latin1) string so it can key a Map.
//
// JS strings may hold lone surrogates, which UTF-8 cannot encode. Everything here encodes them as
// U+FFFD (EF BF BD), exactly as TextEncoder does and therefore as tiktoken's JS bindings see them.

/** `BYTE_TO_CHAR[b]` is the printable character GPT-2's byte-level alphabet uses for byte `b`. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** Inverse of BYTE_TO_CHAR by char code (the alphabet lies in U+0021..U+0143); -1 where unused. */
const CHAR_TO_BYTE: Int16Array = buildCharToByte();

function buildByteToChar(): string[] {
  // The printable ranges keep their own code point; the other 68 bytes are moved to 256 + n in
  // byte order, so every byte maps to a visible, non-whitespace character.
  const chars: string[] = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : next++);
  }
  return chars;
}

function buildCharToByte(): Int16Array {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((ch, b) => {
    table[ch.charCodeAt(0)] = b;
  });
  return table;
}

/** The byte that byte-level character `code` stands for, or -1 outside the alphabet. */
export function byteLevelCharToByte(code: number): number {
  return code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code]! : -1;
}

/**
 * Bytes of a token spelled in the byte-level alphabet ("Ġhello" -> " hello"), or undefined when the
 * string contains a character outside that alphabet.
 */
export function byteLevelToBytes(token: string): Uint8Array | undefined {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    const b = code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code]! : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}

/** The byte-level spelling of `bytes` (" hello" -> "Ġhello"). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += BYTE_TO_CHAR[b]!;
  return s;
}

const textEncoder = new TextEncoder();

/** UTF-8 bytes of `text`; lone surrogates become U+FFFD (TextEncoder semantics). */
export function utf8Encode(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** A Map key for a byte sequence: one char per byte, char code = byte value. */
export function byteKey(bytes: Uint8Array, start = 0, end = bytes.length): string {
  // String.fromCharCode with a spread/apply is limited by the argument count; chunk long inputs.
  const CHUNK = 4096;
  if (end - start <= CHUNK) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  let s = "";
  for (let i = start; i < end; i += CHUNK) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + CHUNK)) as unknown as number[]);
  }
  return s;
}

/** `text` with every lone surrogate replaced by U+FFFD (String.prototype.toWellFormed, ES2024). */
export function toWellFormed(text: string): string {
  let out: string | undefined;
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    out = (out ?? "") + text.slice(last, i) + "\ufffd";
    last = i + 1;
  }
  return out === undefined ? text : out + text.slice(last);
}

// invalidUtf8Offset and isWellFormedUtf8 live in io/utf8.ts (the GGUF reader checks strings with them).
export { invalidUtf8Offset, isWellFormedUtf8 } from "../io/utf8.js";
