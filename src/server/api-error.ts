// Errors as the OpenAI API reports them: an HTTP status and a body `{error: {message, type, param,
// code}}` (OpenAI API reference, "Error codes"; the openai npm client reads `error.message`, `.type`,
// `.param` and `.code` from it). `ApiError` is the server's RequestError with the fields of that
// body; `toApiError` maps anything thrown while serving a request onto it, and never leaks a stack
// trace or the text of an unexpected error into a response.

import { ChatTemplateError } from "../chat/index.js";
import { ArgumentError, RequestError, TokenizerError, UnsupportedError } from "../errors.js";

/** OpenAI's `error.type` values that this server uses. */
export type ApiErrorType = "invalid_request_error" | "not_found_error" | "rate_limit_exceeded" | "server_error" | "service_unavailable";

/** The JSON body of an error response. */
export interface ApiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: ApiErrorType;
    readonly param: string | null;
    readonly code: string | null;
  };
}

/** A request failure with its HTTP status and the fields of OpenAI's error body (its `name` stays "RequestError", which that class fixes as a literal). */
export class ApiError extends RequestError {
  readonly type: ApiErrorType;
  /** The request field at fault, in its wire (snake_case) name and path, e.g. `messages[1].content`. */
  readonly param: string | null;
  /** A machine-readable code, e.g. `context_length_exceeded`, `model_not_found`. */
  readonly code: string | null;
  /** Seconds after which a retry may succeed (sent as Retry-After), for 429 and 503. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    status: number,
    message: string,
    options: { type?: ApiErrorType; param?: string; code?: string; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(status, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.type = options.type ?? defaultType(status);
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The response body. */
  toBody(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

function defaultType(status: number): ApiErrorType {
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_exceeded";
  if (status === 503) return "service_unavailable";
  return status >= 500 ? "server_error" : "invalid_request_error";
}

/** A 400 naming the request field at fault. */
export function invalidParam(param: string, message: string, code = "invalid_value"): ApiError {
  return new ApiError(400, `${param}: ${message}`, { param, code });
}

/** A 400 for a field this server understands but does not implement. */
export function unsupportedParam(param: string, message: string): ApiError {
  return new ApiError(400, `${param}: ${message}`, { param, code: "unsupported_parameter" });
}

/**
 * The ApiError to answer for anything thrown while serving a request: ApiError and RequestError
 * as they are, a library ArgumentError/UnsupportedError (a request the library rejects, e.g. a chat
 * template's `raise_exception`) as 400 with `param` when the caller knows which field it came from,
 * and everything else as a 500 whose message says nothing about the failure (the caller logs it).
 */
export function toApiError(error: unknown, param?: string): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof RequestError) return new ApiError(error.status, error.message, { cause: error });
  if (isRequestFault(error)) {
    const code = error instanceof UnsupportedError ? "unsupported_parameter" : "invalid_value";
    const message = param === undefined ? error.message : `${param}: ${error.message}`;
    return new ApiError(400, message, { ...(param === undefined ? {} : { param }), code, cause: error });
  }
  return new ApiError(500, "the server failed while handling the request; see the server log", { code: "internal_error", cause: error });
}

// Library errors caused by what the request contains. A chat template that does not parse is the
// server's fault; one that raises, fails on the messages or runs past a limit rejects the request.
function isRequestFault(error: unknown): error is Error {
  if (error instanceof ChatTemplateError) return error.failure !== "syntax";
  return error instanceof ArgumentError || error instanceof UnsupportedError || error instanceof TokenizerError;
}
