// The error types of llama3-ts. Every failure the library reports is a `LlamaError` subclass that
// carries the context needed to act on it (which file, which byte, which config key, which tensor).
// Library code throws these and never exits the process; the CLI maps them to one-line messages and
// exit codes, the server to HTTP statuses. Follows ../shared/STYLE.md "Errors".

/** Base class of every error llama3-ts throws on purpose. */
export class LlamaError extends Error {
  override readonly name: string = "LlamaError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bytes that do not follow their format: a file that is truncated, corrupt or not what it claims. */
export class FormatError extends LlamaError {
  override readonly name = "FormatError";
  readonly path: string;
  readonly byteOffset: number | undefined;
  constructor(path: string, message: string, options?: { byteOffset?: number; cause?: unknown }) {
    const at = options?.byteOffset === undefined ? "" : ` (at byte ${options.byteOffset})`;
    super(`${path}: ${message}${at}`, options);
    this.path = path;
    this.byteOffset = options?.byteOffset;
  }
}

/** A tensor whose shape or size is not the one the model needs. */
export class ShapeError extends LlamaError {
  override readonly name = "ShapeError";
  readonly tensor: string;
  readonly expected: readonly number[];
  readonly actual: readonly number[];
  constructor(tensor: string, expected: readonly number[], actual: readonly number[], where?: string) {
    const loc = where === undefined ? "" : `${where}: `;
    super(`${loc}tensor ${tensor} has shape [${actual.join(", ")}], expected [${expected.join(", ")}]`);
    this.tensor = tensor;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A configuration key that is missing, of the wrong type or out of range. */
export class ConfigError extends LlamaError {
  override readonly name = "ConfigError";
  readonly key: string;
  readonly path: string | undefined;
  constructor(key: string, message: string, options?: { path?: string; cause?: unknown }) {
    const where = options?.path === undefined ? "" : `${options.path}: `;
    super(`${where}config key "${key}": ${message}`, options);
    this.key = key;
    this.path = options?.path;
  }
}

/** Something valid that llama3-ts does not implement (another architecture, rope type, dtype...). */
export class UnsupportedError extends LlamaError {
  override readonly name = "UnsupportedError";
}

/** A tokenizer file that cannot be used, or ids/text that cannot be encoded or decoded. */
export class TokenizerError extends LlamaError {
  override readonly name = "TokenizerError";
}

/** Computation produced NaN or infinite values (e.g. float16 overflow, a degenerate config). */
export class NumericalError extends LlamaError {
  override readonly name = "NumericalError";
}

/** A caller's argument that is invalid (bad token id, bad option, cache too small...). */
export class ArgumentError extends LlamaError {
  override readonly name: string = "ArgumentError";
}

/** A malformed request to the server; `status` is the HTTP status it maps to. */
export class RequestError extends LlamaError {
  override readonly name = "RequestError";
  readonly status: number;
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}
