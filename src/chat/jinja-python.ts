// The filters and string methods whose results @huggingface/jinja computes with JavaScript rules where
// transformers (jinja2 on CPython) uses Python's, reimplemented with python-compat.ts:
//  - `trim` and `str.strip()`/`lstrip()`/`rstrip()`/`split()`: the library uses `String.prototype.trim`
//    and `\s`, whose whitespace set differs from Python's `str.isspace()` (U+FEFF is whitespace to JS
//    only; U+001C..U+001F and U+0085 to Python only);
//  - `tojson`: the library writes numbers with `JSON.stringify` ("1e-7" where Python's `json.dumps`
//    writes "1e-07"), sorts keys with `localeCompare`, and turns undefined into null where Python raises.
// Of these the Llama 3 / 3.1 / 3.2 / 3.3 templates use `trim` and `tojson` (no str method); the str
// methods are there for other chat templates, which call them (`content.split('</think>')`,
// `.strip()`). References: jinja2 `filters.py` `do_trim(value, chars=None)`, transformers
// `utils/chat_template_utils.py` `tojson(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False)`, Python's `str` methods.

import {
  PythonFloat,
  pythonJsonDumps,
  pythonLstrip,
  pythonRstrip,
  pythonSplit,
  pythonStrip,
  type PythonJsonInput,
} from "./python-compat.js";
import { ArrayValue, FunctionValue, StringValue, splitArguments, type RuntimeValueLike } from "./jinja-values.js";

/** The `str` methods this module implements. */
export const PYTHON_STRING_METHODS: ReadonlySet<string> = new Set(["strip", "lstrip", "rstrip", "split"]);

type Arguments = readonly [readonly RuntimeValueLike[], ReadonlyMap<string, RuntimeValueLike>];

/** Jinja's `trim` filter as jinja2 defines it: `str(value).strip(chars)`, for a string operand. */
export function trimFilter(text: string, [positional, keywords]: Arguments): RuntimeValueLike {
  const [chars] = bind("trim", ["chars"], positional, keywords);
  return new StringValue(pythonStrip(text, optionalString(chars, "trim", "chars")));
}

/** transformers' `tojson` filter: Python's `json.dumps` with its keyword arguments. */
export function tojsonFilter(operand: RuntimeValueLike, [positional, keywords]: Arguments): RuntimeValueLike {
  const names = ["ensure_ascii", "indent", "separators", "sort_keys"];
  const [ensureAscii, indent, separators, sortKeys] = bind("tojson", names, positional, keywords);
  return new StringValue(
    pythonJsonDumps(toPythonJson(operand), {
      ensureAscii: ensureAscii?.__bool__().value,
      indent: indentOption(indent),
      separators: separatorsOption(separators),
      sortKeys: sortKeys?.__bool__().value,
    }),
  );
}

/** The method `name` (one of {@link PYTHON_STRING_METHODS}) of the string `text`, as a callable value. */
export function pythonStringMethod(text: string, name: string): RuntimeValueLike {
  if (name === "split") {
    return new FunctionValue((args) => {
      const [positional, keywords] = splitArguments(args);
      const [sep, maxsplit] = bind("split", ["sep", "maxsplit"], positional, keywords);
      if (maxsplit !== undefined && maxsplit.type !== "IntegerValue") throw new TypeError("split(): maxsplit must be an integer");
      const parts = pythonSplit(text, optionalString(sep, "split", "sep"), (maxsplit?.value as number | undefined) ?? -1);
      return new ArrayValue(parts.map((part) => new StringValue(part)));
    });
  }
  const strip = name === "lstrip" ? pythonLstrip : name === "rstrip" ? pythonRstrip : pythonStrip;
  return new FunctionValue((args) => {
    const [positional, keywords] = splitArguments(args);
    // Python's strip methods take their one argument by position only.
    if (keywords.size > 0) throw new TypeError(`${name}() takes no keyword arguments`);
    const [chars] = bind(name, ["chars"], positional, keywords);
    return new StringValue(strip(text, optionalString(chars, name, "chars")));
  });
}

/**
 * A runtime value as `json.dumps` sees it: Jinja floats stay floats, mappings keep their key order.
 * @throws {TypeError} for values Python cannot serialize (undefined, functions, namespaces), with
 * Python's message.
 */
export function toPythonJson(value: RuntimeValueLike): PythonJsonInput {
  switch (value.type) {
    case "NullValue":
      return null;
    case "BooleanValue":
    case "IntegerValue":
    case "StringValue":
      return value.value as boolean | number | string;
    case "FloatValue":
      return new PythonFloat(value.value as number);
    case "ArrayValue":
    case "TupleValue":
      return (value.value as RuntimeValueLike[]).map(toPythonJson);
    case "ObjectValue":
    case "KeywordArgumentsValue":
      return new Map([...(value.value as Map<string, RuntimeValueLike>)].map(([k, v]) => [k, toPythonJson(v)]));
    default: {
      const pythonType = value.type === "UndefinedValue" ? "Undefined" : value.type.replace(/Value$/, "");
      throw new TypeError(`Object of type ${pythonType} is not JSON serializable`);
    }
  }
}

/** Python's binding of arguments to parameters, with its errors. */
function bind(
  fn: string,
  names: readonly string[],
  positional: readonly RuntimeValueLike[],
  keywords: ReadonlyMap<string, RuntimeValueLike>,
): (RuntimeValueLike | undefined)[] {
  if (positional.length > names.length) {
    throw new TypeError(`${fn}() takes at most ${names.length} arguments (${positional.length} given)`);
  }
  const bound: (RuntimeValueLike | undefined)[] = names.map((_, i) => positional[i]);
  for (const [key, value] of keywords) {
    const i = names.indexOf(key);
    if (i < 0) throw new TypeError(`${fn}() got an unexpected keyword argument '${key}'`);
    if (bound[i] !== undefined) throw new TypeError(`${fn}() got multiple values for argument '${key}'`);
    bound[i] = value;
  }
  return bound;
}

function optionalString(value: RuntimeValueLike | undefined, fn: string, name: string): string | undefined {
  if (value === undefined || value.type === "NullValue") return undefined;
  if (value.type !== "StringValue") throw new TypeError(`${fn}(): ${name} must be a string or None, not ${value.type}`);
  return value.value as string;
}

function indentOption(value: RuntimeValueLike | undefined): number | string | undefined {
  if (value === undefined || value.type === "NullValue") return undefined;
  if (value.type === "IntegerValue" || value.type === "StringValue") return value.value as number | string;
  throw new TypeError(`tojson(): indent must be an integer, a string or None, not ${value.type}`);
}

function separatorsOption(value: RuntimeValueLike | undefined): [string, string] | undefined {
  if (value === undefined || value.type === "NullValue") return undefined;
  const items = Array.isArray(value.value) ? (value.value as RuntimeValueLike[]) : [];
  const [item, key] = items;
  if (items.length !== 2 || item?.type !== "StringValue" || key?.type !== "StringValue") {
    throw new TypeError("tojson(): separators must be a pair of strings (item_separator, key_separator)");
  }
  return [item.value as string, key.value as string];
}
