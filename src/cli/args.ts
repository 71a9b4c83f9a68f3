// Command-line argument parsing for the `llama3` commands: a thin, strict layer over node:util
// parseArgs that turns its errors into UsageError and offers typed readers for common values.

import { parseArgs } from "node:util";
import { UsageError } from "./command.js";

export type FlagSpec = Readonly<Record<string, { readonly type: "string" | "boolean"; readonly short?: string; readonly multiple?: boolean }>>;

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly positionals: readonly string[];
}

/**
 * Parse argv strictly against `flags`; unknown flags, missing values and (unless `maxPositionals`
 * allows them) positional arguments are UsageErrors.
 */
export function parseFlags(argv: readonly string[], flags: FlagSpec, usage: string, maxPositionals = Number.POSITIVE_INFINITY): ParsedArgs {
  let parsed: ParsedArgs;
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: flags, allowPositionals: true, strict: true });
    parsed = { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (error) {
    // node:util explains some errors over several lines; the first says what is wrong.
    const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
    throw new UsageError(`${message}; usage: ${usage}`, { cause: error });
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}"; usage: ${usage}`);
  }
  return parsed;
}

/** A string flag's value, or undefined when absent. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === "string" ? value : undefined;
}

/** A string flag that must be present. */
export function requiredString(args: ParsedArgs, name: string, usage: string): string {
  const value = stringFlag(args, name);
  if (value === undefined) throw new UsageError(`missing --${name}; usage: ${usage}`);
  return value;
}

/** A boolean flag (false when absent). */
export function booleanFlag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** An integer flag within [min, max], or `fallback` when absent. */
export function intFlag(args: ParsedArgs, name: string, fallback: number, min: number, max: number): number {
  const raw = stringFlag(args, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`--${name} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** A decimal number: 0.7, -1, 1e-3 (not hex, not Infinity). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A number flag within [min, max], or `fallback` when absent. */
export function numberFlag(args: ParsedArgs, name: string, fallback: number, min: number, max: number): number {
  const raw = stringFlag(args, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!DECIMAL.test(raw.trim()) || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
  if (value < min || value > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Parse a comma-separated list of non-negative token ids ("128000,791,6864"). */
export function parseIdList(raw: string, flag: string): number[] {
  const parts = raw.split(",").map((s) => s.trim());
  if (raw.trim() === "") throw new UsageError(`--${flag} needs at least one token id`);
  return parts.map((part) => {
    if (!/^\d+$/.test(part)) throw new UsageError(`--${flag}: "${part}" is not a token id (a non-negative integer)`);
    return Number(part);
  });
}

/** Every value of a repeatable string flag (`multiple: true`), in order; [] when absent. */
export function stringListFlag(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [String(value)];
}
