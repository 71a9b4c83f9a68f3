// The JSON-schema compiler and the byte-level JSON matcher: documents the matcher accepts must
// parse and validate with ajv (an independent validator), documents that break the schema must be
// refused (at the byte where they leave it, or by not being complete), and unsupported keywords
// must be refused with a SchemaError naming the keyword's JSON pointer.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { stepBytes } from "./constraint.js";
import { JsonGrammar } from "./json-grammar.js";
import { SchemaError, anyJsonObject, compileJsonSchema } from "./json-schema.js";

const enc = new TextEncoder();

function matches(schema: unknown, text: string): boolean {
  const g = new JsonGrammar(schema === "json_object" ? anyJsonObject() : compileJsonSchema(schema));
  const s = stepBytes(g, g.initial(), enc.encode(text));
  return s !== undefined && g.accepts(s);
}

const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 5 },
    age: { type: "integer" },
    tags: { type: "array", items: { enum: ["a", "b", 3] }, minItems: 1, maxItems: 2 },
    nick: { type: ["string", "null"] },
    kind: { const: { x: 1 } },
  },
  required: ["name", "age", "tags", "kind"],
  additionalProperties: false,
};

const TREE = {
  $defs: { node: { type: "object", properties: { v: { type: "number" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } }, required: ["v", "kids"], additionalProperties: false } },
  anyOf: [{ $ref: "#/$defs/node" }, { type: "boolean" }],
};

const CASES: [unknown, string, boolean][] = [
  [PERSON, '{"name":"Al","age":-3,"tags":["a",3],"kind":{"x":1}}', true],
  [PERSON, '{ "name" : "Al" ,\n "age": 0, "tags": ["b"], "nick": null, "kind": {"x":1} }', true],
  [PERSON, '{"name":"Al","age":3,"tags":["a"],"nick":"é\\u00e9\\n","kind":{"x":1}}', true],
  [PERSON, '{"name":"Alfred","age":3,"tags":["a"],"kind":{"x":1}}', false], // maxLength 5
  [PERSON, '{"name":"Al","age":3.5,"tags":["a"],"kind":{"x":1}}', false], // integer
  [PERSON, '{"name":"Al","age":3,"tags":[],"kind":{"x":1}}', false], // minItems
  [PERSON, '{"name":"Al","age":3,"tags":["a","b","a"],"kind":{"x":1}}', false], // maxItems
  [PERSON, '{"name":"Al","age":3,"tags":["c"],"kind":{"x":1}}', false], // enum
  [PERSON, '{"name":"Al","age":3,"tags":["a"]}', false], // required kind
  [PERSON, '{"name":"Al","age":3,"tags":["a"],"kind":{"x":1},"z":1}', false], // additionalProperties
  [PERSON, ' {"name":"Al","age":3,"tags":["a"],"kind":{"x":1}}', false], // no leading whitespace
  [PERSON, '{"name":"A\\ud800","age":3,"tags":["a"],"kind":{"x":1}}', false], // lone surrogate
  [TREE, '{"v":1.5e3,"kids":[{"v":-0.25,"kids":[]},{"v":2,"kids":[{"v":0,"kids":[]}]}]}', true],
  [TREE, "true", true],
  [TREE, '{"v":01,"kids":[]}', false],
  [TREE, '{"v":1,"kids":[{"v":1}]}', false],
  ["json_object", '{"a":[1,{"b":null}],"c":"d","e":true}', true],
  ["json_object", "[1]", false],
  [{ type: "number" }, "12", true],
  [{ type: "number" }, "1.", false],
];

test("the matcher accepts exactly the documents ajv validates (and JSON.parse reads)", () => {
  const ajv = new Ajv({ strict: false });
  for (const [schema, text, ok] of CASES) {
    assert.equal(matches(schema, text), ok, `${text}`);
    if (!ok) continue;
    const value = JSON.parse(text) as unknown;
    const valid = schema === "json_object" ? typeof value === "object" && value !== null && !Array.isArray(value) : ajv.validate(schema as object, value);
    assert.ok(valid, `ajv rejects ${text}: ${ajv.errorsText()}`);
  }
});

/** Schemas with numeric bounds, zod's spellings among them (`z.number().int()`, `.positive()`, draft 4's boolean form). */
const BOUNDED: object[] = [
  { type: "integer", minimum: -5, maximum: 12 },
  { type: "integer", exclusiveMinimum: 0, exclusiveMaximum: 100 },
  { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 },
  { type: "integer", minimum: 1.5 },
  { type: "integer", maximum: -3.5 },
  { type: "integer", minimum: 5, exclusiveMinimum: true, maximum: 20 },
  { type: "number", minimum: 0, maximum: 1 },
  { type: "number", exclusiveMinimum: 0, maximum: 1 },
  { type: "number", minimum: -2.5, exclusiveMaximum: 3.75 },
  { type: "number", minimum: 0.1 },
  { type: "number", maximum: -0.3 },
  { type: "number", minimum: 17, maximum: 17 },
  { type: ["number", "null"], minimum: 10, maximum: 11 },
];

