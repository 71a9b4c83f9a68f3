// The token-level constraint against its slow twin: in every state reached, the trie walk's mask
// equals checking each token's bytes one by one with stepBytes; stop ids are allowed exactly where
// the grammar accepts; states with equal keys share one mask (one walk); and an engine driven by an
// adversarial fake model (logits that prefer what the grammar forbids) still produces documents
// that parse and validate with ajv, ending as soon as they are complete.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import { ArgumentError, UnsupportedError } from "../errors.js";
import type { LlamaModel } from "../model/llama.js";
import { type Grammar, stepBytes } from "./constraint.js";
import { GenerationEngine } from "./engine.js";
import { JsonGrammar } from "./json-grammar.js";
import { compileJsonSchema } from "./json-schema.js";
import { MAX_CACHED_STATES, TokenConstraint, TokenGrammar, TokenVocabulary } from "./token-constraint.js";

const enc = new TextEncoder();
// A small vocabulary: JSON's pieces, multi-byte characters and a split UTF-8 sequence (written with
// \x escapes: raw bytes), then every single byte (as byte-level BPE has), so that any valid prefix
// can be finished; single bytes repeat some pieces' bytes (duplicate spellings).
const NAMED = ['{"', "{", "}", '":', '",', "  ", "\n\n", "ab", "abc", "na", "name", "age", "tags", "12", "true", "tr", "ue", "null", "é", "\xe2\x82", '"}', "}]", "00", "e9", "\\n"];
const PIECES = [...NAMED, ...Array.from({ length: 256 }, (_, b) => String.fromCharCode(b))];
const EOS = PIECES.length;
const SIZE = PIECES.length + 2; // an EOS id and one id without bytes
const raw = (p: string, id: number): boolean => id >= NAMED.length || p === "\xe2\x82";
const BYTES = PIECES.map((p, id) => (raw(p, id) ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : enc.encode(p)));
const bytesOf = (id: number): Uint8Array | undefined => BYTES[id];
const idOf = (p: string): number => PIECES.indexOf(p);
const vocab = new TokenVocabulary(SIZE, bytesOf);

const SCHEMA = {
  type: "object",
  properties: { name: { type: "string", maxLength: 4 }, age: { type: "integer" }, tags: { type: "array", items: { enum: ["a", "ab", null] }, maxItems: 2 } },
  required: ["name", "age"],
  additionalProperties: false,
};

function bruteAllowed<S>(grammar: Grammar<S>, state: S): number[] {
  const ids: number[] = [];
  for (let id = 0; id < SIZE; id++) {
    const b = bytesOf(id);
    if (b !== undefined && b.length > 0 && stepBytes(grammar, state, b) !== undefined) ids.push(id);
  }
  return ids;
}

const allowedOf = (scores: Float32Array): number[] => [...scores.keys()].filter((id) => scores[id] !== -Infinity);

test("the trie walk allows exactly the tokens the byte-by-byte check allows, in every state of a document", () => {
  const grammar = new JsonGrammar(compileJsonSchema(SCHEMA));
  const tokens = new TokenGrammar(grammar, vocab);
  const c = new TokenConstraint(tokens, [EOS]);
  // A document spelled in tokens, through strings, a split character, escapes, numbers and an array.
  const doc = ['{"', "name", '":', " ", '"', "é", "\xe2\x82", "\xac", "\\", "u", "00", "e9", '",', '"', "age", '":', "-", "12", ",", '"', "tags", '":', "[", "null", ",", '"', "ab", '"', "]", "}"];
  for (const piece of doc) {
    const scores = new Float32Array(SIZE);
    c.apply(scores);
    const expected = bruteAllowed(grammar, c.state);
    if (grammar.accepts(c.state)) expected.push(EOS);
    assert.deepEqual(allowedOf(scores), expected, `before ${JSON.stringify(piece)}`);
    const id = idOf(piece);
    assert.ok(expected.includes(id), `${JSON.stringify(piece)} must be allowed`);
    c.accept(id);
  }
  assert.ok(c.complete && c.finished, "the closing brace completes the document and nothing may follow");
  const scores = new Float32Array(SIZE);
  c.apply(scores);
  assert.deepEqual(allowedOf(scores), [EOS]);
  assert.throws(() => c.accept(idOf("}")), UnsupportedError);
});

test("a root number accepts while it can still grow: EOS and digits are both allowed", () => {
  const grammar = new JsonGrammar(compileJsonSchema({ type: "integer" }));
  const c = new TokenConstraint(new TokenGrammar(grammar, vocab), [EOS]);
  c.accept(idOf("12"));
  assert.ok(c.complete && !c.finished);
  const scores = new Float32Array(SIZE);
  c.apply(scores);
  assert.deepEqual(allowedOf(scores), [...bruteAllowed(grammar, c.state), EOS]);
  assert.ok(allowedOf(scores).includes(idOf("0")));
  c.accept(EOS); // a stop id where the document is complete leaves the state as it is
  assert.ok(c.complete);
});

test("states with equal keys share one mask: the inside of a string is walked once", () => {
  const grammar = new JsonGrammar(compileJsonSchema({ type: "array", items: { type: "string" } }));
  const tokens = new TokenGrammar(grammar, vocab);
  const c = new TokenConstraint(tokens, [EOS]);
  const scores = new Float32Array(SIZE);
  for (const piece of ["[", '"', "a", "ab", "abc", "b", "x"]) {
    c.apply(scores.fill(0));
    c.accept(idOf(piece));
  }
  const walks = tokens.walks;
  for (const piece of ["na", "name", "a", "abc"]) {
    c.apply(scores.fill(0));
    c.accept(idOf(piece));
  }
  assert.equal(tokens.walks, walks, "no new walk inside the same string");
  assert.equal(TokenGrammar.of(grammar, vocab), TokenGrammar.of(grammar, vocab), "one TokenGrammar per grammar and vocabulary");
});

