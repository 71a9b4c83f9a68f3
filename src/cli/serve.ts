// `llama3 serve`: the OpenAI-compatible HTTP server (src/server) for one model, on loopback by
// default. Loads the model and its tokenizer, starts a continuous-batching engine, prints
// "listening on http://HOST:PORT" on stderr, logs one line per request there (unless --quiet), and
// on SIGTERM or SIGINT refuses new requests, finishes those in flight and returns (a second signal
// cancels what is still running).

import { basename, resolve } from "node:path";
import { DEFAULT_MAX_BATCH, GenerationEngine } from "../generate/engine.js";
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_QUEUE,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_SSE_KEEPALIVE_MS,
  LlamaServer,
  MAX_SSE_KEEPALIVE_MS,
  type ServerOptions,
  parseCorsOrigins,
} from "../server/index.js";
import { ArgumentError } from "../errors.js";
import { type ParsedArgs, booleanFlag, intFlag, numberFlag, parseFlags, stringFlag, stringListFlag } from "./args.js";
import { type CliIo, type Command, UsageError } from "./command.js";
import { loadTokenizer } from "./generate.js";
import { backendFromFlags } from "./generation-flags.js";
import { MODEL_FLAGS, MODEL_FLAGS_HELP, MODEL_FLAGS_USAGE, loadModelFromFlags } from "./model-flags.js";

const DEFAULT_PORT = 8080;
const DEFAULT_HOST = "127.0.0.1";

const USAGE = `llama3 serve ${MODEL_FLAGS_USAGE} [--tokenizer DIR] [--model-id NAME] [--host ${DEFAULT_HOST}] [--port ${DEFAULT_PORT}] [--max-batch N] [--max-queue N] [--max-body-bytes N] [--default-max-tokens N] [--shutdown-timeout SECONDS] [--keep-alive-ms N] [--backend wasm|reference] [--threads N] [--no-web-ui] [--cors-origin ORIGIN]... [--quiet]

  An OpenAI-compatible HTTP server: GET /v1/models, POST /v1/completions, POST /v1/chat/completions,
  POST /v1/responses (stream: true for server-sent events), GET /health, and a chat page at GET /
  (open the URL in a browser).

${MODEL_FLAGS_HELP}
  --tokenizer DIR          tokenizer folder (default: the model folder's, else the bundled Llama 3 one)
  --model-id NAME          the id clients send as "model" (default: the model folder's name)
  --host ADDR              address to bind (default ${DEFAULT_HOST}, loopback only; 0.0.0.0 for every interface)
  --port N                 TCP port (default ${DEFAULT_PORT}; 0 picks a free one)
  --max-batch N            sequences decoded together in one batched step (default ${DEFAULT_MAX_BATCH}; 1: one at a time)
  --max-queue N            sequences admitted to wait beyond the batch; past it requests get 429 with
                           Retry-After (default ${DEFAULT_MAX_QUEUE}; a request with n=4 counts 4)
  --max-body-bytes N       largest request body; larger ones get 413 (default ${DEFAULT_MAX_BODY_BYTES})
  --default-max-tokens N   max_tokens of a chat completion that gives none (default: the model's
                           generation_config.json max_new_tokens, else 256); completions default to 16
  --shutdown-timeout S     on SIGTERM/SIGINT, seconds to let requests in flight finish (default ${DEFAULT_SHUTDOWN_TIMEOUT_MS / 1000})
  --keep-alive-ms N        milliseconds of silence after which a stream gets an SSE comment ": keep-alive"
                           (while queued or in a long prefill; default ${DEFAULT_SSE_KEEPALIVE_MS}; 0: none)
  --backend B              wasm (default: SIMD kernels on all cores) or reference (plain loops, slow)
  --threads N              compute threads for the wasm backend (default: all cores)
  --no-web-ui              do not serve the chat page at / (GET / answers 404)
  --cors-origin ORIGIN     let pages from ORIGIN (e.g. http://localhost:5173) call the API; repeat for
                           several (default: any origin, "Access-Control-Allow-Origin: *")
  --quiet                  no request log (one line per request on stderr: method, path, status, tokens, time)`;

/** What `llama3 serve`'s flags ask for. */
export interface ServeSettings {
  /** Every flag, for the model, tokenizer and backend loaders. */
  readonly args: ParsedArgs;
  readonly host: string;
  readonly port: number;
  readonly shutdownTimeoutMs: number;
  readonly quiet: boolean;
  /** The LlamaServer options the flags set. */
  readonly server: Pick<ServerOptions, "maxBatch" | "maxQueue" | "maxBodyBytes" | "keepAliveMs" | "chatMaxTokens" | "webUi" | "corsOrigins">;
}

/**
 * Parse `llama3 serve`'s flags.
 * @throws UsageError naming the flag for an unknown flag or a bad value
 */
