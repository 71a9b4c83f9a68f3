// The OpenAI-compatible HTTP server on node:http: routing, admission (a bounded number of sequences
// admitted beyond the engine's batch, 429 past it), cancellation when a client disconnects, request
// logs, and a graceful shutdown that refuses new requests with 503, lets the ones in flight finish
// (bounded by a timeout) and then closes. Endpoints follow the OpenAI API reference (`GET /v1/models`,
// `POST /v1/completions`, `POST /v1/chat/completions`, `POST /v1/responses`) plus `GET /health` as
// llama.cpp's server has it.
// Never touches tensors: the engine generates, src/chat formats chats.

import { randomInt } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ArgumentError } from "../errors.js";
import { ApiError, toApiError } from "./api-error.js";
import { type CorsOrigins, answerPreflight, setCorsHeaders } from "./cors.js";
import type { ServedModel, ServerEngine } from "./engine-port.js";
import { type GenerationContext, type GenerationStats, serveGeneration, tooManySequences } from "./generation.js";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_SSE_KEEPALIVE_MS, MAX_SSE_KEEPALIVE_MS, readJsonBody, sendError, sendJson } from "./http-io.js";
import { parseChatRequest, parseCompletionRequest } from "./request.js";
import { TokenSpeller, modelList } from "./responses.js";
import { type WebPage, chatPage } from "./web/chat-page.js";
import { ItemStore, serveResponses } from "./responses-api.js";

/** Default number of sequences admitted beyond those the engine batches (`--max-queue`). */
export const DEFAULT_MAX_QUEUE = 64;
/** Default time a shutdown waits for requests in flight before cancelling them. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;
/** Seconds a client told "queue full" or "shutting down" should wait (Retry-After). */
export const RETRY_AFTER_SECONDS = 1;
/** Status logged for a request whose client went away before the answer (nginx's convention). */
const CLIENT_CLOSED_STATUS = 499;

/** Options of {@link LlamaServer}. */
export interface ServerOptions {
  /** Generates for every request; its batch is shared by all of them. */
  readonly engine: ServerEngine;
  /** The model served, with its tokenizer. */
  readonly model: ServedModel;
  /** Sequences the engine advances together (its maxBatch); with maxQueue, bounds the admitted sequences. */
  readonly maxBatch: number;
  /** Sequences admitted to wait for a place in the batch; past it requests get 429. Default DEFAULT_MAX_QUEUE. */
  readonly maxQueue?: number;
  /** Largest request body in bytes; past it requests get 413. Default DEFAULT_MAX_BODY_BYTES. */
  readonly maxBodyBytes?: number;
  /**
   * Silence (ms) after which a stream gets an SSE comment `: keep-alive`, so a client whose request
   * waits behind a full batch sees it alive. Default DEFAULT_SSE_KEEPALIVE_MS; 0 turns them off; at
   * most MAX_SSE_KEEPALIVE_MS.
   */
  readonly keepAliveMs?: number;
  /**
   * max_tokens of a chat completion that names none. Default: the model's (generation_config.json's
   * max_new_tokens, else the engine's default); generation always ends at the end of the context.
   */
  readonly chatMaxTokens?: number;
  /** Receives one line per request (method, path, status, tokens, time queued, duration); omit for none. */
  readonly log?: (line: string) => void;
  /** Receives unexpected errors (answered as 500s without details) with their stacks. */
  readonly onError?: (error: unknown) => void;
  /** The seed of a request that gives none. Default: a random 32-bit value from node:crypto. */
  readonly randomSeed?: () => number;
  /** Serve the chat page at `GET /` (src/server/web). Default true; `--no-web-ui` turns it off. */
  readonly webUi?: boolean;
  /** Origins whose pages may call the API (CORS). Default `"*"`: any, as llama.cpp's server. */
  readonly corsOrigins?: CorsOrigins;
}

/** The address the server listens on. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, for clients (`${url}/v1` is the OpenAI base URL). */
  readonly url: string;
}

/** The client went away before its answer was complete. */
class ClientClosed extends Error {
  override readonly name = "ClientClosed";
}

interface InFlight {
  readonly controller: AbortController;
  readonly finished: Promise<void>;
}

/**
 * An OpenAI-compatible HTTP server for one model.
 * @example
 * const server = new LlamaServer({ engine, model: { id: "Llama-3.2-1B", contextLength: 8192, tokenizer, stopTokenIds, created }, maxBatch: 8 });
 * const { url } = await server.listen(8080, "127.0.0.1");
 * // ... later: refuse new requests, finish those in flight, close
 * await server.close();
 */