test("a full state table starts over: running sequences go on, new ones get a fresh start", () => {
  const grammar = new JsonGrammar(compileJsonSchema({ type: "string", maxLength: 2 * MAX_CACHED_STATES }));
  const tokens = new TokenGrammar(grammar, vocab);
  const oldStart = tokens.start;
  const c = new TokenConstraint(tokens, [EOS]);
  const scores = new Float32Array(SIZE);
  c.accept(idOf('"'));
  // Every character count of a bounded string is its own state.
  for (let n = 0; n < MAX_CACHED_STATES + 10; n++) {
    c.accept(idOf("x"));
    assert.ok(tokens.stateCount <= MAX_CACHED_STATES);
  }
  c.apply(scores.fill(0)); // the state held across the reset still gets its mask
  assert.deepEqual(allowedOf(scores), bruteAllowed(grammar, c.state));
  assert.notEqual(tokens.start, oldStart, "a new start node after the reset");
  c.accept(idOf('"'));
  assert.ok(c.finished);
  const fresh = new TokenConstraint(tokens, [EOS]);
  fresh.accept(idOf('"'));
  fresh.accept(idOf('"'));
  assert.ok(fresh.complete);
});

/** A fake model: fixed logits that favour, in order, the pieces in `prefer` (and EOS most of all). */
function fakeModel(prefer: readonly string[]): LlamaModel {
  const logits = new Float32Array(SIZE).fill(-5);
  prefer.forEach((p, i) => (logits[idOf(p)] = 10 - i * 0.01));
  logits[EOS] = 20;
  return {
    config: { vocabSize: SIZE, maxPositionEmbeddings: 4096, eosTokenIds: [EOS] },
    createKvCache: () => ({ release: () => {} }),
    forwardBatch: async (items: readonly unknown[]) => items.map(() => Float32Array.from(logits)),
  } as unknown as LlamaModel;
}

/** A tokenizer stand-in: the engine reads token bytes (isSpecialId, idToBytes) and decodes text. */
const fakeTokenizer = {
  isSpecialId: (id: number) => id === EOS,
  idToBytes: (id: number) => bytesOf(id),
  createDecodeStream: () => {
    const dec = new TextDecoder();
    return { push: (id: number) => (id === EOS ? "" : dec.decode(bytesOf(id), { stream: true })), flush: () => dec.decode() };
  },
} as never;

test("an adversarial model still yields valid documents, greedy and sampled, ending when complete", async () => {
  // The model prefers closing brackets, EOS and commas: unconstrained it would write "}" forever.
  const model = fakeModel(["}", "]", ",", '"}', "}]", "null", "x", "abc", '"', "1", " ", "\n"]);
  const engine = new GenerationEngine(model, { tokenizer: fakeTokenizer, maxBatch: 4 });
  const ajv = new Ajv({ strict: false });
  const unconstrained = await engine.submit([0], { maxNewTokens: 5 });
  assert.deepEqual(unconstrained.tokenIds, [EOS]);
  for (const options of [{ doSample: false }, ...[1, 2, 3].map((seed) => ({ doSample: true, temperature: 1, topK: 0, seed }))]) {
    const out = await engine.submit([0], { ...options, maxNewTokens: 200, responseFormat: { type: "json_schema", schema: SCHEMA } });
    assert.equal(out.finishReason, "stop", out.text);
    const value = JSON.parse(out.text) as unknown;
    assert.ok(ajv.validate(SCHEMA, value), `${out.text}: ${ajv.errorsText()}`);
  }
});

test("maxNewTokens before the document is complete ends with length and a valid prefix", async () => {
  const engine = new GenerationEngine(fakeModel(["abc", "x"]), { tokenizer: fakeTokenizer });
  const out = await engine.submit([0], { maxNewTokens: 3, responseFormat: { type: "json_object" } });
  assert.equal(out.finishReason, "length");
  assert.equal(out.tokenIds.length, 3);
  const g = new JsonGrammar(compileJsonSchema({ type: "object" }));
  assert.notEqual(stepBytes(g, g.initial(), enc.encode(out.text)), undefined, out.text);
});

test("bad constraint options are ArgumentErrors", () => {
  const engine = new GenerationEngine(fakeModel([]), { tokenizer: fakeTokenizer });
  assert.throws(() => engine.submit([0], { responseFormat: { type: "json_schema", schema: { type: "string", pattern: "(?=a)" } } }), (e: unknown) => e instanceof ArgumentError && /#\/pattern/.test(e.message));
  assert.throws(() => engine.submit([0], { responseFormat: { type: "xml" } as never }), ArgumentError);
  assert.throws(() => engine.submit([0], { constraint: {} as never }), ArgumentError);
  const grammar = new JsonGrammar(compileJsonSchema({ type: "integer" }));
  assert.throws(() => engine.submit([0], { constraint: grammar, responseFormat: { type: "json_object" } }), ArgumentError);
  assert.throws(() => new GenerationEngine(fakeModel([])).submit([0], { constraint: grammar }), ArgumentError);
});
