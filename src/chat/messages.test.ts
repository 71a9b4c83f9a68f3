// Message checking (errors name the bad message) and the wire form templates read.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ArgumentError, UnsupportedError } from "../errors.js";
import { normalizeMessages } from "./messages.js";
import { toWireMessages } from "./wire.js";

function throwsArgument(messages: unknown, message: RegExp): void {
  assert.throws(() => normalizeMessages(messages), (err: unknown) => {
    assert.ok(err instanceof ArgumentError, `expected ArgumentError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

describe("normalizeMessages rejects bad input, naming the message", () => {
  const cases: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["not an array", { role: "user" }, /^messages: expected an array/],
    ["an empty list", [], /^messages: the list is empty/],
    ["a non-object message", [{ role: "user", content: "a" }, "hi"], /^messages\[1\]: expected an object/],
    ["an unknown role", [{ role: "user", content: "a" }, { role: "bot", content: "b" }], /^messages\[1\]\.role: unknown role "bot"/],
    ["a missing role", [{ content: "a" }], /^messages\[0\]\.role: unknown role undefined/],
    ["numeric content", [{ role: "user", content: 42 }], /^messages\[0\]\.content: expected a string or an array .* got number/],
    ["missing content", [{ role: "assistant" }], /^messages\[0\]\.content: .* got undefined/],
    [
      "a part without text",
      [{ role: "user", content: [{ type: "text", text: 1 }] }],
      /^messages\[0\]\.content\[0\]\.text: expected a string/,
    ],
    ["HF wire name tool_calls", [{ role: "assistant", tool_calls: [] }], /^messages\[0\]\.tool_calls: write toolCalls/],
    [
      "tool calls on a user message",
      [{ role: "user", content: "x", toolCalls: [] }],
      /^messages\[0\]\.toolCalls: only assistant messages/,
    ],
    [
      "arguments that are not JSON",
      [{ role: "assistant", toolCalls: [{ function: { name: "f", arguments: "{oops" } }] }],
      /^messages\[0\]\.toolCalls\[0\]\.function\.arguments: not valid JSON/,
    ],
    [
      "arguments that are a JSON array",
      [{ role: "assistant", toolCalls: [{ function: { name: "f", arguments: "[1]" } }] }],
      /arguments: expected a JSON object, got array/,
    ],
    [
      "a tool call without a name",
      [{ role: "assistant", toolCalls: [{ function: { arguments: {} } }] }],
      /function\.name: expected a non-empty string/,
    ],
  ];
  for (const [what, messages, message] of cases) test(what, () => throwsArgument(messages, message));

  test("image parts are unsupported", () => {
    assert.throws(
      () => normalizeMessages([{ role: "user", content: [{ type: "image", url: "x" }] }]),
      (err: unknown) => err instanceof UnsupportedError && /messages\[0\]\.content\[0\]: content part type "image"/.test(err.message),
    );
  });
});

describe("normalizeMessages", () => {
  test("joins text parts with nothing between them", () => {
    const [m] = normalizeMessages([{ role: "user", content: [{ type: "text", text: "Hello, " }, { type: "text", text: "world" }] }]);
    assert.equal(m?.content, "Hello, world");
  });

  test("parses OpenAI-style JSON arguments and keeps object arguments", () => {
    const [a, b] = normalizeMessages([
      { role: "assistant", toolCalls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"x": 1}' } }] },
      { role: "assistant", content: null, toolCalls: [{ function: { name: "g", arguments: { y: "z" } } }] },
    ]);
    assert.deepEqual(a?.toolCalls, [{ id: "c1", name: "f", arguments: { x: 1 } }]);
    assert.equal(a?.content, null);
    assert.deepEqual(b?.toolCalls, [{ id: undefined, name: "g", arguments: { y: "z" } }]);
  });

  test("an empty toolCalls list means no calls", () => {
    const [m] = normalizeMessages([{ role: "assistant", content: "ok", toolCalls: [] }]);
    assert.equal(m?.toolCalls, undefined);
  });
});

describe("toWireMessages", () => {
  test("writes snake_case wire fields and leaves absent ones out", () => {
    const wire = toWireMessages(
      normalizeMessages([
        { role: "user", content: "hi" },
        { role: "assistant", toolCalls: [{ id: "c1", function: { name: "f", arguments: { x: 1 } } }] },
        { role: "tool", content: "42", toolCallId: "c1", name: "f" },
      ]),
    );
    assert.deepEqual(wire, [
      { role: "user", content: "hi" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: { x: 1 } } }] },
      { role: "tool", content: "42", tool_call_id: "c1", name: "f" },
    ]);
    assert.equal("tool_calls" in (wire[0] ?? {}), false);
  });
});
