import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fixturePath } from "../../test/support/paths.js";
import { ArgumentError, TokenizerError } from "../errors.js";
import { BYTE_TO_CHAR } from "./byte-level.js";
import { MAX_CACHED_MATCHERS, Tokenizer } from "./tokenizer.js";

const modelText = readFileSync(fixturePath("meta", "meta-tiny-scaled", "tokenizer.model"), "utf8");
const meta31 = Tokenizer.fromTiktoken(modelText, { specialTokenNames: "3.1" });
const meta30 = Tokenizer.fromTiktoken(modelText, { specialTokenNames: "3.0" });
/** The id of the single-byte token for byte `b`. */
const byteId = (tok: Tokenizer, b: number): number => tok.tokenToId(BYTE_TO_CHAR[b]!)!;

test("Llama 3 constants: BOS, EOS, stop ids, vocabulary size, special tokens", () => {
  for (const tok of [meta30, meta31]) {
    assert.equal(tok.bosToken, "<|begin_of_text|>");
    assert.equal(tok.bosTokenId, 128000);
    assert.equal(tok.eosToken, "<|end_of_text|>");
    assert.equal(tok.eosTokenId, 128001);
    assert.equal(tok.vocabSize, 128256);
    assert.equal(tok.specialTokens.length, 256);
    assert.equal(tok.padTokenId, undefined);
    assert.equal(tok.chatTemplate, undefined);
    assert.ok(tok.addBosToken && !tok.addEosToken);
    assert.ok(tok.isSpecialId(128000) && tok.isSpecialId(128255) && !tok.isSpecialId(127999));
  }
  assert.deepEqual(meta30.eosTokenIds, [128001, 128009]);
  assert.deepEqual(meta31.eosTokenIds, [128001, 128008, 128009]);
  // The names that moved between 3.0 and 3.1 (fixtures README: reserved_9 is 128014 in 3.0).
  assert.equal(meta30.tokenToId("<|reserved_special_token_9|>"), 128014);
  assert.equal(meta31.tokenToId("<|reserved_special_token_9|>"), 128017);
  assert.equal(meta30.tokenToId("<|eom_id|>"), undefined);
  assert.equal(meta31.idToToken(128008), "<|eom_id|>");
  assert.equal(meta31.idToToken(128004), "<|finetune_right_pad_id|>");
  assert.equal(meta31.idToToken(128010), "<|python_tag|>");
});

test("encode: BOS by default, none without addSpecialTokens, special tokens per allowedSpecial", () => {
  const text = "Hi<|eot_id|><|start_header_id|>";
  const hi = meta31.encode("Hi", { addSpecialTokens: false });
  assert.deepEqual(meta31.encode("Hi"), [128000, ...hi]);
  assert.deepEqual(meta31.encode(text, { addSpecialTokens: false }), [...hi, 128009, 128006]);
  const asText = meta31.encode(text, { addSpecialTokens: false, allowedSpecial: "none" });
  assert.ok(!asText.some((id) => id >= 128000));
  assert.equal(meta31.decode(asText), text);
  const onlyEot = meta31.encode(text, { addSpecialTokens: false, allowedSpecial: new Set(["<|eot_id|>"]) });
  assert.deepEqual(onlyEot.slice(0, hi.length + 1), [...hi, 128009]);
  assert.ok(!onlyEot.includes(128006));
  assert.throws(() => meta31.encode(text, { allowedSpecial: new Set(["<|nope|>"]) }), ArgumentError);
  assert.deepEqual(meta31.encode(""), [128000]);
  assert.deepEqual(meta31.encode("", { addSpecialTokens: false }), []);
});

test("encode: lone surrogates are encoded as U+FFFD", () => {
  const fffd = meta31.encode("a\ufffdb", { addSpecialTokens: false });
  assert.deepEqual(meta31.encode("a\ud800b", { addSpecialTokens: false }), fffd);
  assert.deepEqual(meta31.encode("a\udfffb", { addSpecialTokens: false }), fffd);
  assert.equal(meta31.decode(meta31.encode("x\ud83d")), "<|begin_of_text|>x\ufffd");
});

test("decode: special tokens rendered or skipped, BOM kept, invalid UTF-8 replaced like errors='replace'", () => {
  const ids = meta31.encode("Hello<|eot_id|>");
  assert.equal(meta31.decode(ids), "<|begin_of_text|>Hello<|eot_id|>");
  assert.equal(meta31.decode(ids, { skipSpecialTokens: true }), "Hello");
  assert.equal(meta31.decode(meta31.encode("\ufeffBOM", { addSpecialTokens: false })), "\ufeffBOM");
  const b = (...bytes: number[]): number[] => bytes.map((x) => byteId(meta31, x));
  // Maximal-subpart replacement: E2 82 is one incomplete sequence -> one U+FFFD; C0 and 80 are each invalid.
  assert.equal(meta31.decode(b(0x61, 0xe2, 0x82, 0x62)), "a\ufffdb");
  assert.equal(meta31.decode(b(0xc0, 0x80)), "\ufffd\ufffd");
  assert.equal(meta31.decode(b(0xf0, 0x9f, 0xa6)), "\ufffd");
  assert.equal(meta31.decode(b(0xf0, 0x9f, 0xa6, 0x99)), "🦙");
  assert.equal(meta31.decode(b(0xed, 0xa0, 0x80)), "\ufffd\ufffd\ufffd"); // encoded surrogate
});

