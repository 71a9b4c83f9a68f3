import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fixturePath } from "../../test/support/paths.js";
import { Rng } from "../tensor/rng.js";
import { BytePairEncoder, bytePairEncodeReference, MAX_RETAINED_SCRATCH_BYTES, PairTable, rankMapOf } from "./bpe.js";
import { invalidUtf8Offset, isWellFormedUtf8, utf8Encode } from "./byte-level.js";
import { encodeOrdinaryReference, OrdinaryEncoder } from "./encoder.js";
import { parseTiktokenBpe } from "./load-tiktoken.js";
import { randomTrickyText } from "./random-text.js";
import { TokenTable } from "./token-table.js";

const modelPath = fixturePath("meta", "meta-tiny-scaled", "tokenizer.model");
const table = parseTiktokenBpe(readFileSync(modelPath, "utf8"), modelPath);
const ranks = rankMapOf(table);
const pairs = PairTable.build(table);
/** One ordinary encoder for the tests below (building its indexes takes a few hundred ms). */
const ordinary = new OrdinaryEncoder(table);

/** A toy vocabulary: all bytes, then the merges in rank order. */
function toyTable(merges: readonly string[]): TokenTable {
  const tokens: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) tokens.push(Uint8Array.of(b));
  for (const m of merges) tokens.push(utf8Encode(m));
  return TokenTable.build(tokens);
}

/** Fast BPE with the array loop (heapFrom large) or the heap (heapFrom 0). */
function fast(t: TokenTable, bytes: Uint8Array, heapFrom = 128): number[] {
  const out: number[] = [];
  new BytePairEncoder(t, heapFrom).encode(bytes, bytes.length, out);
  return out;
}

test("BPE merges the lowest rank first and the leftmost pair on ties", () => {
  for (const heapFrom of [0, 128]) {
    // ranks: "ab"=256, "bc"=257, "abc"=258. "abc": ab (256) beats bc (257), then ab+c = abc.
    const t = toyTable(["ab", "bc", "abc"]);
    assert.deepEqual(fast(t, utf8Encode("abc"), heapFrom), [258]);
    assert.deepEqual(bytePairEncodeReference(rankMapOf(t), utf8Encode("abc")), [258]);
    // "aaa" with "aa"=256: leftmost pair merges first -> [aa][a].
    const t2 = toyTable(["aa"]);
    assert.deepEqual(fast(t2, utf8Encode("aaa"), heapFrom), [256, 97]);
    assert.deepEqual(bytePairEncodeReference(rankMapOf(t2), utf8Encode("aaa")), [256, 97]);
    // Any adjacent parts whose concatenation is a token merge: [b][cd] -> bcd.
    const t3 = toyTable(["cd", "bcd"]);
    assert.deepEqual(fast(t3, utf8Encode("bcd"), heapFrom), [257]);
    // A token no chain of pair merges reaches stays unreachable by BPE alone (the encoder's
    // whole-piece rule, ignore_merges, is what emits it).
    const t4 = toyTable(["bcd"]);
    assert.deepEqual(fast(t4, utf8Encode("bcd"), heapFrom), [98, 99, 100]);
    assert.deepEqual(bytePairEncodeReference(rankMapOf(t4), utf8Encode("bcd")), [98, 99, 100]);
  }
});

test("the pair table holds every split of every token into two tokens (HF's merges)", () => {
  // The bundled tokenizer.json lists 280147 merges, generated the same way from these ranks.
  assert.equal(pairs.size, 280147);
  const toy = PairTable.build(toyTable(["ab", "bc", "abc"]));
  assert.equal(toy.size, 4); // a+b, b+c, ab+c, a+bc
  assert.equal(toy.get(256, 99), 258);
  assert.equal(toy.get(97, 257), 258);
  assert.equal(toy.get(98, 97), -1);
});

test("fast BPE (array loop and heap) equals the reference on random byte strings of the Llama 3 vocabulary", () => {
  const rng = new Rng(7);
  const short = new BytePairEncoder(table, 1 << 30, pairs);
  const heap = new BytePairEncoder(table, 0, pairs);
  for (let i = 0; i < 1500; i++) {
    const n = 1 + rng.int(i < 1000 ? 12 : 80);
    const bytes = new Uint8Array(n);
    // Mostly text-like bytes so that merges happen, some arbitrary bytes.
    const text = utf8Encode(randomTrickyText(rng, { maxFragments: 3 }));
    for (let k = 0; k < n; k++) bytes[k] = rng.int(4) === 0 ? rng.int(256) : text[k % text.length]!;
    const expected = bytePairEncodeReference(ranks, bytes);
    for (const encoder of [short, heap]) {
      const out: number[] = [];
      encoder.encode(bytes, n, out);
      assert.deepEqual(out, expected, `bytes ${Array.from(bytes).join(",")}`);
    }
  }
});

