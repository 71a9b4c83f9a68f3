// Typed readers of the fields of a JSON request body, each failing with a 400 that names the field
// (its wire name and path, as OpenAI's `error.param` does). `null` reads as absent, as the OpenAI
// API treats it for optional fields. Used by request.ts; nothing here knows which fields exist.

import { invalidParam } from "./api-error.js";

/** A parsed JSON object. */
export type JsonFields = Readonly<Record<string, unknown>>;

/** Whether a JSON value is an object (not an array, not null). */
export function isFields(value: unknown): value is JsonFields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short description of a JSON value's type for messages: "a string", "an array", "null". */
export function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "number" && !Number.isFinite(value)) return "a non-finite number";
  return typeof value === "string" ? "a string" : typeof value === "number" ? "a number" : typeof value === "boolean" ? "a boolean" : typeof value;
}

function typeError(param: string, expected: string, value: unknown): Error {
  return invalidParam(param, `expected ${expected}, got ${jsonType(value)}`, "invalid_type");
}

/** A field that must be a string when present. */
export function optionalString(body: JsonFields, key: string, param = key): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw typeError(param, "a string", value);
  return value;
}

/** A field that must be a boolean when present. */
export function optionalBoolean(body: JsonFields, key: string, param = key): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw typeError(param, "a boolean", value);
  return value;
}

/** A field that must be a number within [min, max] when present. */
export function optionalNumber(body: JsonFields, key: string, min: number, max: number, param = key): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw typeError(param, "a number", value);
  if (value < min || value > max) throw invalidParam(param, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** A field that must be an integer within [min, max] when present. */
export function optionalInteger(body: JsonFields, key: string, min: number, max: number, param = key): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) throw typeError(param, "an integer", value);
  if (value < min || value > max) throw invalidParam(param, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** A field that must be an object when present. */
export function optionalObject(body: JsonFields, key: string, param = key): JsonFields | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!isFields(value)) throw typeError(param, "an object", value);
  return value;
}

/** A field that must be an array when present. */
export function optionalArray(body: JsonFields, key: string, param = key): readonly unknown[] | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw typeError(param, "an array", value);
  return value;
}

/** Whether a field is present with a value that means "use this" (not absent, null, false, empty). */
export function isSet(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isFields(value)) return Object.keys(value).length > 0;
  return true;
}