test("decode: out-of-range and non-integer ids are TokenizerErrors naming the id and its index", () => {
  for (const [bad, what] of [[128256, "not in the vocabulary"], [-1, "not in the vocabulary"], [1.5, "not an integer"], [Number.NaN, "not an integer"]] as const) {
    assert.throws(
      () => meta31.decode([9906, bad]),
      (e: unknown) => e instanceof TokenizerError && e.message.includes("ids[1]") && e.message.includes(String(bad)) && e.message.includes(what),
    );
  }
  const stream = meta31.createDecodeStream();
  stream.push(9906);
  assert.throws(() => stream.push(200000), (e: unknown) => e instanceof TokenizerError && e.message.includes("#1"));
});

test("decode: HF clean_up_tokenization_spaces only when asked", () => {
  const ids = meta31.encode("a , b . it 's", { addSpecialTokens: false });
  assert.equal(meta31.decode(ids), "a , b . it 's");
  assert.equal(meta31.decode(ids, { cleanUpTokenizationSpaces: true }), "a, b. it's");
});

test("tokenToId and idToToken use the byte-level spelling and invert each other", () => {
  assert.equal(meta31.tokenToId("Ġworld"), 1917);
  assert.equal(meta31.idToToken(1917), "Ġworld");
  assert.equal(meta31.tokenToId(" world"), undefined); // the text form is not the token name
  assert.equal(meta31.tokenToId("<|eot_id|>"), 128009);
  for (const id of [-1, 128256, 0.5]) assert.equal(meta31.idToToken(id), undefined);
  for (let id = 0; id < meta31.vocabSize; id += 7) assert.equal(meta31.tokenToId(meta31.idToToken(id)!), id);
  assert.deepEqual(meta31.idToBytes(1917), new TextEncoder().encode(" world"));
});

test("addSpecialTokens: a new pad token gets id 128256 and is known to encode and decode", () => {
  const tok = Tokenizer.fromTiktoken(modelText);
  assert.equal(tok.addSpecialTokens({ padToken: "<pad>" }), 1);
  assert.equal(tok.padToken, "<pad>");
  assert.equal(tok.padTokenId, 128256);
  assert.equal(tok.vocabSize, 128257);
  assert.ok(tok.isSpecialId(128256));
  const ids = tok.encode("a<pad><pad>", { addSpecialTokens: false });
  assert.deepEqual(ids.slice(-2), [128256, 128256]);
  assert.equal(tok.decode(ids), "a<pad><pad>");
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "a");
  assert.ok(!tok.encode("<pad>", { allowedSpecial: "none" }).includes(128256));
  // Existing tokens are reused; new ones continue the numbering.
  assert.equal(tok.addSpecialTokens({ additionalSpecialTokens: ["<tool>", "<tool>", "<|eot_id|>"] }), 1);
  assert.equal(tok.tokenToId("<tool>"), 128257);
  assert.equal(tok.addSpecialTokens({ padToken: "<|finetune_right_pad_id|>" }), 0);
  assert.equal(tok.padTokenId, 128004);
  assert.throws(() => tok.addSpecialTokens({ padToken: "" }), ArgumentError);
  // The other instance is unaffected.
  assert.equal(meta31.vocabSize, 128256);
});

