// JSON Schema -> a tree of value nodes that json-grammar.ts matches byte by byte. Covers the subset
// that OpenAI's structured outputs accept: object (properties, required, additionalProperties),
// array (items, minItems, maxItems), enum, const, string (minLength, maxLength), number, integer,
// boolean, null, anyOf, type lists, $ref into $defs/definitions (recursion included). Properties are
// generated in the schema's order (as llama.cpp's json-schema-to-grammar does); an object without
// `properties` takes any keys. Anything else is refused with a SchemaError naming the keyword and its
// JSON pointer, so a schema is never silently loosened. Reference: llama.cpp
// common/json-schema-to-grammar.cpp (which also orders properties and bounds nothing it cannot check).

import { ArgumentError } from "../errors.js";

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
  | { readonly kind: "string"; readonly id: number; readonly minLength: number; readonly maxLength: number }
  | { readonly kind: "number"; readonly id: number; readonly integer: boolean }
  | { readonly kind: "literal"; readonly id: number; readonly bytes: Uint8Array }
  | { readonly kind: "anyOf"; readonly id: number; options: SchemaNode[] };

export interface PropertyNode {
  /** The key as JSON writes it, quotes included (`"name"`). */
  readonly keyBytes: Uint8Array;
  readonly value: SchemaNode;
  readonly required: boolean;
}

/** Keywords that only annotate: ignored. */
const ANNOTATIONS = new Set(["title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly", "strict"]);
const KNOWN = new Set(["type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "anyOf", "$ref", "$defs", "definitions", "minLength", "maxLength", "nullable"]);
const TYPES = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);

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
    if (s["$ref"] !== undefined) return this.ref(s["$ref"], `${at}/$ref`);
    if (s["const"] !== undefined) return this.literal(literalBytes(s["const"]));
    if (s["enum"] !== undefined) {
      const values = s["enum"];
      if (!Array.isArray(values) || values.length === 0) throw new SchemaError(`${at}/enum`, "enum", "enum must be a non-empty array");
      return { kind: "anyOf", id: this.id(), options: values.map((v) => this.literal(literalBytes(v))) };
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
      case "string": return this.stringNode(this.count(s, "minLength", at, 0), this.count(s, "maxLength", at, Infinity));
      case "number": return { kind: "number", id: this.id(), integer: false };
      case "integer": return { kind: "number", id: this.id(), integer: true };
      case "boolean": return { kind: "anyOf", id: this.id(), options: [this.literal(encoder.encode("true")), this.literal(encoder.encode("false"))] };
      default: return this.literal(encoder.encode("null"));
    }
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
