// The bits of Python that chat templates and Meta's chat format lean on, reproduced exactly:
// `str.strip`/`lstrip`/`rstrip`/`split` (Meta's `content.strip()`, Jinja's `trim` and the string methods
// templates call), `repr(float)`, and `json.dumps` as Hugging Face's `tojson` filter calls it. Also the
// checked JSON value type that tool definitions and tool-call arguments are converted to before either
// path sees them.
// References: CPython `str.isspace` (Unicode White_Space plus the bidi classes WS/B/S),
// `Python/pystrtod.c` `format_float_short` (repr: the shortest digits that round-trip, exponent form
// below 1e-4 and from 1e16), `Lib/json/encoder.py`, transformers `utils/chat_template_utils.py` `tojson`.
//
// Known departures, both because a JavaScript value cannot carry what Python knew:
//  - numbers: an integer-valued number within +-(2^53 - 1) is written as a Python int ("1", never
//    "1.0"); every other number as a Python float ("0.5", "1e-07", "1e+16"). Python writes 1.0 for a
//    float that is integral; a JS number has lost that. (Jinja's own floats, e.g. `2.0` written in a
//    template, are passed as `PythonFloat` and do print as "2.0".)
//  - key order: a JavaScript object lists integer-like keys ("2", "10") first, in numeric order, then
//    the others in insertion order. Tool-call arguments that arrive as JSON text (`'{"b": 1, "1": 2}'`)
//    are parsed into such an object, so `tojson` writes `{"1": 2, "b": 1}` where Python keeps the text's
//    order; the same holds for any object a caller passes. Mappings built inside a template keep their
//    order (they are Maps).

import { ArgumentError } from "../errors.js";
import { compareCodePoints } from "../json.js";

/** A JSON value, as tool definitions and tool-call arguments are. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

// Deep enough for any tool schema; stops a cyclic object before the stack does.
const MAX_JSON_DEPTH = 64;

/**
 * Checks that `value` is plain JSON data and returns a copy (object properties that are `undefined` are
 * dropped, as `JSON.stringify` drops them). `where` names the value in error messages.
 * @throws {ArgumentError} on functions, symbols, bigints, non-finite numbers, class instances (Date,
 * Map...), or nesting deeper than 64 levels (a cycle).
 */
export function toJsonValue(value: unknown, where: string, depth = 0): JsonValue {
  if (depth > MAX_JSON_DEPTH) {
    throw new ArgumentError(`${where}: nested deeper than ${MAX_JSON_DEPTH} levels (a cycle?)`);
  }
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new ArgumentError(`${where}: ${value} is not a JSON number`);
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item: unknown, i) => toJsonValue(item, `${where}[${i}]`, depth + 1));
  }
  if (typeof value === "object") {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new ArgumentError(`${where}: expected plain JSON data, got a ${describe(value)}`);
    }
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) out[key] = toJsonValue(item, `${where}.${key}`, depth + 1);
    }
    return out;
  }
  throw new ArgumentError(`${where}: expected plain JSON data, got ${describe(value)}`);
}

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short description of a value's type for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") {
    const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === "string" && name !== "Object" ? name : "object";
  }
  return typeof value;
}

/** A Python float, to be written as one even when integral (a Jinja float such as `2.0` or `4 / 2`). */
export class PythonFloat {
  constructor(readonly value: number) {}
}

/** What {@link pythonJsonDumps} writes: JSON values, plus Maps (keys in their own order) and floats. */
export type PythonJsonInput =
  | JsonValue
  | PythonFloat
  | readonly PythonJsonInput[]
  | ReadonlyMap<string, PythonJsonInput>
  | { readonly [key: string]: PythonJsonInput };