test("public API arguments are checked at run time: wrong types are ArgumentErrors, not silent defaults", () => {
  const tok = meta31;
  // Calls a JavaScript caller can make that TypeScript would refuse.
  const loose = tok as unknown as {
    encode(text: unknown, options?: unknown): number[];
    decode(ids: unknown, options?: unknown): string;
    createDecodeStream(options?: unknown): unknown;
    addSpecialTokens(tokens: unknown): number;
  };
  const cases: ReadonlyArray<readonly [string, () => unknown, RegExp]> = [
    ["encode(123)", () => loose.encode(123), /encode: text must be a string, got 123/],
    ["encode(undefined)", () => loose.encode(undefined), /text must be a string/],
    ["encode options null", () => loose.encode("a", null), /options must be an object/],
    ["encode HF-style option name", () => loose.encode("a", { add_special_tokens: false }), /unknown option "add_special_tokens"/],
    ["addSpecialTokens not boolean", () => loose.encode("a", { addSpecialTokens: "no" }), /addSpecialTokens must be a boolean/],
    ["allowedSpecial ALL", () => loose.encode("a", { allowedSpecial: "ALL" }), /allowedSpecial must be "all", "none", a Set or an array/],
    ["allowedSpecial number", () => loose.encode("a", { allowedSpecial: 1 }), /allowedSpecial must be/],
    ["allowedSpecial holds a number", () => loose.encode("a", { allowedSpecial: [128009] }), /allowedSpecial holds 128009, not a string/],
    ["allowedSpecial unknown name", () => loose.encode("a", { allowedSpecial: ["<|eot|>"] }), /"<\|eot\|>", which is not a special token/],
    ["decode(string)", () => loose.decode("9906"), /decode: ids must be an array of token ids, got "9906"/],
    ["decode hole", () => loose.decode([9906, , 1917]), /decode: ids\[1\] must be a token id \(a number\), got undefined/],
    ["decode string id", () => loose.decode([9906, "1917"]), /ids\[1\] must be a token id \(a number\), got "1917"/],
    ["decode option", () => loose.decode([9906], { skipSpecialTokens: 1 }), /skipSpecialTokens must be a boolean/],
    ["stream option", () => loose.createDecodeStream({ skip_special_tokens: true }), /unknown option "skip_special_tokens"/],
    ["pad token number", () => loose.addSpecialTokens({ padToken: 5 }), /padToken must be a string, got 5/],
    ["additional not array", () => loose.addSpecialTokens({ additionalSpecialTokens: "<a>" }), /additionalSpecialTokens must be an array/],
    ["additional holds null", () => loose.addSpecialTokens({ additionalSpecialTokens: ["<a>", null] }), /additionalSpecialTokens\[1\] must be a string/],
    ["addSpecialTokens(null)", () => loose.addSpecialTokens(null), /options must be an object/],
  ];
  for (const [name, run, message] of cases) {
    assert.throws(run, (e: unknown) => e instanceof ArgumentError && message.test(e.message), name);
  }
  // Nothing was added by the refused calls (checked before any change); the stream checks its ids.
  assert.equal(tok.vocabSize, 128256);
  const stream = tok.createDecodeStream();
  assert.throws(() => stream.push(undefined as unknown as number), ArgumentError);
  // A typed array of ids (tiktoken's JS output) decodes like the array.
  assert.equal(tok.decode(Uint32Array.of(9906, 1917) as unknown as number[]), "Hello world");
});

test("allowedSpecial: an array equals the same Set; a Set is read at each call, not by identity", () => {
  const tok = meta31;
  const text = "a<|eot_id|>b<|start_header_id|>c";
  const opts = (allowedSpecial: ReadonlySet<string> | readonly string[]) => ({ addSpecialTokens: false, allowedSpecial });
  const names = new Set(["<|eot_id|>"]);
  const withSet = tok.encode(text, opts(names));
  assert.deepEqual(tok.encode(text, opts(["<|eot_id|>"])), withSet);
  assert.deepEqual(tok.encode(text, opts(["<|eot_id|>", "<|eot_id|>"])), withSet);
  assert.ok(withSet.includes(128009) && !withSet.includes(128006));
  names.add("<|start_header_id|>");
  const both = tok.encode(text, opts(names));
  assert.ok(both.includes(128009) && both.includes(128006));
  assert.deepEqual(tok.encode(text, opts(["<|start_header_id|>", "<|eot_id|>"])), both);
  assert.deepEqual(tok.encode(text, opts([])), tok.encode(text, { addSpecialTokens: false, allowedSpecial: "none" }));
});

test("allowedSpecial matchers are cached per distinct set of names, in a bounded cache", () => {
  const tok = Tokenizer.fromTiktoken(modelText);
  // The cache is private; read its size through the object for this test only.
  const cached = (): number => (tok as unknown as { matchers: Map<string, unknown> }).matchers.size;
  tok.encode("x<|eot_id|>", { allowedSpecial: new Set(["<|eot_id|>"]) });
  tok.encode("x<|eot_id|>", { allowedSpecial: ["<|eot_id|>"] });
  tok.encode("x<|eot_id|>", { allowedSpecial: new Set(["<|eot_id|>"]) });
  assert.equal(cached(), 1); // one matcher for the three equal sets (it was rebuilt per call)
  for (let k = 0; k < 3 * MAX_CACHED_MATCHERS; k++) {
    const name = `<|reserved_special_token_${10 + k}|>`;
    assert.deepEqual(tok.encode(`a${name}`, { addSpecialTokens: false, allowedSpecial: [name] }).slice(-1), [tok.tokenToId(name)]);
  }
  assert.equal(cached(), MAX_CACHED_MATCHERS);
  // A new special token invalidates them all.
  tok.addSpecialTokens({ additionalSpecialTokens: ["<tool>"] });
  assert.equal(cached(), 0);
  assert.deepEqual(tok.encode("<tool>", { addSpecialTokens: false, allowedSpecial: ["<tool>"] }), [128256]);
});
