// The OpenAI-compatible HTTP server: `LlamaServer` and the types its options take. See server.ts.

export { ApiError, type ApiErrorBody, type ApiErrorType } from "./api-error.js";
export type { ServedModel, ServerEngine, ServerRun } from "./engine-port.js";
export { DEFAULT_COMPLETION_MAX_TOKENS } from "./generation.js";
export { DEFAULT_MAX_BODY_BYTES, DEFAULT_SSE_KEEPALIVE_MS, MAX_DISCARDED_BODY_BYTES, MAX_SSE_KEEPALIVE_MS } from "./http-io.js";
export { MAX_N, MAX_PROMPTS, MAX_STOP_LENGTH, MAX_STOP_SEQUENCES, MAX_TOP_LOGPROBS } from "./request.js";
export {
  DEFAULT_MAX_QUEUE,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  LlamaServer,
  RETRY_AFTER_SECONDS,
  type ServerAddress,
  type ServerOptions,
} from "./server.js";
export { type CorsOrigins, parseCorsOrigins } from "./cors.js";
