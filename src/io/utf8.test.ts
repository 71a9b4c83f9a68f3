import assert from "node:assert/strict";
import test from "node:test";
import { Rng } from "../tensor/rng.js";
import { isWellFormedUtf8 } from "./utf8.js";

const fatal = new TextDecoder("utf-8", { fatal: true });
/** The reference: whether the platform's strict decoder accepts the bytes. */
function decodes(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

test("isWellFormedUtf8 agrees with TextDecoder's fatal mode on the edges of Table 3-7", () => {
  const cases: [string, number[]][] = [
    ["empty", []], ["ascii", [0x00, 0x41, 0x7f]], ["2-byte min/max", [0xc2, 0x80, 0xdf, 0xbf]], ["overlong 2-byte", [0xc0, 0x80]],
    ["overlong C1", [0xc1, 0xbf]], ["3-byte min", [0xe0, 0xa0, 0x80]], ["overlong 3-byte", [0xe0, 0x9f, 0xbf]],
    ["last before surrogates", [0xed, 0x9f, 0xbf]], ["surrogate", [0xed, 0xa0, 0x80]], ["BOM", [0xef, 0xbb, 0xbf]],
    ["4-byte min", [0xf0, 0x90, 0x80, 0x80]], ["overlong 4-byte", [0xf0, 0x8f, 0xbf, 0xbf]], ["U+10FFFF", [0xf4, 0x8f, 0xbf, 0xbf]],
    ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]], ["F5 lead", [0xf5, 0x80, 0x80, 0x80]], ["lone continuation", [0x80]],
    ["truncated 3-byte", [0xe2, 0x82]], ["truncated 4-byte", [0xf0, 0x9f, 0x98]], ["bad second continuation", [0xe2, 0x82, 0x41]],
    ["FF", [0xff]],
  ];
  for (const [name, values] of cases) {
    const bytes = Uint8Array.from(values);
    assert.equal(isWellFormedUtf8(bytes, 0, bytes.length), decodes(bytes), name);
  }
});

test("isWellFormedUtf8 agrees with TextDecoder's fatal mode on seeded random byte strings and on any sub-range", () => {
  const rng = new Rng(7);
  // Bytes drawn mostly from lead and continuation ranges, so about half the strings are well formed.
  const pool = [0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
  let valid = 0;
  for (let trial = 0; trial < 20000; trial++) {
    const bytes = Uint8Array.from({ length: 1 + rng.int(8) }, () => (rng.int(4) === 0 ? pool[rng.int(pool.length)]! : 0x80 + rng.int(64)));
    if (rng.int(3) === 0) bytes[0] = 0xc2 + rng.int(0xf5 - 0xc2);
    const start = rng.int(bytes.length);
    const end = start + rng.int(bytes.length - start + 1);
    const expected = decodes(bytes.subarray(start, end));
    if (expected) valid++;
    assert.equal(isWellFormedUtf8(bytes, start, end), expected, `[${[...bytes].map((b) => b.toString(16)).join(" ")}] from ${start} to ${end}`);
  }
  assert.ok(valid > 2000 && valid < 18000, `both outcomes are exercised (${valid} of 20000 well formed)`);
});