test("fast BPE does near-linear work on long repetitive pieces (steps counted, not timed)", () => {
  // Speed is measured by `npm run bench -- tokenizer`; here the algorithm's work is counted: the heap
  // gets one push per byte pair and at most two per merge (< 3n) and one pop per push, so steps < 6n
  // (each O(log n)). The array loop rescans the piece after each merge (quadratic): the count shows it.
  for (const unit of ["^", " ", "a", "é", "😀", "ma"]) {
    const bytes = utf8Encode(unit.repeat(20000));
    const n = bytes.length;
    const encoder = new BytePairEncoder(table, 48, pairs);
    const out: number[] = [];
    encoder.encode(bytes, n, out);
    assert.ok(encoder.steps < 6 * n, `${JSON.stringify(unit)} x 20000: ${encoder.steps} steps for ${n} bytes`);
    assert.deepEqual(new Uint8Array(Buffer.concat(out.map((id) => table.bytes(id)))), bytes);
    // Exactness on a shorter run of the same unit (~600 bytes), where the reference is affordable.
    const head = utf8Encode(unit.repeat(Math.ceil(600 / utf8Encode(unit).length)));
    const headOut: number[] = [];
    encoder.encode(head, head.length, headOut);
    assert.deepEqual(headOut, bytePairEncodeReference(ranks, head), `${JSON.stringify(unit)}, ${head.length} bytes`);
  }
  const arrayLoop = new BytePairEncoder(table, 1 << 30, pairs);
  const run = utf8Encode("a".repeat(2000));
  arrayLoop.encode(run, run.length, []);
  assert.ok(arrayLoop.steps > 100 * run.length, `array loop: ${arrayLoop.steps} steps`);
});

test("the heap holds pairs made stale by merges: more entries than bytes are kept, not dropped", () => {
  // "bc" merges first everywhere; each merge pushes abc and bcd while ab and cd stay in the heap,
  // so "abcd" x m reaches 5m heap entries for 4m bytes. Fixed-size heap arrays lost entries and
  // gave [abc][d] instead of [abcd]; with Llama 3's ranks "ma" repeated reaches 1.5n.
  const t = toyTable(["bc", "abc", "bcd", "abcd", "ab", "cd", "da"]);
  for (const n of [64, 256, 1024]) {
    const bytes = utf8Encode("abcd".repeat(n / 4));
    assert.deepEqual(fast(t, bytes, 0), bytePairEncodeReference(rankMapOf(t), bytes), `abcd x ${n / 4}`);
  }
  for (const n of [256, 1024]) {
    const bytes = utf8Encode("ma".repeat(n / 2));
    const out: number[] = [];
    new BytePairEncoder(table, 0, pairs).encode(bytes, n, out);
    assert.deepEqual(out, bytePairEncodeReference(ranks, bytes), `ma x ${n / 2}`);
  }
});

test("scratch buffers grown for a huge piece are released: retained memory stays under the threshold", () => {
  const bpe = new BytePairEncoder(table, 48, pairs);
  const huge = utf8Encode("a".repeat(1 << 17)); // 128 KiB: its scratch is 3.5 MB
  bpe.encode(huge, huge.length, []);
  assert.ok(bpe.scratchBytes <= MAX_RETAINED_SCRATCH_BYTES, `BytePairEncoder keeps ${bpe.scratchBytes} bytes`);
  const encoder = ordinary;
  const big = "a".repeat(1 << 17);
  const out: number[] = [];
  encoder.encodeInto(big, 0, big.length, out);
  assert.ok(encoder.scratchBytes <= 2 * MAX_RETAINED_SCRATCH_BYTES, `OrdinaryEncoder keeps ${encoder.scratchBytes} bytes`);
  // Still exact after the release, for long and short pieces alike.
  const small: number[] = [];
  encoder.encodeInto("Hello wörld, zzzzqqqq", 0, 21, small);
  assert.deepEqual(small, encodeOrdinaryReference(ranks, "Hello wörld, zzzzqqqq"));
  const again: number[] = [];
  encoder.encodeInto(big, 0, big.length, again);
  assert.deepEqual(again, out);
  // Pieces within the threshold keep their buffers (no reallocation per piece).
  const medium = utf8Encode("x".repeat(1500));
  bpe.encode(medium, medium.length, []);
  const kept = bpe.scratchBytes;
  assert.ok(kept > 16 * 1500 && kept <= MAX_RETAINED_SCRATCH_BYTES);
});

test("the encoder equals the reference pipeline and keeps the whole-piece rule", () => {
  const encoder = ordinary;
  const rng = new Rng(99);
  for (let i = 0; i < 600; i++) {
    const text = randomTrickyText(rng, { loneSurrogates: true });
    const out: number[] = [];
    encoder.encodeInto(text, 0, text.length, out);
    assert.deepEqual(out, encodeOrdinaryReference(ranks, text), JSON.stringify(text));
    // Twice: the second run is served from the piece cache.
    const again: number[] = [];
    encoder.encodeInto(text, 0, text.length, again);
    assert.deepEqual(again, out);
  }
});

test("the table rejects nothing it should keep and finds every token by its bytes", () => {
  for (let id = 0; id < table.size; id += 97) {
    const bytes = table.bytes(id);
    assert.equal(table.lookup(bytes, 0, bytes.length), id);
  }
  assert.equal(table.lookup(utf8Encode("definitely not one token"), 0, 24), -1);
  assert.equal(table.missingByte(), -1);
});

test("UTF-8 validation follows Unicode Table 3-7", () => {
  const ok = (...b: number[]): boolean => isWellFormedUtf8(Uint8Array.from(b), 0, b.length);
  assert.ok(ok(0x41, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80));
  assert.ok(!ok(0xc0, 0x80)); // overlong
  assert.ok(!ok(0xe0, 0x80, 0x80)); // overlong 3-byte
  assert.ok(!ok(0xed, 0xa0, 0x80)); // surrogate
  assert.ok(!ok(0xf4, 0x90, 0x80, 0x80)); // above U+10FFFF
  assert.ok(!ok(0xe2, 0x82)); // truncated
  assert.ok(!ok(0x80)); // lone continuation
  assert.equal(invalidUtf8Offset(Uint8Array.of(0x41, 0x42, 0xe2, 0x28, 0xa1)), 2);
  assert.equal(invalidUtf8Offset(Uint8Array.of(0x41)), -1);
});
