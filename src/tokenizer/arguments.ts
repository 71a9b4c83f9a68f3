// Run-time checks of the public API's arguments, for JavaScript callers whom the types do not reach:
// a wrong type or an unknown option is an ArgumentError naming the argument, never a silent default.

import { ArgumentError } from "../errors.js";

/** A value for a message: strings quoted, arrays and objects by kind. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null || value === undefined || typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? `an object (${Object.prototype.toString.call(value)})` : `a ${typeof value}`;
}

/** A typed array (Uint32Array...), not a DataView. */
export function isTypedArray(value: unknown): boolean {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/** An options argument: a plain object whose keys are all known. */
export function checkOptions(options: unknown, known: ReadonlySet<string>, where: string): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ArgumentError(`${where}: options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new ArgumentError(`${where}: unknown option ${JSON.stringify(key)} (known: ${[...known].join(", ")})`);
  }
}

/** An optional boolean option. */
export function optionalBoolean(value: unknown, what: string): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") throw new ArgumentError(`${what} must be a boolean, got ${describe(value)}`);
  return value;
}

/** A token's text: a non-empty string. */
export function checkTokenString(value: unknown, what: string): void {
  if (typeof value !== "string") throw new ArgumentError(`${what} must be a string, got ${describe(value)}`);
  if (value === "") throw new ArgumentError(`${what}: a token cannot be the empty string`);
}
