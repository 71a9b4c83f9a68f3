// Reading small JSON and text files (config.json, params.json, tokenizer files, indexes) and telling
// JSON objects apart, shared by every layer: one size limit, strict UTF-8 and errors that name the
// file. Sits beside errors.ts at the bottom of the import graph.

import { readFile, stat } from "#platform";
import { FormatError } from "./errors.js";

/** A parsed JSON object. */
export type JsonObject = { readonly [key: string]: unknown };

/** Largest text file read whole (configs are KB; tokenizer.json is ~9 MB; this stops absurd inputs). */
export const MAX_JSON_FILE_BYTES = 64 * 1024 * 1024;

/** True for a JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Orders strings by Unicode code point, as Rust compares `String`s and Python sorts `str`s
 * (JavaScript's < compares UTF-16 units, which differs for characters past U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done === true || cb.done === true) return (ca.done === true ? 0 : 1) - (cb.done === true ? 0 : 1);
    const diff = (ca.value.codePointAt(0) ?? 0) - (cb.value.codePointAt(0) ?? 0);
    if (diff !== 0) return diff;
  }
}

/**
 * Read a whole text file as strict UTF-8.
 * @throws FormatError when the file cannot be read (missing, a folder...), is over
 *   MAX_JSON_FILE_BYTES, or is not valid UTF-8
 */
export async function readTextFile(path: string): Promise<string> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new FormatError(path, "not a regular file");
    if (info.size > MAX_JSON_FILE_BYTES) throw new FormatError(path, `file is ${info.size} bytes; files over ${MAX_JSON_FILE_BYTES} (MAX_JSON_FILE_BYTES) are refused`);
    return new TextDecoder("utf-8", { fatal: true }).decode(await readFile(path));
  } catch (error) {
    if (error instanceof FormatError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new FormatError(path, `cannot read: ${reason}`, { cause: error });
  }
}

/** Parse JSON text from `path`, turning a syntax error into a FormatError naming the file. */
export function parseJsonText(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FormatError(path, `invalid JSON: ${reason}`, { cause: error });
  }
}

/**
 * Parse a JSON file.
 * @throws FormatError when the file cannot be read, is too large, is not UTF-8 or not valid JSON
 */
export async function readJsonFile(path: string): Promise<unknown> {
  return parseJsonText(await readTextFile(path), path);
}
