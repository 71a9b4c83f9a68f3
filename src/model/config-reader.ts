// Strict typed access to the keys of a parsed JSON config object. Every read names its key, so a
// missing or malformed value becomes a ConfigError that says which key, in which file, and what was
// expected; the keys read are remembered so that unknown keys can be reported.

import { ConfigError } from "../errors.js";
import { type JsonObject, isJsonObject } from "../json.js";


/** Reads keys of one JSON object, remembering which were read. */
export class ConfigReader {
  private readonly seen = new Set<string>();

  /**
   * @param object the parsed JSON object
   * @param path the file it came from, for error messages
   * @param prefix dotted key prefix for nested objects ("rope_scaling.")
   */
  constructor(readonly object: JsonObject, readonly path: string | undefined, readonly prefix = "") {}

  private error(key: string, message: string): ConfigError {
    return new ConfigError(this.prefix + key, message, this.path === undefined ? {} : { path: this.path });
  }

  /** The raw value of a key (undefined when absent), marking it as read. */
  raw(key: string): unknown {
    this.seen.add(key);
    return this.object[key];
  }

  has(key: string): boolean {
    return this.object[key] !== undefined && this.object[key] !== null;
  }

  /** Marks keys as known without reading them (keys the model legitimately ignores). */
  ignore(...keys: string[]): void {
    for (const key of keys) this.seen.add(key);
  }

  /** A required integer in [min, max]. */
  int(key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.raw(key);
    if (value === undefined || value === null) throw this.error(key, "missing (required)");
    return this.checkInt(key, value, min, max);
  }

  /** An optional integer in [min, max]; `fallback` when absent or null. */
  optionalInt(key: string, fallback: number, min?: number, max?: number): number;
  optionalInt(key: string, fallback: number | undefined, min?: number, max?: number): number | undefined;
  optionalInt(key: string, fallback: number | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    return this.checkInt(key, value, min, max);
  }

  private checkInt(key: string, value: unknown, min: number, max: number): number {
    if (typeof value !== "number" || !Number.isInteger(value)) throw this.error(key, `must be an integer, got ${JSON.stringify(value)}`);
    if (value < min || value > max) throw this.error(key, `must be between ${min} and ${max}, got ${value}`);
    return value;
  }

  /** A required finite number, strictly positive when `positive`. */
  number(key: string, options: { positive?: boolean } = {}): number {
    const value = this.raw(key);
    if (value === undefined || value === null) throw this.error(key, "missing (required)");
    return this.checkNumber(key, value, options.positive ?? false);
  }

  optionalNumber(key: string, fallback: number, options: { positive?: boolean } = {}): number {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    return this.checkNumber(key, value, options.positive ?? false);
  }

  private checkNumber(key: string, value: unknown, positive: boolean): number {
    if (typeof value !== "number" || !Number.isFinite(value)) throw this.error(key, `must be a finite number, got ${JSON.stringify(value)}`);
    if (positive && !(value > 0)) throw this.error(key, `must be positive, got ${value}`);
    return value;
  }

  optionalBoolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "boolean") throw this.error(key, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  optionalString(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw this.error(key, `must be a string, got ${JSON.stringify(value)}`);
    return value;
  }

  /** A token id or a list of them (HF's eos_token_id); empty when absent or null. */
  optionalIdList(key: string): number[] {
    const value = this.raw(key);
    if (value === undefined || value === null) return [];
    const list: unknown[] = Array.isArray(value) ? value : [value];
    if (!list.every((id): id is number => typeof id === "number" && Number.isInteger(id) && id >= 0)) {
      throw this.error(key, `must be a token id or a list of token ids, got ${JSON.stringify(value)}`);
    }
    return list;
  }

  /** A nested object, or undefined when absent or null. */
  optionalObject(key: string): ConfigReader | undefined {
    const value = this.raw(key);
    if (value === undefined || value === null) return undefined;
    if (!isJsonObject(value)) throw this.error(key, `must be an object, got ${JSON.stringify(value)}`);
    return new ConfigReader(value, this.path, `${this.prefix}${key}.`);
  }

  /** A ConfigError about `key` (prefixed and located like the reader's own errors), for the caller to throw. */
  fail(key: string, message: string): ConfigError {
    return this.error(key, message);
  }

  /** Keys of the object that were never read nor ignored. */
  unknownKeys(): string[] {
    return Object.keys(this.object).filter((key) => !this.seen.has(key)).map((key) => this.prefix + key);
  }
}
