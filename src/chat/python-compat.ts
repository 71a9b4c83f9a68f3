// The bits of Python that chat templates and Meta's chat format lean on, reproduced exactly:
// `str.strip()` (Meta's `content.strip()`, Jinja's `trim`) and `json.dumps` as Hugging Face's `tojson`
// filter calls it (`ensure_ascii=False`, Python's default separators). Also the checked JSON value type
// that tool definitions and tool-call arguments are converted to before either path sees them.
// References: CPython `str.isspace` (Unicode White_Space plus the bidi classes WS/B/S), CPython
// `json.dumps`, transformers `utils/chat_template_utils.py` `tojson`.

import { ArgumentError } from "../errors.js";

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

/**
 * Python's `json.dumps(value, ensure_ascii=False, indent=indent)`, which is what the `tojson` filter of
 * Hugging Face chat templates produces: `", "` and `": "` separators, or `","` between items when
 * indenting. Strings and numbers are written as `JSON.stringify` writes them, which is also what
 * `@huggingface/jinja` does (a JS number does not know whether Python would have called it a float).
 */
export function pythonJsonDumps(value: JsonValue, indent?: number): string {
  return dumps(value, indent ?? 0, 0);
}

function dumps(value: JsonValue, indent: number, depth: number): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const itemSep = indent > 0 ? "," : ", ";
  const pad = indent > 0 ? "\n" + " ".repeat(indent * depth) : "";
  const childPad = indent > 0 ? "\n" + " ".repeat(indent * (depth + 1)) : "";
  const items = isJsonObject(value)
    ? Object.entries(value).map(([k, v]) => `${childPad}${JSON.stringify(k)}: ${dumps(v, indent, depth + 1)}`)
    : value.map((v) => `${childPad}${dumps(v, indent, depth + 1)}`);
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  // Like Python, empty containers stay "[]" and "{}" even when indenting.
  return items.length === 0 ? open + close : `${open}${items.join(itemSep)}${pad}${close}`;
}

// Python's str.isspace() set: JS's trim() set minus U+FEFF, plus U+001C..U+001F and U+0085.
const PY_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");
const PY_LSTRIP = new RegExp(`^[${PY_SPACE}]+`);

/** Python's `str.strip()` with no argument (Meta's `content.strip()`; Jinja's `trim` in transformers). */
export function pythonStrip(text: string): string {
  return text.replace(PY_STRIP, "");
}

/** Python's `str.lstrip()` with no argument. */
export function pythonLstrip(text: string): string {
  return text.replace(PY_LSTRIP, "");
}
