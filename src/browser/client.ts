// The page side of the browser engine: LlamaWorker starts the engine worker (engine-worker.ts, a
// module Web Worker), loads a model there from a URL or picked files with progress events, and
// offers an async API shaped like the Node one: generate() is an async iterable of the engine's
// token/done events and a promise of the done event; Stop is an AbortSignal. The page's main thread
// never blocks (the wasm backend's Atomics.wait runs in the worker).

import type { ChatMessage } from "../chat/index.js";
import { LlamaError } from "../errors.js";
import type { DoneEvent, TokenEvent } from "../generate/types.js";
import type { DTypeOption } from "../loader/pretrained.js";
import type { NamedBlob } from "./model-folder.js";
import type { FromWorker, LoadedInfo, ToWorker, WorkerGenerationOptions } from "./protocol.js";

export type { LoadedInfo, WorkerGenerationOptions } from "./protocol.js";

/** Options of LlamaWorker.load. */
export interface LoadOptions {
  /** As fromPretrained's dtype ("auto": the stored width). */
  readonly dtype?: DTypeOption;
  /** Threads per op (default: every core when cross-origin isolated, else 1). */
  readonly threads?: number;
  /** Bytes of weights loaded so far and in all. */
  readonly onProgress?: (loadedBytes: number, totalBytes: number) => void;
  /**
   * Keep a URL's files (a folder's, or the .gguf file) in the page's Origin Private File System and
   * load them from there: downloaded once (cachedModelFiles), later loads, a reload included, make
   * no request for them. No effect on picked files.
   */
  readonly cache?: boolean;
  /** With `cache`: bytes downloaded into OPFS so far and in all (not called when the copy was there). */
  readonly onDownloadProgress?: (loadedBytes: number, totalBytes: number) => void;
  readonly onWarning?: (message: string) => void;
  /** The engine worker script (default: engine-worker.js beside this file). */
  readonly workerUrl?: string | URL;
}

/** An error the engine worker reported (its name and message kept). */
export class WorkerError extends LlamaError {
  override readonly name = "WorkerError";
  constructor(readonly remoteName: string, message: string) {
    super(`${remoteName}: ${message}`);
  }
}

interface WebWorker {
  postMessage(message: ToWorker): void;
  terminate(): void;
  addEventListener(type: string, listener: (event: { data?: FromWorker; message?: string }) => void): void;
}
type WorkerConstructor = new (url: URL | string, options: { type: "module"; name?: string }) => WebWorker;

/** A generation in progress: iterate for token events, or await the done event. */
export interface WorkerRun extends AsyncIterable<TokenEvent | DoneEvent>, PromiseLike<DoneEvent> {}

interface Pending {
  onMessage(message: FromWorker): void;
}

