// Python behaviour reproduced for chat formatting. Expected strings were printed by CPython 3
// (`json.dumps(v, ensure_ascii=False[, indent=4])`, `str.strip()`), not by this code.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ArgumentError } from "../errors.js";
import { pythonJsonDumps, pythonLstrip, pythonStrip, toJsonValue, type JsonValue } from "./python-compat.js";

const TOOL: JsonValue = {
  type: "function",
  function: { name: "f", parameters: { a: [1, 2.5, 'xé\n"', null, true], e: {}, l: [] } },
};

describe("pythonJsonDumps", () => {
  test("default separators are ', ' and ': '", () => {
    assert.equal(
      pythonJsonDumps(TOOL),
      '{"type": "function", "function": {"name": "f", "parameters": {"a": [1, 2.5, "xé\\n\\"", null, true], "e": {}, "l": []}}}',
    );
  });

  test("indent=4 puts one item per line and keeps empty containers short", () => {
    assert.equal(
      pythonJsonDumps(TOOL, 4),
      '{\n    "type": "function",\n    "function": {\n        "name": "f",\n        "parameters": {\n' +
        '            "a": [\n                1,\n                2.5,\n                "xé\\n\\"",\n                null,\n' +
        '                true\n            ],\n            "e": {},\n            "l": []\n        }\n    }\n}',
    );
  });

  test("strings: control characters escaped, non-ASCII kept (ensure_ascii=False)", () => {
    assert.equal(pythonJsonDumps("tab\t\x01 \u2028 é"), '"tab\\t\\u0001 \u2028 é"');
  });
});

describe("pythonStrip", () => {
  test("strips Python's whitespace set, which differs from String.prototype.trim", () => {
    assert.equal(pythonStrip(" \x1c\x85 hi \u3000\t"), "hi");
    // U+FEFF is whitespace to JS trim() but not to Python.
    assert.equal(pythonStrip("\ufeffhi\ufeff"), "\ufeffhi\ufeff");
    assert.equal(pythonLstrip("\n a b \n"), "a b \n");
  });
});

describe("toJsonValue", () => {
  test("copies plain data and drops undefined properties", () => {
    assert.deepEqual(toJsonValue({ a: 1, b: undefined, c: [null, "x"] }, "v"), { a: 1, c: [null, "x"] });
  });

  const bad: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["a function", { f: () => 1 }, /v\.f: expected plain JSON data, got function/],
    ["NaN", [1, Number.NaN], /v\[1\]: NaN is not a JSON number/],
    ["a Date", { when: new Date(0) }, /v\.when: expected plain JSON data, got a Date/],
    ["a bigint", 1n, /v: expected plain JSON data, got bigint/],
  ];
  for (const [what, value, message] of bad) {
    test(`rejects ${what}`, () => {
      assert.throws(() => toJsonValue(value, "v"), (err: unknown) => err instanceof ArgumentError && message.test(err.message));
    });
  }

  test("rejects a cycle by its depth", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    assert.throws(() => toJsonValue(cyclic, "v"), /nested deeper than 64 levels/);
  });
});
