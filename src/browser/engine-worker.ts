// The engine worker of a page (started by browser/client.ts as a module Web Worker): loads the
// model and tokenizer from a URL (or its copy in OPFS, with cache), picked files or a GGUF File/Blob onto the wasm backend (its pool workers share the
// memory when the page is cross-origin isolated; one thread when not), then serves generate,
// tokenize and logits requests with the same GenerationEngine as Node, streaming token events back.
// Errors go back as messages (never an unhandled rejection that leaves the page waiting).

import { createWasmBackend } from "../backend/wasm/index.js";
import { applyChatTemplate } from "../chat/index.js";
import { GenerationEngine } from "../generate/engine.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { fromPretrained, tokenizerFromPretrained, type WebModel, type WebModelSource } from "./pretrained-web.js";
import type { NamedBlob } from "./model-folder.js";
import type { FromWorker, ToWorker } from "./protocol.js";

interface Scope {
  postMessage(message: FromWorker): void;
  addEventListener(type: "message", listener: (event: { data: ToWorker }) => void): void;
  readonly crossOriginIsolated?: boolean;
}
const scope = globalThis as unknown as Scope;

interface Loaded {
  readonly web: WebModel;
  readonly tokenizer: Tokenizer;
  readonly engine: GenerationEngine;
}

let loaded: Promise<Loaded> | undefined;
const running = new Map<number, AbortController>();

function post(message: FromWorker): void {
  scope.postMessage(message);
}

function fail(error: unknown, id?: number): void {
  const name = error instanceof Error ? error.name : "Error";
  const message = error instanceof Error ? error.message : String(error);
  post({ type: "error", ...(id === undefined ? {} : { id }), name, message });
}

async function load(request: Extract<ToWorker, { type: "load" }>): Promise<Loaded> {
  const source: WebModelSource = typeof request.source === "string" || request.source instanceof Blob ? request.source : (request.source as readonly NamedBlob[]);
  const cache = { cache: request.cache === true, onDownloadProgress: (loadedBytes: number, totalBytes: number) => post({ type: "download", loadedBytes, totalBytes }) };
  const backend = await createWasmBackend(request.threads === undefined ? {} : { threads: request.threads });
  // Both settle before either error is thrown: on a wrong URL both fail, and the model's error
  // (naming config.json, the folder's first file) is the one reported, not whichever lost the race.
  const [webResult, tokenizerResult] = await Promise.allSettled([
    fromPretrained(source, {
      backend,
      ...(request.dtype === undefined ? {} : { dtype: request.dtype }),
      onProgress: (loadedBytes, totalBytes) => post({ type: "progress", loadedBytes, totalBytes }),
      onWarning: (message) => post({ type: "warning", message }),
      ...cache,
    }),
    // With cache, both go through the OPFS copy: the first to take its lock downloads it, the other then finds it.
    tokenizerFromPretrained(source, cache),
  ]);
  if (webResult.status === "rejected") throw webResult.reason;
  if (tokenizerResult.status === "rejected") throw tokenizerResult.reason;
  const [web, tokenizer] = [webResult.value, tokenizerResult.value];
  const engine = new GenerationEngine(web.model, { tokenizer, defaults: web.generationConfig });
  post({
    type: "loaded",
    info: {
      nameOrPath: web.nameOrPath,
      threads: backend.nThreads,
      crossOriginIsolated: scope.crossOriginIsolated === true,
      vocabSize: web.config.vocabSize,
      contextLength: web.config.maxPositionEmbeddings,
      chat: tokenizer.chatTemplate !== undefined,
    },
  });
  return { web, tokenizer, engine };
}

async function generate(request: Extract<ToWorker, { type: "generate" }>): Promise<void> {
  const { tokenizer, engine, web } = await loaded!;
  const controller = new AbortController();
  running.set(request.id, controller);
  try {
    const ids = request.messages !== undefined ? applyChatTemplate(tokenizer, request.messages, { addGenerationPrompt: true }).ids : tokenizer.encode(request.prompt ?? "");
    const stopTokenIds = [...new Set([...web.config.eosTokenIds, ...tokenizer.eosTokenIds, ...(request.options.stopTokenIds ?? [])])];
    for await (const event of engine.submit(ids, { ...request.options, stopTokenIds, signal: controller.signal })) {
      if (event.type === "token") post({ type: "token", id: request.id, event });
      else post({ type: "done", id: request.id, event });
    }
  } finally {
    running.delete(request.id);
  }
}

async function handle(request: ToWorker): Promise<void> {
  switch (request.type) {
    case "load":
      loaded ??= load(request);
      await loaded;
      return;
    case "generate":
      await generate(request);
      return;
    case "abort":
      running.get(request.id)?.abort(new DOMException("stopped", "AbortError"));
      return;
    case "tokenize": {
      const { tokenizer } = await loaded!;
      post({ type: "result", id: request.id, value: tokenizer.encode(request.text) });
      return;
    }
    case "logits": {
      const { web } = await loaded!;
      const logits = await web.model.forward(request.ids, web.model.createKvCache());
      post({ type: "result", id: request.id, value: Array.from(logits) });
      return;
    }
  }
}

scope.addEventListener("message", (event) => {
  const request = event.data;
  if (request.type !== "load" && request.type !== "abort" && loaded === undefined) {
    fail(new Error("load a model first"), request.id);
    return;
  }
  handle(request).catch((error: unknown) => {
    if (request.type === "load") loaded = undefined;
    fail(error, "id" in request ? request.id : undefined);
  });
});
