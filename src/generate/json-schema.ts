// JSON Schema -> a tree of value nodes that json-grammar.ts matches byte by byte. Covers the subset
// that OpenAI's structured outputs accept: object (properties, required, additionalProperties),
// array (items, minItems, maxItems), enum, const, string (minLength, maxLength), number and integer
// (minimum, maximum, exclusiveMinimum, exclusiveMaximum: exact, see NumberBounds), boolean, null,
// anyOf, type lists, $ref into $defs/definitions (recursion included). Properties are generated in
// the schema's order (as llama.cpp's json-schema-to-grammar does); an object without
// `properties` takes any keys. Anything else is refused with a SchemaError naming the keyword and its
// JSON pointer, so a schema is never silently loosened. Reference: llama.cpp
// common/json-schema-to-grammar.cpp (which also orders properties and bounds nothing it cannot check).

import { ArgumentError } from "../errors.js";
import { MAX_FRAC_DIGITS, MAX_INT_DIGITS } from "./json-grammar.js";
import { RegexGrammar } from "./regex-grammar.js";

/** A schema keyword that cannot be compiled, with where it is (a JSON pointer into the schema). */
export class SchemaError extends ArgumentError {
  override readonly name: string = "SchemaError";
  constructor(readonly pointer: string, readonly keyword: string | undefined, message: string) {
    super(`JSON schema at ${pointer === "" ? "#" : `#${pointer}`}: ${message}`);
  }
}

/** A compiled value: what may appear at one place of the document. */
export type SchemaNode =
  | { readonly kind: "object"; readonly id: number; properties: readonly PropertyNode[]; freeValue: SchemaNode | undefined }
  | { readonly kind: "array"; readonly id: number; items: SchemaNode; readonly minItems: number; readonly maxItems: number }
  | { readonly kind: "string"; readonly id: number; readonly minLength: number; readonly maxLength: number; readonly pattern?: RegexGrammar }
  | { readonly kind: "number"; readonly id: number; readonly integer: boolean; readonly bounds?: NumberBounds }
  | { readonly kind: "literal"; readonly id: number; readonly bytes: Uint8Array }
  | { readonly kind: "anyOf"; readonly id: number; options: SchemaNode[] };

export interface PropertyNode {
  /** The key as JSON writes it, quotes included (`"name"`). */
  readonly keyBytes: Uint8Array;
  readonly value: SchemaNode;
  readonly required: boolean;
}

/**
 * Inclusive bounds of a number, in units of 10^-frac (frac 0 for integers, MAX_FRAC_DIGITS for
 * numbers): every number a bounded node generates is a decimal with at most that many fraction
 * digits and no exponent, so the grammar decides membership on integers, exactly. A bound is the
 * grid point that a validator, which compares float64s, takes as within the bound: the decimal is
 * read by JSON.parse (rounded to the nearest float64), so "0.1" meets `minimum: 0.1` although its
 * exact value is below the float64 0.1, and "3.7499999999999999" fails `exclusiveMaximum: 3.75`
 * (it reads as 3.75). Reading is monotonic, so the grid points within a bound are one interval.
 */
export interface NumberBounds {
  readonly frac: number;
  /** The least and greatest allowed value in 10^-frac units; undefined: unbounded on that side. */
  readonly lo: bigint | undefined;
  readonly hi: bigint | undefined;
}


/** floor(x * 10^frac) for a finite float64 x, and whether the product is exact. */
function scaledFloor(x: number, frac: number): { floor: bigint; exact: boolean } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  // x = mantissa * 2^exponent exactly (subnormals have no implicit bit).
  let mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (biased === 0 ? 1 : biased) - 1075;
  if (bits >> 63n === 1n) mantissa = -mantissa;
  const scaled = mantissa * 10n ** BigInt(frac);
  if (exponent >= 0) return { floor: scaled << BigInt(exponent), exact: true };
  const den = 1n << BigInt(-exponent);
  let q = scaled / den;
  const exact = scaled % den === 0n;
  if (!exact && scaled < 0n) q -= 1n;
  return { floor: q, exact };
}

/** The float64 next to a finite x towards +Infinity (direction 1) or -Infinity (-1). */
function nextFloat(x: number, direction: 1 | -1): number {
  if (x === 0) return direction * Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  // For a positive x, the next bit pattern up is the next float64 up; a negative x mirrors it.
  view.setBigInt64(0, view.getBigInt64(0) + ((x > 0) === (direction === 1) ? 1n : -1n));
  return view.getFloat64(0);
}

