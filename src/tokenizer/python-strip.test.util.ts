// Python's `str.strip()` with no argument, for tests that rebuild Meta's reference code (its
// ChatFormat strips message content). JavaScript's trim() strips a different set: it also removes
// U+FEFF and keeps U+001C..U+001F and U+0085, which Python strips. The library's own copy is
// src/chat/python-compat.ts `pythonStrip`; tokenizer code cannot import chat (chat imports the
// tokenizer), so the tests keep this one. (Named *.test.util.ts: compiled with the tests, not shipped.)

/** Python's str.isspace() set (Unicode White_Space plus the bidi classes B, S, WS: U+001C..U+001F). */
const PY_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");

/** Python's `text.strip()`. */
export function pythonStrip(text: string): string {
  return text.replace(PY_STRIP, "");
}