/** The keyword arguments of `json.dumps` that transformers' `tojson` passes on. */
export interface PythonJsonOptions {
  /** Spaces per level (or the string itself), one item per line; `undefined` is Python's None: one line. */
  readonly indent?: number | string | undefined;
  /** `(item_separator, key_separator)`; default `(", ", ": ")`, or `(",", ": ")` when indenting. */
  readonly separators?: readonly [string, string] | undefined;
  /** Sort object keys (by code point, as Python compares strings). */
  readonly sortKeys?: boolean | undefined;
  /** Escape every non-ASCII character as `\uXXXX` (transformers' `tojson` default: false). */
  readonly ensureAscii?: boolean | undefined;
}

/**
 * Python's `json.dumps(value, ensure_ascii=False)` (the defaults of transformers' `tojson` filter), or
 * with the given `indent`, `separators`, `sort_keys`, `ensure_ascii`. Floats as Python's `repr` writes
 * them; see the module header for how integer-valued numbers and integer-like keys are treated.
 * @example pythonJsonDumps({ a: [1, 1e-7] }) // '{"a": [1, 1e-07]}'
 * @example pythonJsonDumps({ a: 1 }, { indent: 4 }) // '{\n    "a": 1\n}'
 */
export function pythonJsonDumps(value: PythonJsonInput, options: PythonJsonOptions = {}): string {
  const { indent: given, sortKeys = false, ensureAscii = false } = options;
  // Python: an int indent is that many spaces (none if negative), a str is used as it is.
  const indent = given === undefined ? undefined : typeof given === "string" ? given : " ".repeat(Math.max(0, given));
  const [itemSep, keySep] = options.separators ?? (indent === undefined ? [", ", ": "] : [",", ": "]);
  const layout: JsonLayout = { indent, itemSep, keySep, sortKeys, ensureAscii };
  return dumps(value, layout, 1);
}

interface JsonLayout {
  readonly indent: string | undefined;
  readonly itemSep: string;
  readonly keySep: string;
  readonly sortKeys: boolean;
  readonly ensureAscii: boolean;
}

function dumps(value: PythonJsonInput, layout: JsonLayout, level: number): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return pythonJsonString(value, layout.ensureAscii);
  if (typeof value === "number") return Number.isSafeInteger(value) ? String(value) : pythonJsonFloat(value);
  if (value instanceof PythonFloat) return pythonJsonFloat(value.value);
  const isList = Array.isArray(value);
  let items: string[];
  if (isList) {
    items = (value as readonly PythonJsonInput[]).map((v) => dumps(v, layout, level + 1));
  } else {
    const entries = value instanceof Map ? [...(value as ReadonlyMap<string, PythonJsonInput>)] : Object.entries(value);
    if (layout.sortKeys) entries.sort(([a], [b]) => compareCodePoints(a, b));
    items = entries.map(([k, v]) => pythonJsonString(k, layout.ensureAscii) + layout.keySep + dumps(v, layout, level + 1));
  }
  const [open, close] = isList ? ["[", "]"] : ["{", "}"];
  // Like Python, empty containers stay "[]" and "{}" even when indenting.
  if (items.length === 0) return open + close;
  if (layout.indent === undefined) return open + items.join(layout.itemSep) + close;
  const newline = "\n" + layout.indent.repeat(level);
  return open + newline + items.join(layout.itemSep + newline) + "\n" + layout.indent.repeat(level - 1) + close;
}

// json.encoder's floatstr: repr, except for the non-finite values (allow_nan=True).
function pythonJsonFloat(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  return pythonFloatRepr(x);
}

