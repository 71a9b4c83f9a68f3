// Bytes in and out of node:http for the server: a JSON request body read under a size limit (413
// past it, 400 for malformed JSON), JSON and error responses, and server-sent events framed as the
// OpenAI streaming API sends them (`data: {json}\n\n` per chunk, then `data: [DONE]\n\n`; WHATWG
// HTML "Server-sent events" for the framing).

import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError } from "./api-error.js";
import { type JsonFields, isFields, jsonType } from "./fields.js";

/** Default largest request body: 4 MiB, room for a long chat (about a million tokens of text is 4 MB). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Read a request body and parse it as a JSON object.
 * @param signal stops waiting for the body (a shutdown must not wait on a client that sends slowly)
 * @throws ApiError 413 when the body is (or says it is) longer than maxBytes; 400 when it is not
 *   UTF-8 JSON or not an object; the signal's reason when it aborts first
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number, signal?: AbortSignal): Promise<JsonFields> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) throw bodyTooLarge(Number(declared), maxBytes);
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
      else {
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

  constructor(res: ServerResponse) {
    this.res = res;
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
    // Send the headers now, so the client knows the request was accepted before the first token.
    res.flushHeaders();
  }

  /** Whether the client is still there to receive events. */
  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  /** Send one event whose data is `value` as JSON. */
  send(value: unknown): void {
    if (this.open) this.res.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  /** Send one named event (`event: type`, as the Responses API streams) whose data is `value` as JSON. */
  sendEvent(type: string, value: unknown): void {
    if (this.open) this.res.write(`event: ${type}\ndata: ${JSON.stringify(value)}\n\n`);
  }

  /** End the response without `[DONE]` (the Responses API has none). */
  end(): void {
    if (this.open) this.res.end();
  }

  /** Send `data: [DONE]` and end the response. */
  done(): void {
    if (this.open) this.res.end("data: [DONE]\n\n");
  }

  /** Report a failure after the stream has started (as OpenAI does: an event with an `error` object) and end. */
  fail(error: ApiError): void {
    if (!this.open) return;
    this.res.end(`data: ${JSON.stringify(error.toBody())}\n\n`);
  }
}