export class LlamaServer {
  private readonly options: ServerOptions;
  private readonly http: Server;
  private readonly context: GenerationContext;
  private readonly inFlight = new Set<InFlight>();
  /** Output items of recent /v1/responses answers, for `item_reference`. */
  private readonly items = new ItemStore();
  private admitted = 0;
  private draining = false;
  private closing: Promise<void> | undefined;
  private readonly page: WebPage | undefined;

  constructor(options: ServerOptions) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new ArgumentError(`maxBatch must be a positive integer, got ${options.maxBatch}`);
    const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new ArgumentError(`maxQueue must be a non-negative integer, got ${maxQueue}`);
    const keepAlive = options.keepAliveMs;
    if (keepAlive !== undefined && !(keepAlive >= 0 && keepAlive <= MAX_SSE_KEEPALIVE_MS)) throw new ArgumentError(`keepAliveMs must be between 0 and ${MAX_SSE_KEEPALIVE_MS}, got ${keepAlive}`);
    this.options = options;
    const capacity = options.maxBatch + maxQueue;
    this.context = {
      engine: options.engine,
      model: options.model,
      speller: new TokenSpeller(options.model.tokenizer),
      chatMaxTokens: options.chatMaxTokens,
      randomSeed: options.randomSeed ?? ((): number => randomInt(0, 2 ** 32 - 1)),
      admit: (count) => this.admit(count, capacity),
      keepAliveMs: options.keepAliveMs ?? DEFAULT_SSE_KEEPALIVE_MS,
    };
    this.page = options.webUi === false ? undefined : chatPage();
    this.http = createServer((req, res) => this.handle(req, res));
  }

  /** Sequences admitted now (generating or waiting for the batch). */
  get admittedSequences(): number {
    return this.admitted;
  }

  /** Whether the chat page is served at `GET /`. */
  get webUi(): boolean {
    return this.page !== undefined;
  }

  /** The id clients name in `model`. */
  get modelId(): string {
    return this.options.model.id;
  }

  /** Requests being served now. */
  get requestsInFlight(): number {
    return this.inFlight.size;
  }

  /**
   * Start listening.
   * @param port a TCP port; 0 picks a free one
   * @param host the address to bind; default 127.0.0.1 (loopback only)
   * @returns the bound address
   */
  listen(port: number, host = "127.0.0.1"): Promise<ServerAddress> {
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, host, () => {
        this.http.off("error", reject);
        const address = this.http.address() as AddressInfo;
        const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
        resolve({ host: address.address, port: address.port, url: `http://${shown}:${address.port}` });
      });
    });
  }

  /**
   * Shut down gracefully: new requests get 503, requests in flight finish (those still running after
   * `timeoutMs` are cancelled and answered 503), then connections and the listener close.
   * Calling it again returns the same promise.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= this.drain(options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    return this.closing;
  }

  private async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const all = (): Promise<unknown> => Promise.all([...this.inFlight].map((f) => f.finished));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.cancelAll();
      await all();
    }
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  /** Cancel every request in flight; each is answered (or its stream ended) with a 503. */
  cancelAll(): void {
    const reason = new ApiError(503, "the server is shutting down; the request was cancelled", { code: "server_shutting_down" });
    for (const f of this.inFlight) f.controller.abort(reason);
  }

  private admit(count: number, capacity: number): () => void {
    if (count > capacity) throw tooManySequences(count, capacity);
    if (this.admitted + count > capacity) {
      throw new ApiError(429, `the server is busy: ${this.admitted} sequences are running or queued (at most ${capacity}); retry later`, {
        code: "queue_full",
        retryAfterSeconds: RETRY_AFTER_SECONDS,
      });
    }
    this.admitted += count;
    let released = false;
    return () => {
      if (!released) this.admitted -= count;
      released = true;
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const controller = new AbortController();
    const stats: GenerationStats = { promptTokens: 0, completionTokens: 0 };
    let status = 200;
    res.on("close", () => {
      if (!res.writableFinished) controller.abort(new ClientClosed("the client closed the connection"));
    });
    const finished = (async (): Promise<void> => {
      try {
        setCorsHeaders(req, res, this.options.corsOrigins ?? "*");
        await this.route(req, res, controller.signal, stats);
        status = res.statusCode;
      } catch (error) {
        status = this.fail(error, controller, res);
      } finally {
        this.logRequest(req, status, stats, started);
      }
    })();
    const entry: InFlight = { controller, finished };
    this.inFlight.add(entry);
    void finished.finally(() => this.inFlight.delete(entry));
  }

  /** Answer a failed request (if it still can be) and return the status to log. */
  private fail(error: unknown, controller: AbortController, res: ServerResponse): number {
    const signal = controller.signal;
    if (signal.aborted && signal.reason instanceof ClientClosed) return CLIENT_CLOSED_STATUS;
    // Cancel whatever this request still has running (the other choices of a failed one).
    if (!signal.aborted) controller.abort(error);
    const apiError = toApiError(signal.reason instanceof ApiError ? signal.reason : error);
    // The client gets no details of an unexpected error; the server's log gets the original.
    if (apiError.status >= 500 && apiError.status !== 503) this.options.onError?.(apiError.cause ?? error);
    if (!res.headersSent) {
      // After a 413 the rest of the body (past what was thrown away) is not read: close the connection.
      sendError(res, apiError, apiError.status === 413 || this.draining ? { connection: "close" } : {});
    } else if (!res.writableEnded) {
      res.end();
    }
    return apiError.status;
  }

  private async route(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, stats: GenerationStats): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
    if (this.draining) {
      throw new ApiError(503, "the server is shutting down", { code: "server_shutting_down", retryAfterSeconds: RETRY_AFTER_SECONDS });
    }
    const model = this.options.model;
    const method = req.method ?? "GET";
    if (method === "OPTIONS") {
      answerPreflight(req, res, this.options.corsOrigins ?? "*");
      return;
    }
    if (path === "/" && this.page !== undefined) {
      requireMethod(method, "GET", path);
      res.writeHead(200, { ...this.page.headers, "content-length": Buffer.byteLength(this.page.html) });
      res.end(this.page.html);
      return;
    }
    if (path === "/health") {
      requireMethod(method, "GET", path);
      sendJson(res, 200, { status: "ok", model: model.id, active: this.options.engine.activeCount, queued: this.options.engine.queuedCount, admitted: this.admitted });
      return;
    }
    if (path === "/v1/models") {
      requireMethod(method, "GET", path);
      sendJson(res, 200, modelList(model));
      return;
    }
    if (path.startsWith("/v1/models/")) {
      requireMethod(method, "GET", path);
      const id = decodeModelId(path.slice("/v1/models/".length));
      if (id !== model.id) throw new ApiError(404, `The model \`${id}\` does not exist`, { param: "model", code: "model_not_found" });
      sendJson(res, 200, { id: model.id, object: "model", created: model.created, owned_by: "llama3-ts" });
      return;
    }
    if (path === "/v1/completions" || path === "/v1/chat/completions") {
      requireMethod(method, "POST", path);
      const body = await readJsonBody(req, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, signal);
      const request = path === "/v1/completions" ? parseCompletionRequest(body) : parseChatRequest(body);
      await serveGeneration(this.context, request, res, signal, stats);
      return;
    }
    if (path === "/v1/responses") {
      requireMethod(method, "POST", path);
      const body = await readJsonBody(req, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, signal);
      await serveResponses(this.context, body, res, signal, stats, this.items);
      return;
    }
    throw new ApiError(404, `no route for ${method} ${path}; this server has ${this.page === undefined ? "" : "GET / (the chat page), "}GET /v1/models, POST /v1/completions, POST /v1/chat/completions, POST /v1/responses, GET /health`, { code: "unknown_url" });
  }

  private logRequest(req: IncomingMessage, status: number, stats: GenerationStats, started: number): void {
    const log = this.options.log;
    if (log === undefined) return;
    const ms = (performance.now() - started).toFixed(0);
    const tokens = stats.promptTokens === 0 && stats.completionTokens === 0 ? "" : ` prompt_tokens=${stats.promptTokens} completion_tokens=${stats.completionTokens}`;
    const queued = stats.queueMs === undefined ? "" : ` queue_ms=${stats.queueMs.toFixed(0)}`;
    log(`${req.method ?? "?"} ${req.url ?? "/"} ${status}${tokens}${queued} ${ms}ms`);
  }
}

/** A model id from the URL; malformed percent-encoding is kept as written (it then names no model: 404, not a 500). */
function decodeModelId(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

function requireMethod(method: string, allowed: string, path: string): void {
  if (method !== allowed) throw new ApiError(405, `${path} accepts ${allowed}, not ${method}`, { code: "method_not_allowed" });
}
