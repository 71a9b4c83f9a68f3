// Reading a small JSON file (config.json, params.json, an index) with errors that name the file.

import { readFile, stat } from "node:fs/promises";
import { FormatError } from "../errors.js";

/** Largest JSON config file read (config files are a few KB; this only stops absurd inputs). */
export const MAX_JSON_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Parse a JSON file.
 * @throws FormatError when the file cannot be read, is too large or is not valid JSON
 */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_JSON_FILE_BYTES) throw new FormatError(path, `file is ${size} bytes; JSON files over ${MAX_JSON_FILE_BYTES} (MAX_JSON_FILE_BYTES) are refused`);
    const bytes = await readFile(path);
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    if (error instanceof FormatError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new FormatError(path, `cannot read: ${reason}`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FormatError(path, `invalid JSON: ${reason}`, { cause: error });
  }
}