/** The decimal spelling of g * 10^-frac. */
function gridDecimal(g: bigint, frac: number): string {
  const digits = (g < 0n ? -g : g).toString().padStart(frac + 1, "0");
  const text = frac === 0 ? digits : `${digits.slice(0, -frac)}.${digits.slice(-frac)}`;
  return g < 0n ? `-${text}` : text;
}

/**
 * The least (lower bound) or greatest (upper bound) grid point g whose decimal, read as a float64,
 * is within the bound v (strict: exclusive). Found by bisection between two grid points either
 * side of the float64s next to v, which are out and in for certain.
 */
function gridBound(v: number, lower: boolean, strict: boolean, frac: number): bigint {
  // Past 10^17 a bound is out of reach (MAX_INT_DIGITS) anyway; clamping keeps nextFloat finite.
  const x = Math.max(-1e17, Math.min(1e17, v));
  const within = (g: bigint): boolean => {
    const read = Number(gridDecimal(g, frac));
    return lower ? (strict ? read > x : read >= x) : strict ? read < x : read <= x;
  };
  const dir = lower ? 1 : -1;
  // out: a grid point on the far side of the float64 before x; in: one beyond the float64 after x.
  const beyond = (y: number, up: boolean): bigint => {
    const { floor, exact } = scaledFloor(y, frac);
    return up && !exact ? floor + 1n : floor;
  };
  let out = beyond(nextFloat(x, -dir as 1 | -1), !lower);
  let inside = beyond(nextFloat(x, dir), lower);
  while (inside - out > 1n || out - inside > 1n) {
    const mid = (out + inside) / 2n;
    if (within(mid)) inside = mid;
    else out = mid;
  }
  return inside;
}

/**
 * A JSON-schema pattern as a whole-text regex: JSON Schema's patterns search (ECMA-262 `test`), so
 * an end without its anchor may be followed or preceded by anything.
 */
function searchPattern(pattern: string): string {
  let body = pattern;
  const start = body.startsWith("^");
  if (start) body = body.slice(1);
  // A trailing "$" anchors unless it is escaped (an odd run of backslashes before it).
  const end = body.endsWith("$") && (body.length - 1 - body.slice(0, -1).replace(/\\+$/, "").length) % 2 === 0;
  if (end) body = body.slice(0, -1);
  return `${start ? "" : "[\\s\\S]*"}(?:${body})${end ? "" : "[\\s\\S]*"}`;
}

/**
 * Regexes for the formats of OpenAI's structured outputs. Each is a subset of what ajv-formats
 * accepts in its full mode (narrower where a regex cannot check cheaply: no February 29 in dates,
 * plain host names in URIs), so a generated string always validates.
 */
const DATE = "\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))";
const TIME = "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,6})?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)";
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const FORMATS: Record<string, string> = {
  "date-time": `${DATE}T${TIME}`,
  date: DATE,
  time: TIME,
  duration: "P(?:\\d{1,6}[YMWD]|T\\d{1,6}[HMS])",
  email: `[A-Za-z0-9_%+-]{1,64}(?:\\.[A-Za-z0-9_%+-]{1,64}){0,4}@(?:${LABEL}\\.){1,4}[A-Za-z]{2,24}`,
  hostname: `${LABEL}(?:\\.${LABEL}){0,4}`,
  ipv4: `${OCTET}(?:\\.${OCTET}){3}`,
  uuid: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
  uri: `https?://${LABEL}(?:\\.${LABEL}){0,4}(?:/[A-Za-z0-9._~-]{0,64}){0,8}`,
};