function* numberTexts(): Generator<string> {
  for (let i = -130; i <= 130; i++) yield String(i);
  for (const t of ["-0", "0.0", "0.1", "0.09999999999999999", "0.1000000000000001", "0.10000000000000001", "1.0", "1.00000000000001", "0.99999999999999999", "3.75", "3.7499999999999999", "-2.5", "-2.5000000000000001", "-2.4", "17.0", "17.0000000000000001", "-0.3", "-0.30000000000000004", "-0.29999999999999999", "10.5", "11.25", "9007199254740991", "9007199254740992", "-9007199254740991", "-9007199254740992", "1e1", "1.5e1", "null", "01", "-", "1.", "20", "5", "6"]) yield t;
}

/** The same schema for ajv, which reads draft 7 (draft 4's boolean exclusiveMinimum rewritten). */
function forAjv(schema: object): object {
  const s = schema as Record<string, unknown>;
  return s["exclusiveMinimum"] === true ? { ...s, exclusiveMinimum: s["minimum"], minimum: undefined } : schema;
}

test("bounded numbers: the matcher accepts a number exactly when ajv validates it (exponent-free decimals)", () => {
  const ajv = new Ajv({ strict: false });
  for (const schema of BOUNDED) {
    const integer = (schema as { type: unknown }).type === "integer";
    for (const text of numberTexts()) {
      let valid = false;
      try {
        valid = ajv.validate(forAjv(schema), JSON.parse(text) as unknown);
      } catch {
        // Not JSON.
      }
      const matched = matches(schema, text);
      assert.ok(!matched || valid, `${JSON.stringify(schema)} accepts ${text}, which ajv refuses`);
      // ajv compares float64s, so a decimal within an ulp of a bound parses onto it and passes; the
      // matcher decides in exact decimals and refuses it. Texts of 16 or more significant digits are
      // therefore only checked one way (above). Bounded numbers are also written without an exponent,
      // and integers without a fraction ("1.0" is an integer to ajv).
      if (text.replace(/^-?0*\.?0*/, "").replace(/\D/g, "").length >= 16) continue;
      const expected = valid && !/[eE]/.test(text) && !(integer && text.includes("."));
      assert.equal(matched, expected, `${JSON.stringify(schema)} on ${text}`);
    }
  }
});

test("bounded numbers: every prefix the matcher allows can be finished (random walks end in valid documents)", () => {
  const ajv = new Ajv({ strict: false });
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  for (const schema of [...BOUNDED, { type: "array", items: { type: "integer", minimum: 3, maximum: 300 }, maxItems: 3 }]) {
    const g = new JsonGrammar(compileJsonSchema(schema));
    for (let walk = 0; walk < 150; walk++) {
      let state = g.initial();
      let text = "";
      for (;;) {
        const next = [...Array(256).keys()].flatMap((b) => { const s = g.step(state, b); return s === undefined ? [] : [[b, s] as const]; });
        // A live state either accepts or has a next byte: a dead end would stall the sampler.
        assert.ok(next.length > 0 || g.accepts(state), `${JSON.stringify(schema)}: dead end after ${text}`);
        if (next.length === 0 || (g.accepts(state) && rand(4) === 0) || text.length > 40) break;
        const [b, s] = next[rand(next.length)]!;
        state = s;
        text += String.fromCharCode(b);
      }
      if (!g.accepts(state)) continue; // cut at 40 bytes: only the prefix property is checked
      assert.ok(ajv.validate(forAjv(schema), JSON.parse(text) as unknown), `${JSON.stringify(schema)}: ${text}: ${ajv.errorsText()}`);
    }
  }
});

/** A random walk through the grammar: each step a random allowed byte; stops at random once complete. */
function walk(g: JsonGrammar, rand: (n: number) => number, cut: number): { text: string; complete: boolean } {
  let state = g.initial();
  const bytes: number[] = [];
  for (;;) {
    const next = [...Array(256).keys()].flatMap((b) => { const s = g.step(state, b); return s === undefined ? [] : [[b, s] as const]; });
    assert.ok(next.length > 0 || g.accepts(state), `dead end after ${new TextDecoder().decode(new Uint8Array(bytes))}`);
    if (next.length === 0 || (g.accepts(state) && rand(3) === 0) || bytes.length > cut) break;
    const [b, s] = next[rand(next.length)]!;
    state = s;
    bytes.push(b);
  }
  const complete = g.accepts(state);
  return { text: complete ? new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes)) : "", complete };
}

