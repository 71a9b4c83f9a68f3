// Tests of the Llama 3.1 reply parser and its streaming wrapper: each form Meta's decoder reads
// (JSON, function tag, pythonic list, built-in `.call(...)`, code after <|python_tag|>), several
// calls, text that is not a call, and malformed calls, which come back as text with a reason.

import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_TOOL_REPLY_LENGTH, mayBeToolCall, parseLlama31Reply } from "./llama31-tool-parser.js";
import { ToolCallStream } from "./tool-call-stream.js";

const calls = (reply: string): unknown => {
  const parsed = parseLlama31Reply(reply);
  assert.equal(parsed.kind, "tool_calls", `${JSON.stringify(reply)} -> ${JSON.stringify(parsed)}`);
  return parsed.kind === "tool_calls" ? parsed.calls : undefined;
};

test("JSON calls: the 3.1 form, type/arguments variants, after <|python_tag|>, several, a list", () => {
  const weather = { name: "get_weather", arguments: { city: "Paris", days: 2 } };
  assert.deepEqual(calls('{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}'), [weather]);
  assert.deepEqual(calls(' \n{"type": "function", "name": "get_weather", "parameters": {"city": "Paris", "days": 2}}\n'), [weather]);
  assert.deepEqual(calls('{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}'), [weather]);
  assert.deepEqual(calls('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}'), [weather]);
  assert.deepEqual(calls('{"name": "now"}'), [{ name: "now", arguments: {} }]);
  const two = [weather, { name: "get_time", arguments: { tz: "CET" } }];
  assert.deepEqual(calls('{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}; {"name": "get_time", "parameters": {"tz": "CET"}}'), two);
  assert.deepEqual(calls('{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}\n{"name": "get_time", "parameters": {"tz": "CET"}}'), two);
  assert.deepEqual(calls('[{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}, {"name": "get_time", "parameters": {"tz": "CET"}}]'), two);
  // Braces inside strings do not end the object.
  assert.deepEqual(calls('{"name": "echo", "parameters": {"s": "}{\\"]"}}'), [{ name: "echo", arguments: { s: '}{"]' } }]);
});

test("function-tag and pythonic-list forms", () => {
  assert.deepEqual(calls('<function=getWeather>{"location":"New York","date":"2023-08-05"}</function>'), [
    { name: "getWeather", arguments: { location: "New York", date: "2023-08-05" } },
  ]);
  assert.deepEqual(calls('<function=a>{"x":1}</function><function=b>{}</function>'), [
    { name: "a", arguments: { x: 1 } },
    { name: "b", arguments: {} },
  ]);
  assert.deepEqual(calls('[get_weather(city="San Francisco", days=3, metric=True), now()]'), [
    { name: "get_weather", arguments: { city: "San Francisco", days: 3, metric: true } },
    { name: "now", arguments: {} },
  ]);
});

test("built-in tools after <|python_tag|>: name.call(...) and code for the interpreter", () => {
  assert.deepEqual(calls('<|python_tag|>brave_search.call(query="Menlo Park weather")'), [
    { name: "brave_search", arguments: { query: "Menlo Park weather" } },
  ]);
  assert.deepEqual(calls("<|python_tag|>wolfram_alpha.call(query='solve x^2 = \\'4\\'')"), [
    { name: "wolfram_alpha", arguments: { query: "solve x^2 = '4'" } },
  ]);
  assert.deepEqual(calls('<|python_tag|>import sys\nprint(sys.version)'), [
    { name: "code_interpreter", arguments: { code: "import sys\nprint(sys.version)" } },
  ]);
});

test("text that is not a call stays text, JSON answers included", () => {
  for (const reply of ["Hello! How can I help?", '{"answer": 42}', "[1, 2, 3]", "", "  ", "The {name} is", "[1] See the docs.", "{Hello} there", '{"a": 1} and {"b": 2']) {
    assert.deepEqual(parseLlama31Reply(reply), { kind: "text", text: reply });
  }
  const long = "{" + " ".repeat(MAX_TOOL_REPLY_LENGTH);
  assert.equal(parseLlama31Reply(long).kind, "text");
});

test("malformed calls come back as their text with a reason, never an exception", () => {
  const cases: [string, RegExp][] = [
    ['{"name": "get_weather", "parameters": {"city": "Par', /incomplete/],
    ['{"name": "get_weather", "parameters": {"city": Paris}}', /does not parse/],
    ['{"name": "get_weather", "parameters": {}} and then some words', /text follows/],
    ['{"name": "get_weather", "parameters": "Paris"}', /not a JSON object/],
    ['<|python_tag|>{"city": "Paris"}', /not a tool call/],
    ["<|python_tag|>", /nothing after/],
    ['<|python_tag|>brave_search.call(query="x"', /closing parenthesis/],
    ["<|python_tag|>brave_search.call(query=x)", /cannot read the arguments/],
    ['<function=f>{"a": 1', /incomplete/],
    ["<function=f>[1]</function>", /not a JSON object/],
    ['[f(a="x"), g(b=', /closing bracket/],
    ["[f(a=[1, 2])]", /cannot read the arguments/],
  ];
  for (const [reply, reason] of cases) {
    const parsed = parseLlama31Reply(reply);
    assert.equal(parsed.kind, "malformed", reply);
    if (parsed.kind !== "malformed") continue;
    assert.equal(parsed.text, reply);
    assert.match(parsed.reason, reason, reply);
  }
});

test("mayBeToolCall: what a reply's start allows", () => {
  for (const start of ["", " ", "{", " [", "<", "<|py", "<|python_tag|>", "<func", "<function=x"]) assert.equal(mayBeToolCall(start), true, start);
  for (const start of ["H", " Hi", "<b>", "<|eot", "1"]) assert.equal(mayBeToolCall(start), false, start);
});

test("ToolCallStream: text passes from its first non-blank character; a call is held back and parsed at the end", () => {
  const text = new ToolCallStream();
  assert.deepEqual(["  ", "Hel", "lo {", "x}"].map((d) => text.push(d)), ["", "  Hel", "lo {", "x}"]);
  assert.deepEqual(text.finish(), { reply: { kind: "text", text: "  Hello {x}" }, unsent: "" });

  const call = new ToolCallStream();
  const deltas = ['{"na', 'me": "f", "param', 'eters": {"a": 1}}'];
  assert.deepEqual(deltas.map((d) => call.push(d)), ["", "", ""]);
  assert.deepEqual(call.finish(), { reply: { kind: "tool_calls", calls: [{ name: "f", arguments: { a: 1 } }] }, unsent: "" });

  const json = new ToolCallStream();
  json.push('{"answer": 1}');
  assert.deepEqual(json.finish(), { reply: { kind: "text", text: '{"answer": 1}' }, unsent: '{"answer": 1}' });

  const bad = new ToolCallStream();
  bad.push('{"name": "f", "para');
  const end = bad.finish();
  assert.equal(end.reply.kind, "malformed");
  assert.equal(end.unsent, '{"name": "f", "para');

  const off = new ToolCallStream(false);
  assert.equal(off.push('{"name": "f"}'), '{"name": "f"}');
  assert.deepEqual(off.finish(), { reply: { kind: "text", text: '{"name": "f"}' }, unsent: "" });
});
