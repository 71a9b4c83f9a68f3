// Typed readers for fields of parsed JSON tokenizer files: each check names the file and the field
// path ("model.vocab", "added_tokens[3].content") in the FormatError it throws. Reading the files and
// parsing JSON are src/json.ts's (one size limit, strict UTF-8, one notion of a JSON object).

import { FormatError } from "../errors.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { MAX_ADDED_TOKENS } from "./added-tokens.js";
import { MAX_BPE_TOKENS } from "./load-tiktoken.js";

/** Largest token id a tokenizer file may name: MAX_BPE_TOKENS ranks, then MAX_ADDED_TOKENS added tokens. */
export const MAX_TOKEN_ID = MAX_BPE_TOKENS + MAX_ADDED_TOKENS - 1;

/** Describe a JSON value's type for messages. */
export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

export function expectObject(value: unknown, field: string, path: string): JsonObject {
  if (!isJsonObject(value)) throw new FormatError(path, `${field} must be an object, got ${typeName(value)}`);
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

/** An integer id in 0..MAX_TOKEN_ID (2^53 or 1e20 are integers too, but no vocabulary is that large). */
export function expectTokenId(value: unknown, field: string, path: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_TOKEN_ID) {
    throw new FormatError(path, `${field} must be an integer token id in 0..${MAX_TOKEN_ID} (MAX_TOKEN_ID), got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A boolean field that may be absent (undefined) but not of another type. */
export function optionalBoolean(value: unknown, field: string, path: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw new FormatError(path, `${field} must be a boolean, got ${typeName(value)}`);
  return value;
}