export function parseServeFlags(argv: readonly string[]): ServeSettings {
  const args = parseFlags(argv, {
    ...MODEL_FLAGS,
    tokenizer: { type: "string" },
    "model-id": { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    "max-batch": { type: "string" },
    "max-queue": { type: "string" },
    "max-body-bytes": { type: "string" },
    "default-max-tokens": { type: "string" },
    "shutdown-timeout": { type: "string" },
    "keep-alive-ms": { type: "string" },
    backend: { type: "string" },
    threads: { type: "string" },
    quiet: { type: "boolean" },
    "no-web-ui": { type: "boolean" },
    "cors-origin": { type: "string", multiple: true },
  }, USAGE, 0);
  const host = stringFlag(args, "host") ?? DEFAULT_HOST;
  const port = intFlag(args, "port", DEFAULT_PORT, 0, 65535);
  const maxBatch = intFlag(args, "max-batch", DEFAULT_MAX_BATCH, 1, 4096);
  const maxQueue = intFlag(args, "max-queue", DEFAULT_MAX_QUEUE, 0, 1_000_000);
  const maxBodyBytes = intFlag(args, "max-body-bytes", DEFAULT_MAX_BODY_BYTES, 1024, 2 ** 31 - 1);
  const defaultMaxTokens = stringFlag(args, "default-max-tokens") === undefined ? undefined : intFlag(args, "default-max-tokens", 0, 1, 10_000_000);
  const shutdownTimeoutMs = numberFlag(args, "shutdown-timeout", DEFAULT_SHUTDOWN_TIMEOUT_MS / 1000, 0, 86_400) * 1000;
  const keepAliveMs = intFlag(args, "keep-alive-ms", DEFAULT_SSE_KEEPALIVE_MS, 0, MAX_SSE_KEEPALIVE_MS);
  const quiet = booleanFlag(args, "quiet");
  const webUi = !booleanFlag(args, "no-web-ui");
  let corsOrigins;
  try {
    corsOrigins = parseCorsOrigins(stringListFlag(args, "cors-origin"));
  } catch (error) {
    if (error instanceof ArgumentError) throw new UsageError(`--cors-origin: ${error.message}`, { cause: error });
    throw error;
  }
  return {
    args,
    host,
    port,
    shutdownTimeoutMs,
    quiet,
    server: {
      maxBatch,
      maxQueue,
      maxBodyBytes,
      keepAliveMs,
      webUi,
      corsOrigins,
      ...(defaultMaxTokens === undefined ? {} : { chatMaxTokens: defaultMaxTokens }),
    },
  };
}

/** Resolves at the first SIGTERM/SIGINT; calls `onSecond` at the next one. Returns a remover. */
function onShutdownSignals(first: (signal: string) => void, second: () => void): () => void {
  let seen = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (seen) second();
    else first(signal);
    seen = true;
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  return () => {
    process.off("SIGTERM", handler);
    process.off("SIGINT", handler);
  };
}

export const serveCommand: Command = {
  name: "serve",
  summary: "OpenAI-compatible HTTP server (chat and completions, streaming, batching)",
  usage: USAGE,
  async run(argv, io) {
    const { args, host, port, shutdownTimeoutMs, quiet, server: serverOptions } = parseServeFlags(argv);
    const { backend, close: closeBackend } = await backendFromFlags(args);
    try {
      const model = await loadModelFromFlags(args, USAGE, io, backend);
      const tokenizer = await loadTokenizer(args, model, io);
      const engine = new GenerationEngine(model, { maxBatch: serverOptions.maxBatch, tokenizer, defaults: model.generationConfig });
      const server = new LlamaServer({
        engine,
        model: {
          id: stringFlag(args, "model-id") ?? basename(resolve(model.nameOrPath)),
          contextLength: model.config.maxPositionEmbeddings,
          tokenizer,
          // A chat turn ends at <|eot_id|>: stop on the tokenizer's end ids as well as the model's.
          stopTokenIds: [...new Set([...model.config.eosTokenIds, ...tokenizer.eosTokenIds])],
          created: Math.floor(Date.now() / 1000),
        },
        ...serverOptions,
        ...(quiet ? {} : { log: (line: string) => io.stderr(`${line}\n`) }),
        onError: (error) => io.stderr(`error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`),
      });
      await serveUntilSignal(server, { host, port, shutdownTimeoutMs }, io);
    } finally {
      await closeBackend();
    }
  },
};

/** Listen, then wait for SIGTERM/SIGINT and shut down gracefully (a second signal cancels what runs). */
async function serveUntilSignal(server: LlamaServer, at: { host: string; port: number; shutdownTimeoutMs: number }, io: CliIo): Promise<void> {
  let removeHandlers = (): void => {};
  const stopped = new Promise<void>((resolveStopped, rejectStopped) => {
    removeHandlers = onShutdownSignals(
      (signal) => {
        io.stderr(`${signal}: finishing ${server.requestsInFlight} request(s) in flight, refusing new ones\n`);
        server.close({ timeoutMs: at.shutdownTimeoutMs }).then(resolveStopped, rejectStopped);
      },
      () => {
        io.stderr("second signal: cancelling the requests in flight\n");
        server.cancelAll();
      },
    );
  });
  try {
    const address = await server.listen(at.port, at.host);
    io.stderr(`listening on ${address.url} (model ${JSON.stringify(server.modelId)}, OpenAI base URL ${address.url}/v1)\n`);
    if (server.webUi) io.stderr(`chat page: ${address.url}/\n`);
    await stopped;
    io.stderr("server stopped\n");
  } finally {
    removeHandlers();
  }
}
