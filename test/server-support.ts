// Helpers of the server tests: the tiny 128256-vocabulary model with the bundled Llama 3 tokenizer
// (loaded once per test file), a LlamaServer on a loopback port with the real engine, raw HTTP
// requests, and a reader of server-sent events.

import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { GenerationEngine } from "../src/generate/engine.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { LlamaServer, type ServerAddress, type ServerEngine, type ServerOptions } from "../src/server/index.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { fixturePath } from "./support/paths.js";

/** Real Llama 3 vocabulary and tokenizer, random weights: fast, and its greedy text is arbitrary but fixed. */
export const TINY_MODEL_DIR = fixturePath("hf", "tiny-v128256-f32-tied-norope");

let loaded: Promise<{ model: LlamaForCausalLM; tokenizer: Tokenizer }> | undefined;

/**
 * The tiny model (on the wasm backend, the CLI's default; its threads do not keep the process
 * alive) and the bundled tokenizer, loaded once.
 */
export function loadTiny(): Promise<{ model: LlamaForCausalLM; tokenizer: Tokenizer }> {
  loaded ??= (async () => {
    const backend = await createWasmBackend();
    const [model, tokenizer] = await Promise.all([LlamaForCausalLM.fromPretrained(TINY_MODEL_DIR, { backend }), Tokenizer.bundled()]);
    return { model, tokenizer };
  })();
  return loaded;
}

/** A running test server. */
export interface TestServer {
  readonly server: LlamaServer;
  readonly engine: GenerationEngine | ServerEngine;
  readonly address: ServerAddress;
  /** The OpenAI base URL (`http://127.0.0.1:PORT/v1`). */
  readonly baseURL: string;
  readonly logs: string[];
  close(): Promise<void>;
}

/** The model id the test servers answer to. */
export const MODEL_ID = "tiny-llama3";

/** Start a server on a free loopback port with the real engine (or `engine`, for HTTP-layer tests). */
export async function startServer(options: Partial<Omit<ServerOptions, "engine" | "model">> & { engine?: ServerEngine; tokenizer?: Tokenizer; stopTokenIds?: readonly number[] } = {}): Promise<TestServer> {
  const { model, tokenizer: bundled } = await loadTiny();
  const tokenizer = options.tokenizer ?? bundled;
  const maxBatch = options.maxBatch ?? 8;
  const engine = options.engine ?? new GenerationEngine(model, { maxBatch, tokenizer, defaults: model.generationConfig });
  const logs: string[] = [];
  const server = new LlamaServer({
    log: (line) => logs.push(line),
    randomSeed: () => 1234,
    ...options,
    engine,
    maxBatch,
    model: {
      id: MODEL_ID,
      contextLength: model.config.maxPositionEmbeddings,
      tokenizer,
      stopTokenIds: options.stopTokenIds ?? [...new Set([...model.config.eosTokenIds, ...tokenizer.eosTokenIds])],
      created: 1_700_000_000,
    },
  });
  const address = await server.listen(0, "127.0.0.1");
  return { server, engine, address, baseURL: `${address.url}/v1`, logs, close: () => server.close({ timeoutMs: 5000 }) };
}

/** A raw HTTP response. */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** Send one HTTP request (body as given: a string is sent as is, an object as JSON). */
export function rawRequest(url: string, method: string, path: string, body?: string | Buffer | object, headers: Record<string, string> = {}): Promise<RawResponse> {
  const payload = body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers: { "content-type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** The `data:` payloads of a server-sent-events body, in order (`[DONE]` included as the string); comments (keep-alives) skipped. */
export function sseData(text: string): string[] {
  return text
    .split("\n\n")
    .filter((event) => event.trim() !== "" && !event.split("\n").every((line) => line.startsWith(":")))
    .map((event) => {
      const lines = event.split("\n").filter((line) => line.startsWith("data: "));
      if (lines.length !== 1) throw new Error(`malformed server-sent event: ${JSON.stringify(event)}`);
      return lines[0]!.slice("data: ".length);
    });
}

/** Wait until `condition` holds, polling every few milliseconds; throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
