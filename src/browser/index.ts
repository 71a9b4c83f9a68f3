// The browser entry point of llama3-ts (package export "llama3-ts/browser"; built by
// scripts/build-browser.mjs into dist/browser/ with "#platform" resolved to platform-web.ts): the
// tokenizer and chat templates (pure, any thread), fromPretrained from URLs or File objects, and
// LlamaWorker, the engine in a dedicated Web Worker with a streaming async API. No node:* module is
// reachable from here (test/browser-graph.test.ts walks the import graph).

export { LlamaWorker, type LoadOptions, type LoadedInfo, type WorkerGenerationOptions, type WorkerRun, WorkerError } from "./client.js";
export { fromPretrained, tokenizerFromPretrained, type WebModel, type WebModelSource, type WebPretrainedOptions } from "./pretrained-web.js";
export { type ModelFolder, type ModelSource, type NamedBlob, fileFolder, modelFolder, urlFolder } from "./model-folder.js";
export { type ByteSource, MAX_PIECE_BYTES, blobSource, urlSource } from "./byte-source.js";
export { Tokenizer } from "../tokenizer/tokenizer.js";
export { applyChatTemplate, type ChatMessage } from "../chat/index.js";
export { GenerationEngine } from "../generate/engine.js";
export type { DoneEvent, GenerationEvent, GenerationOptions, TokenEvent } from "../generate/types.js";
export { createWasmBackend } from "../backend/wasm/index.js";
export { LlamaModel } from "../model/llama.js";
export * from "../errors.js";
export { type CacheOptions, cachedModelFiles, clearModelCache } from "./opfs-cache.js";
