// The tool-call grammar: it accepts exactly the Llama 3.1 calls `{"name": ..., "parameters": ...}`
// of the chosen functions whose parameters validate (checked against ajv on the same documents),
// with references inside a function's parameters resolved within that function; bad tools, bad
// choices and unsupported keywords are refused with errors naming them.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import { ArgumentError } from "../errors.js";
import { stepBytes } from "./constraint.js";
import { SchemaError } from "./json-schema.js";
import { type ToolFunction, toolCallGrammar } from "./tool-call-grammar.js";

const WEATHER = {
  type: "object",
  properties: { city: { type: "string" }, unit: { enum: ["c", "f"] } },
  required: ["city"],
  additionalProperties: false,
};
const ROUTE = {
  $defs: { point: { type: "object", properties: { x: { type: "integer" }, y: { type: "integer" } }, required: ["x", "y"], additionalProperties: false } },
  type: "object",
  properties: { from: { $ref: "#/$defs/point" }, to: { $ref: "#/$defs/point" } },
  required: ["from", "to"],
  additionalProperties: false,
};
const TOOLS: ToolFunction[] = [
  { type: "function", function: { name: "get_weather", parameters: WEATHER } },
  { name: "route", parameters: ROUTE },
  { type: "function", function: { name: "now" } },
];

const enc = new TextEncoder();
function matches(text: string, choice: Parameters<typeof toolCallGrammar>[1] = "required"): boolean {
  const g = toolCallGrammar(TOOLS, choice);
  const s = stepBytes(g, g.initial(), enc.encode(text));
  return s !== undefined && g.accepts(s);
}

const CALLS: [string, boolean][] = [
  ['{"name": "get_weather", "parameters": {"city": "Paris"}}', true],
  ['{"name":"get_weather","parameters":{"city":"Oslo","unit":"c"}}', true],
  ['{"name": "route", "parameters": {"from": {"x": 1, "y": 2}, "to": {"x": -3, "y": 0}}}', true],
  ['{"name": "now", "parameters": {}}', true],
  ['{"name": "get_weather", "parameters": {"unit": "c"}}', false], // city is required
  ['{"name": "get_weather", "parameters": {"city": "Paris", "unit": "k"}}', false], // enum
  ['{"name": "route", "parameters": {"city": "Paris"}}', false], // another function's parameters
  ['{"name": "get_time", "parameters": {}}', false], // not a tool
  ['{"parameters": {}, "name": "now"}', false], // the name comes first
  ['{"name": "now"}', false], // parameters are required
  ['{"name": "now", "parameters": {}, "id": 1}', false],
];

test("the grammar accepts exactly the calls of the given functions whose parameters validate", () => {
  const ajv = new Ajv({ strict: false });
  const byName = new Map<string, object>([["get_weather", WEATHER], ["route", ROUTE], ["now", { type: "object", properties: {}, additionalProperties: false }]]);
  for (const [text, ok] of CALLS) {
    assert.equal(matches(text), ok, text);
    const call = JSON.parse(text) as { name?: string; parameters?: unknown };
    const schema = byName.get(call.name ?? "");
    const valid = schema !== undefined && call.parameters !== undefined && Object.keys(call)[0] === "name" && Object.keys(call).length === 2 && ajv.validate(schema, call.parameters);
    assert.equal(valid, ok, `ajv and the grammar disagree on ${text}`);
  }
});

test("a named choice allows only that function", () => {
  assert.ok(matches('{"name": "route", "parameters": {"from": {"x": 1, "y": 2}, "to": {"x": 3, "y": 4}}}', { name: "route" }));
  assert.ok(!matches('{"name": "get_weather", "parameters": {"city": "Paris"}}', { name: "route" }));
});

test("bad tools and choices are ArgumentErrors; unsupported keywords name the function and the pointer", () => {
  assert.throws(() => toolCallGrammar([]), ArgumentError);
  assert.throws(() => toolCallGrammar([{ name: "" }]), ArgumentError);
  assert.throws(() => toolCallGrammar([{ name: "a" }, { type: "function", function: { name: "a" } }]), /appears twice/);
  assert.throws(() => toolCallGrammar(TOOLS, { name: "missing" }), /not one of the tools \(get_weather, route, now\)/);
  const bad = [...TOOLS, { name: "search", parameters: { type: "object", properties: { q: { type: "string", pattern: "^(?!a)" } } } }];
  assert.throws(() => toolCallGrammar(bad), (e: unknown) => e instanceof SchemaError && e.pointer === "/properties/q/pattern" && e.keyword === "pattern" && /"search"/.test(e.message));
  const dangling = [{ name: "f", parameters: { type: "object", properties: { a: { $ref: "#/$defs/none" } } } }];
  assert.throws(() => toolCallGrammar(dangling), (e: unknown) => e instanceof SchemaError && e.pointer === "/properties/a/$ref" && /"f"/.test(e.message));
});
