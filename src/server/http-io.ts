// Bytes in and out of node:http for the server: a JSON request body read under a size limit (413
// past it, 400 for malformed JSON), JSON and error responses, and server-sent events framed as the
// OpenAI streaming API sends them (`data: {json}\n\n` per chunk, then `data: [DONE]\n\n`; WHATWG
// HTML "Server-sent events" for the framing; a line starting with `:` is a comment every client
// ignores, which the keep-alives use).

import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError } from "./api-error.js";
import { type JsonFields, isFields, jsonType } from "./fields.js";

/** Default largest request body: 4 MiB, room for a long chat (about a million tokens of text is 4 MB). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/**
 * Most bytes past the limit that are read and thrown away before the 413 is sent. A client such as
 * Node's fetch only sees a response once it has sent its whole body (a server that answers early and
 * closes gives it a connection error, which the openai client retries); past this bound the server
 * answers and closes anyway.
 */
export const MAX_DISCARDED_BODY_BYTES = 64 * 1024 * 1024;
/** Default silence after which a stream gets an SSE comment, so a queued request is seen to be alive. */
export const DEFAULT_SSE_KEEPALIVE_MS = 1000;
/** Longest keep-alive interval: Node's setTimeout limit (TIMEOUT_MAX, 2^31 - 1 ms); a longer delay would fire after 1 ms. */
export const MAX_SSE_KEEPALIVE_MS = 2 ** 31 - 1;

/**
 * Read a request body and parse it as a JSON object.
 * @param signal stops waiting for the body (a shutdown must not wait on a client that sends slowly)
 * @throws ApiError 413 when the body is (or says it is) longer than maxBytes; 400 when it is not
 *   UTF-8 JSON or not an object; the signal's reason when it aborts first
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number, signal?: AbortSignal): Promise<JsonFields> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) {
    // A body that would take more than the discard bound to throw away is not waited for.
    if (Number(declared) <= maxBytes + MAX_DISCARDED_BODY_BYTES) await discardBody(req, Number(declared), signal);
    throw bodyTooLarge(Number(declared), maxBytes);
  }
  const bytes = await readBody(req, maxBytes, signal);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new ApiError(400, "the request body is not valid UTF-8", { code: "invalid_json", cause: error });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ApiError(400, `the request body is not valid JSON: ${detail}`, { code: "invalid_json", cause: error });
  }
  if (!isFields(body)) throw new ApiError(400, `the request body must be a JSON object, got ${jsonType(body)}`, { code: "invalid_json" });
  return body;
}

/**
 * The whole body. Unlike `for await (const chunk of req)`, which can only notice an abort when the
 * next chunk arrives, this rejects as soon as `signal` aborts; the rest of the body is left unread
 * (the caller answers with `connection: close`).
 */
function readBody(req: IncomingMessage, maxBytes: number, signal: AbortSignal | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const settle = (error: unknown, done: boolean): void => {
      if (settled) return;
      settled = true;
      req.off("data", onData).off("end", onEnd).off("close", onClose);
      signal?.removeEventListener("abort", onAbort);
      if (done) resolve(Buffer.concat(chunks));
      else if (error instanceof ApiError && error.status === 413) {
        // Throw the rest away (up to a bound) so that the client reads the 413.
        chunks.length = 0;
        void discardBody(req, MAX_DISCARDED_BODY_BYTES + maxBytes - length, signal).then(() => reject(error));
      } else {
        req.pause();
        reject(error);
      }
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > maxBytes) settle(bodyTooLarge(length, maxBytes), false);
      else chunks.push(chunk);
    };
    const onEnd = (): void => settle(undefined, true);
    const onClose = (): void => settle(new Error("the connection closed before the whole request body arrived"), false);
    const onError = (error: unknown): void => settle(error, false); // stays attached: a late 'error' must not go unhandled
    const onAbort = (): void => settle(signal?.reason, false);
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Read and drop the rest of a body; resolves at its end, when `bound` more bytes have come (the
 * caller then closes the connection), when the connection closes, or when the signal aborts.
 */
function discardBody(req: IncomingMessage, bound: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed || signal?.aborted === true || bound <= 0) {
      resolve();
      return;
    }
    let length = 0;
    const stop = (): void => {
      req.off("data", onData).off("end", stop).off("close", stop).off("error", stop);
      signal?.removeEventListener("abort", stop);
      req.pause();
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length >= bound) stop();
    };
    req.on("data", onData).on("end", stop).on("close", stop).on("error", stop);
    signal?.addEventListener("abort", stop, { once: true });
    req.resume();
  });
}

function bodyTooLarge(length: number, maxBytes: number): ApiError {
  return new ApiError(413, `the request body has ${length} bytes or more; this server accepts at most ${maxBytes} (--max-body-bytes)`, {
    code: "request_too_large",
  });
}

/** Send a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Send an error response in OpenAI's shape, with Retry-After when the error has one. */
export function sendError(res: ServerResponse, error: ApiError, headers: Record<string, string> = {}): void {
  const retry = error.retryAfterSeconds === undefined ? {} : { "retry-after": String(error.retryAfterSeconds) };
  sendJson(res, error.status, error.toBody(), { ...retry, ...headers });
}

/** A server-sent-events response: `data:` lines of JSON, ended by `data: [DONE]`. */
export class SseStream {
  private readonly res: ServerResponse;
  private readonly keepAlive: NodeJS.Timeout | undefined;

  /**
   * @param options.keepAliveMs silence after which a `: keep-alive` comment is sent (and again after
   *   each such interval), while the request waits in the queue or a long prefill runs; 0 for none.
   *   Default DEFAULT_SSE_KEEPALIVE_MS.
   */
  constructor(res: ServerResponse, options: { keepAliveMs?: number } = {}) {
    this.res = res;
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
    // Send the headers now, so the client knows the request was accepted before the first token.
    res.flushHeaders();
    const every = options.keepAliveMs ?? DEFAULT_SSE_KEEPALIVE_MS;
    if (every > 0) {
      const timer = setTimeout(() => {
        if (!this.open) return;
        this.res.write(": keep-alive\n\n");
        timer.refresh();
      }, every);
      timer.unref();
      this.keepAlive = timer;
      res.once("close", () => clearTimeout(timer));
    }
  }

  /** Write an event and restart the keep-alive clock. */
  private write(text: string): void {
    if (!this.open) return;
    this.keepAlive?.refresh();
    this.res.write(text);
  }

  /** End the response with `text` and stop the keep-alives. */
  private finish(text?: string): void {
    clearTimeout(this.keepAlive);
    if (this.open) this.res.end(text);
  }

  /** Whether the client is still there to receive events. */
  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  /** Send one event whose data is `value` as JSON. */
  send(value: unknown): void {
    this.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  /** Send one named event (`event: type`, as the Responses API streams) whose data is `value` as JSON. */
  sendEvent(type: string, value: unknown): void {
    this.write(`event: ${type}\ndata: ${JSON.stringify(value)}\n\n`);
  }

  /** End the response without `[DONE]` (the Responses API has none). */
  end(): void {
    this.finish();
  }

  /** Send `data: [DONE]` and end the response. */
  done(): void {
    this.finish("data: [DONE]\n\n");
  }

  /** Report a failure after the stream has started (as OpenAI does: an event with an `error` object) and end. */
  fail(error: ApiError): void {
    this.finish(`data: ${JSON.stringify(error.toBody())}\n\n`);
  }
}
