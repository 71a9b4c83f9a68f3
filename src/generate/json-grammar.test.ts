// The JSON-schema compiler and the byte-level JSON matcher: documents the matcher accepts must
// parse and validate with ajv (an independent validator), documents that break the schema must be
// refused (at the byte where they leave it, or by not being complete), and unsupported keywords
// must be refused with a SchemaError naming the keyword's JSON pointer.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
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

test("whitespace between tokens is bounded", () => {
  assert.ok(matches(PERSON, `{${" ".repeat(20)}"name":"A","age":1,"tags":["a"],"kind":{"x":1}}`));
  assert.ok(!matches(PERSON, `{${" ".repeat(21)}"name":"A","age":1,"tags":["a"],"kind":{"x":1}}`));
});

test("unsupported keywords are refused with their JSON pointer", () => {
  const refused: [unknown, string, string][] = [
    [{ type: "string", pattern: "a+" }, "/pattern", "pattern"],
    [{ type: "object", properties: { a: { type: "number", minimum: 0 } } }, "/properties/a/minimum", "minimum"],
    [{ allOf: [{ type: "string" }] }, "/allOf", "allOf"],
    [{ type: "array", items: { oneOf: [] } }, "/items/oneOf", "oneOf"],
    [{ $ref: "#/$defs/missing" }, "/$ref", "$ref"],
    [{ type: "strin" }, "/type", "type"],
  ];
  for (const [schema, pointer, keyword] of refused) {
    assert.throws(() => compileJsonSchema(schema), (e: unknown) => e instanceof SchemaError && e.pointer === pointer && e.keyword === keyword && e.message.includes(`#${pointer}`), JSON.stringify(schema));
  }
});
