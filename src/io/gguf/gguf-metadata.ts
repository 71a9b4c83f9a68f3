// Typed, strict access to a GGUF file's metadata keys, for the modules that own a key family
// (model/gguf-config.ts for `llama.*`, tokenizer/load-gguf.ts for `tokenizer.*`). Every read names
// its key, so a missing or mistyped value is a ConfigError saying which key in which file and what
// was expected; the keys read are remembered so the rest can be reported as unknown.

import { ConfigError } from "../../errors.js";
import type { GgufArray, GgufItem, GgufValue } from "./gguf-header.js";

const INTEGER_TYPES: ReadonlySet<string> = new Set(["u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"]);

/** Reads metadata keys of one GGUF file, remembering which were read. */
export class GgufMetadataReader {
  private readonly seen = new Set<string>();

  constructor(readonly metadata: ReadonlyMap<string, GgufValue>, readonly path: string) {}

  /** A ConfigError about `key`, located in the file. */
  fail(key: string, message: string): ConfigError {
    return new ConfigError(key, message, { path: this.path });
  }

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  /** Marks keys as known without reading them. */
  ignore(...keys: string[]): void {
    for (const key of keys) this.seen.add(key);
  }

  private get(key: string): GgufValue | undefined {
    this.seen.add(key);
    return this.metadata.get(key);
  }

  private required(key: string): GgufValue {
    const v = this.get(key);
    if (v === undefined) throw this.fail(key, "missing (required)");
    return v;
  }

  /** A required integer (any GGUF integer type) in [min, max]. */
  int(key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    return this.checkInt(key, this.required(key), min, max);
  }

  optionalInt(key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : this.checkInt(key, v, min, max);
  }

  private checkInt(key: string, v: GgufValue, min: number, max: number): number {
    if (!INTEGER_TYPES.has(v.type)) throw this.fail(key, `must be an integer, got a ${v.type}`);
    const n = Number(v.value as number | bigint);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw this.fail(key, `must be between ${min} and ${max}, got ${String(v.value)}`);
    return n;
  }

  /** A required finite number (a float or integer type), strictly positive when `positive`. */
  number(key: string, options: { positive?: boolean } = {}): number {
    return this.checkNumber(key, this.required(key), options.positive ?? false);
  }

  optionalNumber(key: string, options: { positive?: boolean } = {}): number | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : this.checkNumber(key, v, options.positive ?? false);
  }

  private checkNumber(key: string, v: GgufValue, positive: boolean): number {
    if (v.type !== "f32" && v.type !== "f64" && !INTEGER_TYPES.has(v.type)) throw this.fail(key, `must be a number, got a ${v.type}`);
    const n = Number(v.value as number | bigint);
    if (!Number.isFinite(n)) throw this.fail(key, `must be finite, got ${n}`);
    if (positive && !(n > 0)) throw this.fail(key, `must be positive, got ${n}`);
    return n;
  }

  optionalBoolean(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "bool") throw this.fail(key, `must be a bool, got a ${v.type}`);
    return v.value as boolean;
  }

  string(key: string): string {
    const s = this.optionalString(key);
    if (s === undefined) throw this.fail(key, "missing (required)");
    return s;
  }

  optionalString(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "string") throw this.fail(key, `must be a string, got a ${v.type}`);
    return v.value as string;
  }

  /** A required array of strings. */
  stringArray(key: string): readonly string[] {
    const items = this.array(key, (type) => type === "string", "strings");
    return items as readonly string[];
  }

  /** An optional array of strings. */
  optionalStringArray(key: string): readonly string[] | undefined {
    if (!this.has(key)) {
      this.seen.add(key);
      return undefined;
    }
    return this.stringArray(key);
  }

  /** An optional array of integers (any integer type), as numbers. */
  optionalIntArray(key: string): readonly number[] | undefined {
    if (!this.has(key)) {
      this.seen.add(key);
      return undefined;
    }
    return this.array(key, (type) => INTEGER_TYPES.has(type), "integers").map((x) => Number(x as number | bigint));
  }

  /** An optional array of numbers (float or integer types). */
  optionalNumberArray(key: string): readonly number[] | undefined {
    if (!this.has(key)) {
      this.seen.add(key);
      return undefined;
    }
    return this.array(key, (type) => type === "f32" || type === "f64" || INTEGER_TYPES.has(type), "numbers").map((x) => Number(x as number | bigint));
  }

  private array(key: string, accept: (type: string) => boolean, what: string): readonly GgufItem[] {
    const v = this.required(key);
    if (v.type !== "array") throw this.fail(key, `must be an array of ${what}, got a ${v.type}`);
    const array = v.value as GgufArray;
    if (!accept(array.itemType)) throw this.fail(key, `must be an array of ${what}, got an array of ${array.itemType}`);
    return array.items;
  }

  /** Keys never read nor ignored, with `prefix` (all when omitted). */
  unknownKeys(prefix = ""): string[] {
    return [...this.metadata.keys()].filter((key) => key.startsWith(prefix) && !this.seen.has(key));
  }
}
