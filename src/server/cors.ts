// Cross-origin resource sharing for the server, so that web pages on other origins can call the API
// (WHATWG Fetch standard, "CORS protocol"). By default every origin is allowed (`*`), as llama.cpp's
// server does; a list of origins restricts it: a listed Origin is echoed back (with `Vary: Origin`),
// any other gets no allow header, so the browser refuses the response to the page. Preflights
// (OPTIONS with Access-Control-Request-Method) are answered 204, or 403 for an origin not listed.

import type { IncomingMessage, ServerResponse } from "node:http";
import { ArgumentError } from "../errors.js";
import { ApiError } from "./api-error.js";

/** Which origins may call the API: `"*"` (any) or a list of origins such as `https://app.example`. */
export type CorsOrigins = "*" | readonly string[];

/** Methods the API answers. */
const ALLOWED_METHODS = "GET, POST, OPTIONS";
/** Request headers allowed when a preflight names none: those OpenAI clients send. */
const DEFAULT_ALLOWED_HEADERS = "content-type, authorization";
/** Seconds a browser may cache a preflight's answer. */
const PREFLIGHT_MAX_AGE_SECONDS = 86_400;

/**
 * Check and normalise a list of origins (`--cors-origin`): each is `*` or a scheme, host and
 * optional port with no path (`http://localhost:5173`), compared case-insensitively.
 * @throws ArgumentError naming an entry that is not an origin
 */
export function parseCorsOrigins(values: readonly string[]): CorsOrigins {
  if (values.length === 0 || values.includes("*")) return "*";
  return values.map((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch (error) {
      throw new ArgumentError(`CORS origin "${value}" is not an origin such as http://localhost:5173 (or *)`, { cause: error });
    }
    if (url.origin === "null" || url.origin !== value.replace(/\/$/, "").toLowerCase()) {
      throw new ArgumentError(`CORS origin "${value}" must be a scheme, host and port only (such as ${url.origin === "null" ? "http://localhost:5173" : url.origin}), or *`);
    }
    return url.origin;
  });
}

/** The Origin a request came from, or undefined (same-origin and non-browser requests send none). */
function requestOrigin(req: IncomingMessage): string | undefined {
  const origin = req.headers.origin;
  return typeof origin === "string" && origin !== "" ? origin : undefined;
}

/** Whether `origin` may call the API. */
function allowed(origins: CorsOrigins, origin: string): boolean {
  return origins === "*" || origins.includes(origin.toLowerCase());
}

/**
 * Set the CORS headers of a response (before its headers are written): the allowed origin, and
 * Retry-After exposed so that a page can read it from a 429 or 503.
 */
export function setCorsHeaders(req: IncomingMessage, res: ServerResponse, origins: CorsOrigins): void {
  if (origins !== "*") res.setHeader("vary", "origin");
  const origin = requestOrigin(req);
  if (origins === "*") res.setHeader("access-control-allow-origin", "*");
  else if (origin !== undefined && allowed(origins, origin)) res.setHeader("access-control-allow-origin", origin);
  else return;
  res.setHeader("access-control-expose-headers", "retry-after");
}

/**
 * Answer an OPTIONS request: 204 with the methods and headers allowed (a preflight), or the
 * ApiError 403 when the request comes from an origin not allowed.
 */
export function answerPreflight(req: IncomingMessage, res: ServerResponse, origins: CorsOrigins): void {
  const origin = requestOrigin(req);
  if (origin !== undefined && !allowed(origins, origin)) {
    throw new ApiError(403, `origin ${origin} may not call this server (allowed: ${(origins as readonly string[]).join(", ")}; --cors-origin)`, { code: "cors_origin_not_allowed" });
  }
  const requested = req.headers["access-control-request-headers"];
  res.writeHead(204, {
    allow: ALLOWED_METHODS,
    "access-control-allow-methods": ALLOWED_METHODS,
    "access-control-allow-headers": typeof requested === "string" && requested !== "" ? requested : DEFAULT_ALLOWED_HEADERS,
    "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
  });
  res.end();
}
