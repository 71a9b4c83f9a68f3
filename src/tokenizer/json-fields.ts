// Typed readers for fields of parsed JSON tokenizer files: each check names the file and the field
// path ("model.vocab", "added_tokens[3].content") in the FormatError it throws.

import { FormatError } from "../errors.js";

export type JsonObject = { readonly [key: string]: unknown };

/** Parse JSON text, turning a syntax error into a FormatError naming the file. */
export function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new FormatError(path, `not valid JSON: ${message}`, { cause: error });
  }
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Describe a JSON value's type for messages. */
export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

export function expectObject(value: unknown, field: string, path: string): JsonObject {
  if (!isObject(value)) throw new FormatError(path, `${field} must be an object, got ${typeName(value)}`);
  return value;
}

export function expectArray(value: unknown, field: string, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new FormatError(path, `${field} must be an array, got ${typeName(value)}`);
  return value;
}

export function expectString(value: unknown, field: string, path: string): string {
  if (typeof value !== "string") throw new FormatError(path, `${field} must be a string, got ${typeName(value)}`);
  return value;
}

export function expectTokenId(value: unknown, field: string, path: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new FormatError(path, `${field} must be a non-negative integer token id, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A boolean field that may be absent (undefined) but not of another type. */
export function optionalBoolean(value: unknown, field: string, path: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw new FormatError(path, `${field} must be a boolean, got ${typeName(value)}`);
  return value;
}