/** A model loaded in an engine worker. */
export class LlamaWorker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly worker: WebWorker, readonly info: LoadedInfo) {
    worker.addEventListener("message", (event) => {
      const message = event.data!;
      if ("id" in message && message.id !== undefined) this.pending.get(message.id)?.onMessage(message);
    });
  }

  /**
   * Start an engine worker and load a model into it.
   * @param source a model folder's or GGUF file's URL (relative to the page, or absolute), the
   *   picked files, or one GGUF File/Blob
   * @throws WorkerError when the worker cannot load the model (a bad URL, a malformed file)
   */
  static load(source: string | URL | ArrayLike<NamedBlob> | Blob, options: LoadOptions = {}): Promise<LlamaWorker> {
    const Worker = (globalThis as unknown as { Worker?: WorkerConstructor }).Worker;
    if (Worker === undefined) return Promise.reject(new LlamaError("Web Workers are not available here"));
    const location = (globalThis as { location?: { href: string } }).location;
    const resolved = typeof source === "string" || source instanceof URL ? new URL(String(source), location?.href).href : source instanceof Blob ? source : Array.from(source);
    const worker = new Worker(options.workerUrl ?? new URL("./engine-worker.js", import.meta.url), { type: "module", name: "llama3-ts engine" });
    return new Promise((resolve, reject) => {
      let settled = false;
      worker.addEventListener("error", (event) => {
        if (!settled) reject(new LlamaError(`the engine worker failed to start: ${event.message ?? "script error"}`));
        settled = true;
      });
      worker.addEventListener("message", (event) => {
        const message = event.data!;
        if (settled) return;
        if (message.type === "progress") options.onProgress?.(message.loadedBytes, message.totalBytes);
        else if (message.type === "download") options.onDownloadProgress?.(message.loadedBytes, message.totalBytes);
        else if (message.type === "warning") options.onWarning?.(message.message);
        else if (message.type === "loaded") {
          settled = true;
          resolve(new LlamaWorker(worker, message.info));
        } else if (message.type === "error" && message.id === undefined) {
          settled = true;
          worker.terminate();
          reject(new WorkerError(message.name, message.message));
        }
      });
      worker.postMessage({ type: "load", source: resolved, ...(options.dtype === undefined ? {} : { dtype: options.dtype }), ...(options.threads === undefined ? {} : { threads: options.threads }), ...(options.cache === undefined ? {} : { cache: options.cache }) });
    });
  }

  private request(make: (id: number) => ToWorker, onMessage: (message: FromWorker, id: number) => void): number {
    const id = this.nextId++;
    this.pending.set(id, { onMessage: (message) => onMessage(message, id) });
    this.worker.postMessage(make(id));
    return id;
  }

  private call<T>(make: (id: number) => ToWorker): Promise<T> {
    return new Promise((resolve, reject) => {
      this.request(make, (message, id) => {
        this.pending.delete(id);
        if (message.type === "result") resolve(message.value as T);
        else if (message.type === "error") reject(new WorkerError(message.name, message.message));
      });
    });
  }

  /** Token ids of `text` (BOS included, as Tokenizer.encode). */
  tokenize(text: string): Promise<number[]> {
    return this.call((id) => ({ type: "tokenize", id, text }));
  }

  /** The last position's logits after `ids` (a fresh cache). */
  async logits(ids: readonly number[]): Promise<Float32Array> {
    return Float32Array.from(await this.call<number[]>((id) => ({ type: "logits", id, ids })));
  }

  /**
   * Generate after a prompt (text, encoded with BOS) or a chat (messages through the chat template).
   * @param options the engine's options; `signal` stops it (the run then rejects with the signal's reason)
   */
  generate(input: string | readonly ChatMessage[], options: WorkerGenerationOptions & { readonly signal?: AbortSignal } = {}): WorkerRun {
    const { signal, ...rest } = options;
    const queue: (TokenEvent | DoneEvent | Error)[] = [];
    let wake: (() => void) | undefined;
    let resolveDone!: (event: DoneEvent) => void;
    let rejectDone!: (error: Error) => void;
    const done = new Promise<DoneEvent>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    done.catch(() => {}); // observed through iteration or then()
    const push = (item: TokenEvent | DoneEvent | Error): void => {
      queue.push(item);
      wake?.();
    };
    const id = this.request((id) => ({ type: "generate", id, ...(typeof input === "string" ? { prompt: input } : { messages: input }), options: rest }), (message, id) => {
      if (message.type === "token") push(message.event);
      else if (message.type === "done") {
        this.pending.delete(id);
        push(message.event);
        resolveDone(message.event);
      } else if (message.type === "error") {
        this.pending.delete(id);
        // Stopped: the run rejects with the signal's reason, as the Node engine's runs do.
        const error = signal?.aborted === true && signal.reason instanceof Error ? signal.reason : new WorkerError(message.name, message.message);
        push(error);
        rejectDone(error);
      }
    });
    signal?.addEventListener("abort", () => this.worker.postMessage({ type: "abort", id }), { once: true });
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
          const item = queue.shift()!;
          if (item instanceof Error) throw item;
          yield item;
          if (item.type === "done") return;
        }
      },
      then: (onDone, onError) => done.then(onDone, onError),
    };
  }

  /** Stop the engine worker (and its pool). */
  terminate(): void {
    this.worker.terminate();
  }
}