// json.encoder's ESCAPE (ensure_ascii=False: only the controls, backslash and quote) and ESCAPE_ASCII
// (everything outside space..tilde; astral characters as their two UTF-16 halves, as Python writes them).
const JSON_ESCAPE = /[\x00-\x1f"\\]/g;
const JSON_ESCAPE_ASCII = /[^ -~]|["\\]/g;
const JSON_SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
};

function pythonJsonString(text: string, ensureAscii: boolean): string {
  const escape = (c: string): string => JSON_SHORT_ESCAPES[c] ?? "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
  return '"' + text.replace(ensureAscii ? JSON_ESCAPE_ASCII : JSON_ESCAPE, escape) + '"';
}


/**
 * Python's `repr(x)` of a float: the shortest digits that round-trip (JavaScript's `toExponential()`
 * finds the same ones), laid out as Python does: positional with at least one fractional digit
 * ("0.0001", "100.0"), or exponent form when the decimal exponent is below -4 or at least 16, with a
 * signed exponent of at least two digits ("1e-05", "1e+16", "1.5e+300").
 * @example pythonFloatRepr(1e-7) // "1e-07"
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa = "", exponentText = ""] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const m = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    return `${sign}${m}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction === "" ? "0" : fraction}`;
}

// Python's str.isspace() set: JS's trim() set minus U+FEFF, plus U+001C..U+001F and U+0085.
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c\\x1d\\x1e\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_LEADING_SPACE = new RegExp(`^[${PY_SPACE}]+`);
const PY_TRAILING_SPACE = new RegExp(`[${PY_SPACE}]+$`);
const PY_NON_SPACE_RUN = new RegExp(`[^${PY_SPACE}]+`, "g");

/**
 * Python's `str.strip(chars)`: with no `chars` (or undefined), Python's whitespace (which differs from
 * `String.prototype.trim`: U+FEFF is kept, U+001C..U+001F and U+0085 are stripped); else any of the
 * code points in `chars`. Meta's `content.strip()`; Jinja's `trim` in transformers.
 * @example pythonStrip("\ufeff hi \x1c") // "\ufeff hi"
 */
export function pythonStrip(text: string, chars?: string): string {
  return pythonRstrip(pythonLstrip(text, chars), chars);
}

/** Python's `str.lstrip(chars)` (see {@link pythonStrip}). */
export function pythonLstrip(text: string, chars?: string): string {
  if (chars === undefined) return text.replace(PY_LEADING_SPACE, "");
  const set = new Set(chars);
  const points = Array.from(text);
  let start = 0;
  while (start < points.length && set.has(points[start] ?? "")) start++;
  return points.slice(start).join("");
}

/** Python's `str.rstrip(chars)` (see {@link pythonStrip}). */
export function pythonRstrip(text: string, chars?: string): string {
  if (chars === undefined) return text.replace(PY_TRAILING_SPACE, "");
  const set = new Set(chars);
  const points = Array.from(text);
  let end = points.length;
  while (end > 0 && set.has(points[end - 1] ?? "")) end--;
  return points.slice(0, end).join("");
}

/**
 * Python's `str.split(sep, maxsplit)`. With no `sep`: split on runs of Python whitespace (see
 * {@link pythonStrip}), dropping empty pieces; after `maxsplit` splits the rest is one piece, with its
 * leading whitespace removed and its trailing whitespace kept. With `sep`: split on exactly that text,
 * keeping empty pieces.
 * @throws {ArgumentError} for an empty `sep` (Python's "empty separator").
 * @example pythonSplit("a\x1cb\ufeff c") // ["a", "b\ufeff", "c"]
 */
export function pythonSplit(text: string, sep?: string, maxsplit = -1): string[] {
  const limit = maxsplit < 0 ? Infinity : maxsplit;
  if (sep === undefined) {
    const out: string[] = [];
    for (const match of text.matchAll(PY_NON_SPACE_RUN)) {
      if (out.length === limit) {
        out.push(text.slice(match.index));
        break;
      }
      out.push(match[0]);
    }
    return out;
  }
  if (sep === "") throw new ArgumentError("empty separator");
  const out: string[] = [];
  let at = 0;
  for (let next = text.indexOf(sep, at); next >= 0 && out.length < limit; next = text.indexOf(sep, at)) {
    out.push(text.slice(at, next));
    at = next + sep.length;
  }
  out.push(text.slice(at));
  return out;
}