/** Keywords that only annotate: ignored. */
const ANNOTATIONS = new Set(["title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly", "strict"]);
const KNOWN = new Set(["type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "anyOf", "$ref", "$defs", "definitions", "minLength", "maxLength", "nullable", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "format"]);
/** Keywords that constrain one type only: with no "type" beside them they would be silently dropped. */
const TYPE_SPECIFIC = ["minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems"];
const TYPES = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);

/** Whether a JSON value has the schema type `type` (a name or a list; undefined: any). */
function ofType(value: unknown, type: unknown): boolean {
  if (type === undefined) return true;
  if (Array.isArray(type)) return type.some((t) => ofType(value, t));
  switch (type) {
    case "null": return value === null;
    case "boolean": return typeof value === "boolean";
    case "string": return typeof value === "string";
    case "integer": return Number.isInteger(value);
    case "number": return typeof value === "number";
    case "array": return Array.isArray(value);
    case "object": return typeof value === "object" && value !== null && !Array.isArray(value);
    default: return false;
  }
}

const encoder = new TextEncoder();
const literalBytes = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

class Compiler {
  private nextId = 0;
  private readonly refs = new Map<string, SchemaNode>();
  constructor(private readonly root: unknown) {}

  id(): number {
    return this.nextId++;
  }

  /** Any JSON value (json_object's values, an empty schema). */
  anyValue(): SchemaNode {
    const any: SchemaNode = { kind: "anyOf", id: this.id(), options: [] };
    const object: SchemaNode = { kind: "object", id: this.id(), properties: [], freeValue: any };
    const array: SchemaNode = { kind: "array", id: this.id(), items: any, minItems: 0, maxItems: Infinity };
    any.options.push(object, array, this.stringNode(0, Infinity), { kind: "number", id: this.id(), integer: false }, ...["true", "false", "null"].map((t) => this.literal(encoder.encode(t))));
    return any;
  }

  anyObject(): SchemaNode {
    return { kind: "object", id: this.id(), properties: [], freeValue: this.anyValue() };
  }

  literal(bytes: Uint8Array): SchemaNode {
    return { kind: "literal", id: this.id(), bytes };
  }

  stringNode(minLength: number, maxLength: number): SchemaNode {
    return { kind: "string", id: this.id(), minLength, maxLength };
  }

  compile(schema: unknown, at: string): SchemaNode {
    if (schema === true) return this.anyValue();
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw new SchemaError(at, undefined, `expected a schema object, got ${JSON.stringify(schema)}`);
    const s = schema as Record<string, unknown>;
    for (const key of Object.keys(s)) {
      if (!KNOWN.has(key) && !ANNOTATIONS.has(key)) throw new SchemaError(`${at}/${key}`, key, `the keyword "${key}" is not supported by constrained decoding`);
    }
    let node = this.compileBody(s, at);
    if (s["nullable"] === true) node = { kind: "anyOf", id: this.id(), options: [node, this.literal(encoder.encode("null"))] };
    return node;
  }

  private compileBody(s: Record<string, unknown>, at: string): SchemaNode {
    const early = ["$ref", "const", "enum", "anyOf"].find((k) => s[k] !== undefined);
    const loose = TYPE_SPECIFIC.find((k) => s[k] !== undefined);
    if (early !== undefined && loose !== undefined) throw new SchemaError(`${at}/${loose}`, loose, `"${loose}" beside "${early}" is not supported by constrained decoding`);
    if (s["$ref"] !== undefined) return this.ref(s["$ref"], `${at}/$ref`);
    if (s["const"] !== undefined) {
      if (!ofType(s["const"], s["type"])) throw new SchemaError(`${at}/const`, "const", `the const is not of the type ${JSON.stringify(s["type"])}`);
      return this.literal(literalBytes(s["const"]));
    }
    if (s["enum"] !== undefined) {
      const values = s["enum"];
      if (!Array.isArray(values) || values.length === 0) throw new SchemaError(`${at}/enum`, "enum", "enum must be a non-empty array");
      // A "type" beside the enum (as zod writes it) keeps only the values of that type.
      const kept = values.filter((v) => ofType(v, s["type"]));
      if (kept.length === 0) throw new SchemaError(`${at}/enum`, "enum", `no value of the enum has the type ${JSON.stringify(s["type"])}`);
      return { kind: "anyOf", id: this.id(), options: kept.map((v) => this.literal(literalBytes(v))) };
    }
    if (s["anyOf"] !== undefined) {
      const options = s["anyOf"];
      if (!Array.isArray(options) || options.length === 0) throw new SchemaError(`${at}/anyOf`, "anyOf", "anyOf must be a non-empty array");
      return { kind: "anyOf", id: this.id(), options: options.map((o, i) => this.compile(o, `${at}/anyOf/${i}`)) };
    }
    const type = s["type"];
    if (type === undefined) {
      if (s["properties"] !== undefined) return this.object(s, at);
      if (s["items"] !== undefined) return this.array(s, at);
      const loose = TYPE_SPECIFIC.find((k) => s[k] !== undefined);
      if (loose !== undefined) throw new SchemaError(`${at}/${loose}`, loose, `"${loose}" needs a "type" beside it (constrained decoding generates one type per schema)`);
      return this.anyValue();
    }
    if (Array.isArray(type)) {
      if (type.length === 0) throw new SchemaError(`${at}/type`, "type", "type must not be an empty list");
      return { kind: "anyOf", id: this.id(), options: type.map((t, i) => this.typed(t, s, at, `${at}/type/${i}`)) };
    }
    return this.typed(type, s, at, `${at}/type`);
  }

  private typed(type: unknown, s: Record<string, unknown>, at: string, typeAt: string): SchemaNode {
    if (typeof type !== "string" || !TYPES.has(type)) throw new SchemaError(typeAt, "type", `unknown type ${JSON.stringify(type)}`);
    switch (type) {
      case "object": return this.object(s, at);
      case "array": return this.array(s, at);
      case "string": return this.string(s, at);
      case "number": return this.numberNode(s, at, false);
      case "integer": return this.numberNode(s, at, true);
      case "boolean": return { kind: "anyOf", id: this.id(), options: [this.literal(encoder.encode("true")), this.literal(encoder.encode("false"))] };
      default: return this.literal(encoder.encode("null"));
    }
  }

  /** A number or integer node, with the bounds of minimum / maximum / exclusive* when there are any. */
  private numberNode(s: Record<string, unknown>, at: string, integer: boolean): SchemaNode {
    const frac = integer ? 0 : MAX_FRAC_DIGITS;
    const bound = (key: "minimum" | "maximum", exclusiveKey: "exclusiveMinimum" | "exclusiveMaximum"): bigint | undefined => {
      const lower = key === "minimum";
      let result: bigint | undefined;
      const tighten = (v: bigint): void => void (result = result === undefined ? v : lower ? (v > result ? v : result) : v < result ? v : result);
      const inclusive = s[key];
      const exclusive = s[exclusiveKey];
      // Draft 4 spells exclusivity as a boolean beside minimum / maximum.
      const draft4 = typeof exclusive === "boolean";
      for (const [k, v, strict] of [[key, inclusive, draft4 && exclusive === true], [exclusiveKey, draft4 ? undefined : exclusive, true]] as const) {
        if (v === undefined) continue;
        if (typeof v !== "number" || !Number.isFinite(v)) throw new SchemaError(`${at}/${k}`, k, `${k} must be a finite number`);
        tighten(gridBound(v, lower, strict, frac));
      }
      return result;
    };
    const lo = bound("minimum", "exclusiveMinimum");
    const hi = bound("maximum", "exclusiveMaximum");
    if (lo === undefined && hi === undefined) return { kind: "number", id: this.id(), integer };
    // Numbers have at most MAX_INT_DIGITS integer digits: the grammar reaches |x| < 10^16.
    const reach = 10n ** BigInt(MAX_INT_DIGITS + frac) - 1n;
    const key = lo !== undefined ? (s["minimum"] !== undefined ? "minimum" : "exclusiveMinimum") : s["maximum"] !== undefined ? "maximum" : "exclusiveMaximum";
    if ((lo ?? -reach) > (hi ?? reach) || (lo ?? -reach) > reach || (hi ?? reach) < -reach) {
      throw new SchemaError(`${at}/${key}`, key, `no ${integer ? "integer" : "number"} of at most ${MAX_INT_DIGITS} digits${integer ? "" : ` and ${frac} decimals`} satisfies the bounds`);
    }
    return { kind: "number", id: this.id(), integer, bounds: { frac, lo, hi } };
  }

  /** A string node; `pattern` (or a known `format`) becomes a regex the decoded text must match. */
  private string(s: Record<string, unknown>, at: string): SchemaNode {
    const minLength = this.count(s, "minLength", at, 0);
    const maxLength = this.count(s, "maxLength", at, Infinity);
    if (minLength > maxLength) throw new SchemaError(`${at}/minLength`, "minLength", "minLength exceeds maxLength");
    const pattern = s["pattern"];
    const format = s["format"];
    if (pattern !== undefined && typeof pattern !== "string") throw new SchemaError(`${at}/pattern`, "pattern", "pattern must be a string");
    if (format !== undefined && typeof format !== "string") throw new SchemaError(`${at}/format`, "format", "format must be a string");
    // A pattern beside a format is the assertion (zod writes its format checks as patterns); a
    // format alone is enforced with our own regex for it, or refused.
    const [key, source] = pattern !== undefined ? ["pattern", searchPattern(pattern)] : format !== undefined ? ["format", FORMATS[format]] : [undefined, undefined];
    if (key === "format" && source === undefined) throw new SchemaError(`${at}/format`, "format", `the keyword "format" with the value "${String(format)}" is not supported by constrained decoding (supported formats: ${Object.keys(FORMATS).join(", ")})`);
    if (key === undefined || source === undefined) return this.stringNode(minLength, maxLength);
    let regex: RegexGrammar;
    try {
      regex = new RegexGrammar(source);
      if (!regex.canFinish(regex.initial(), minLength, maxLength)) throw new SchemaError(`${at}/${key}`, key, `no string of ${minLength} to ${maxLength} characters matches the ${key}`);
    } catch (e) {
      if (e instanceof SchemaError || !(e instanceof ArgumentError)) throw e;
      throw new SchemaError(`${at}/${key}`, key, e.message);
    }
    return { kind: "string", id: this.id(), minLength, maxLength, pattern: regex };
  }

  private count(s: Record<string, unknown>, key: string, at: string, fallback: number): number {
    const v = s[key];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new SchemaError(`${at}/${key}`, key, `${key} must be a non-negative integer`);
    return v;
  }

  private object(s: Record<string, unknown>, at: string): SchemaNode {
    const props = s["properties"];
    const additional = s["additionalProperties"];
    if (props === undefined) {
      // No declared properties: any keys, with values of additionalProperties' schema (default: any).
      if (additional === false) return this.literal(encoder.encode("{}"));
      return { kind: "object", id: this.id(), properties: [], freeValue: additional === undefined || additional === true ? this.anyValue() : this.compile(additional, `${at}/additionalProperties`) };
    }
    if (typeof props !== "object" || props === null || Array.isArray(props)) throw new SchemaError(`${at}/properties`, "properties", "properties must be an object");
    const required = s["required"] ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === "string")) throw new SchemaError(`${at}/required`, "required", "required must be an array of strings");
    for (const r of required as string[]) if (!(r in props)) throw new SchemaError(`${at}/required`, "required", `required property "${r}" is not in properties`);
    // Only the declared properties are generated (a subset of what additionalProperties allows).
    const properties = Object.entries(props as Record<string, unknown>).map(([key, value]) => ({
      keyBytes: literalBytes(key),
      value: this.compile(value, `${at}/properties/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`),
      required: (required as string[]).includes(key),
    }));
    return { kind: "object", id: this.id(), properties, freeValue: undefined };
  }

  private array(s: Record<string, unknown>, at: string): SchemaNode {
    const minItems = this.count(s, "minItems", at, 0);
    const maxItems = this.count(s, "maxItems", at, Infinity);
    if (minItems > maxItems) throw new SchemaError(`${at}/minItems`, "minItems", "minItems exceeds maxItems");
    const items = s["items"] === undefined ? this.anyValue() : this.compile(s["items"], `${at}/items`);
    return { kind: "array", id: this.id(), items, minItems, maxItems };
  }

  private ref(ref: unknown, at: string): SchemaNode {
    if (typeof ref !== "string" || !ref.startsWith("#")) throw new SchemaError(at, "$ref", `only local references ("#/$defs/name") are supported, got ${JSON.stringify(ref)}`);
    const cached = this.refs.get(ref);
    if (cached !== undefined) return cached;
    // A placeholder first, filled after compiling the target, so recursive schemas terminate.
    const node: SchemaNode = { kind: "anyOf", id: this.id(), options: [] };
    this.refs.set(ref, node);
    let target: unknown = this.root;
    for (const raw of ref.slice(1).split("/").filter((p) => p !== "")) {
      const part = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
      if (typeof target !== "object" || target === null || !(part in target)) throw new SchemaError(at, "$ref", `the reference ${ref} points at nothing`);
      target = (target as Record<string, unknown>)[part];
    }
    node.options.push(this.compile(target, ref.slice(1)));
    return node;
  }
}

/**
 * Compile a JSON schema into value nodes.
 * @throws SchemaError naming an unsupported keyword or a malformed value, with its JSON pointer
 * @example compileJsonSchema({ type: "object", properties: { a: { type: "integer" } }, required: ["a"] })
 */
export function compileJsonSchema(schema: unknown): SchemaNode {
  const c = new Compiler(schema);
  return c.compile(schema, "");
}

/** The node of OpenAI's JSON mode (`json_object`): any JSON object. */
export function anyJsonObject(): SchemaNode {
  return new Compiler({}).anyObject();
}