// zod's own patterns (`z.string().email()`, `.uuid()`, `.datetime()`) beside their formats, and a
// bounded pattern with escapes in it.
const ZOD_EMAIL = "^(?:[A-Za-z0-9_'+\\-]+\\.)*[A-Za-z0-9_'+\\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\\-]*\\.)+[A-Za-z]{2,}$";
const ZOD_UUID = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$";
const PATTERNED: object[] = [
  { type: "string", format: "email", pattern: ZOD_EMAIL },
  { type: "string", format: "uuid", pattern: ZOD_UUID },
  { type: "string", pattern: "^[a-z]+$", minLength: 3, maxLength: 5 },
  { type: "string", pattern: "^(?:ab)+$", minLength: 3, maxLength: 7 },
  { type: "string", pattern: "x\\d" },
  { type: "string", pattern: '^["\\\\\\n\\u00e9\\x01]{2,3}$' },
  { type: "string", pattern: "^[^a-z]*$", maxLength: 4 },
  ...["date-time", "date", "time", "duration", "email", "hostname", "ipv4", "uuid", "uri"].map((format) => ({ type: "string", format })),
];

test("patterns and formats: random walks end in strings that match (JavaScript's RegExp) and validate (ajv-formats)", () => {
  const ajv = new Ajv({ strict: false });
  addFormats.default(ajv);
  let seed = 11;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  for (const schema of PATTERNED) {
    const g = new JsonGrammar(compileJsonSchema(schema));
    const pattern = (schema as { pattern?: string }).pattern;
    for (let i = 0; i < 60; i++) {
      const { text, complete } = walk(g, rand, 400);
      if (!complete) continue;
      const value = JSON.parse(text) as string;
      if (pattern !== undefined) assert.ok(new RegExp(pattern, "u").test(value), `${pattern}: ${text}`);
      assert.ok(ajv.validate(schema, value), `${JSON.stringify(schema)}: ${text}: ${ajv.errorsText()}`);
    }
  }
});

test("patterns: escapes decode before the regex; unanchored patterns search; length bounds apply too", () => {
  const p = { type: "string", pattern: '^a"b\\nc\\u00e9$' };
  assert.ok(matches(p, String.raw`"a\"b\nc\u00e9"`));
  assert.ok(matches(p, String.raw`"a\u0022b\u000Acé"`));
  assert.ok(!matches(p, String.raw`"a\"b\tcé"`));
  assert.ok(matches({ type: "string", pattern: "b+c" }, '"aaabbcdd"'));
  assert.ok(!matches({ type: "string", pattern: "b+c" }, '"aaab"'));
  assert.ok(!matches({ type: "string", pattern: "^a*$", maxLength: 3 }, '"aaaa"'));
  assert.ok(!matches({ type: "string", pattern: "^a*$", minLength: 2 }, '"a"'));
  // A format alone is ours; beside a pattern, the pattern decides.
  assert.ok(matches({ type: "string", format: "date" }, '"2024-02-28"'));
  assert.ok(!matches({ type: "string", format: "date" }, '"2024-02-30"'));
  assert.ok(matches({ type: "string", format: "date", pattern: "^x$" }, '"x"'));
});

test("whitespace between tokens is bounded", () => {
  assert.ok(matches(PERSON, `{${" ".repeat(20)}"name":"A","age":1,"tags":["a"],"kind":{"x":1}}`));
  assert.ok(!matches(PERSON, `{${" ".repeat(21)}"name":"A","age":1,"tags":["a"],"kind":{"x":1}}`));
});

test("unsupported keywords are refused with their JSON pointer", () => {
  const refused: [unknown, string, string][] = [
    [{ type: "string", pattern: "(?=a)b" }, "/pattern", "pattern"],
    [{ type: "string", format: "uri-reference" }, "/format", "format"],
    [{ type: "string", pattern: "^a{5}$", maxLength: 4 }, "/pattern", "pattern"],
    [{ pattern: "a" }, "/pattern", "pattern"],
    [{ type: "object", properties: { a: { type: "number", multipleOf: 2 } } }, "/properties/a/multipleOf", "multipleOf"],
    [{ minimum: 0 }, "/minimum", "minimum"],
    [{ enum: [1, 2], maximum: 1 }, "/maximum", "maximum"],
    [{ type: "integer", minimum: 0.5, maximum: 0.7 }, "/minimum", "minimum"],
    [{ type: "number", minimum: 1e17 }, "/minimum", "minimum"],
    [{ type: "integer", exclusiveMinimum: 3, exclusiveMaximum: 4 }, "/exclusiveMinimum", "exclusiveMinimum"],
    [{ type: "number", maximum: "1" }, "/maximum", "maximum"],
    [{ allOf: [{ type: "string" }] }, "/allOf", "allOf"],
    [{ type: "array", items: { oneOf: [] } }, "/items/oneOf", "oneOf"],
    [{ $ref: "#/$defs/missing" }, "/$ref", "$ref"],
    [{ type: "strin" }, "/type", "type"],
  ];
  for (const [schema, pointer, keyword] of refused) {
    assert.throws(() => compileJsonSchema(schema), (e: unknown) => e instanceof SchemaError && e.pointer === pointer && e.keyword === keyword && e.message.includes(`#${pointer}`), JSON.stringify(schema));
  }
});
