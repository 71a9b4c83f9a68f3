// The browser side of the WebAssembly backend, platform-node.ts's twin (`#platform` picks it under
// the "browser" condition): how many threads (navigator.hardwareConcurrency when the page is
// cross-origin isolated, else one, with a console note: without isolation memories cannot be shared
// with workers), module Web Workers for the pool, and how a worker receives messages. A Web Worker
// cannot read a message synchronously (Node's receiveMessageOnPort), so the worker loop waits for
// jobs with Atomics.waitAsync (its event loop then delivers messages), and send() blocks the sender
// (itself a worker: the engine never runs on a page's main thread) until the worker has queued the
// message, so a memory attached before a job is there when the job needs it.

import { LlamaError, UnsupportedError } from "../../errors.js";
import type { WorkerContext, WorkerHandle } from "./platform-node.js";

export type { WorkerContext, WorkerHandle } from "./platform-node.js";

/** How long send() waits for a worker to take a message before calling it stuck. */
const SEND_TIMEOUT_MS = 30_000;

interface WebWorkerLike {
  postMessage(message: unknown): void;
  terminate(): void;
  addEventListener(type: string, listener: (event: { data?: unknown; message?: string; preventDefault?: () => void }) => void): void;
}

/** The browser globals this file uses (the project compiles without the DOM library). */
interface WebGlobals {
  readonly Worker?: new (url: URL | string, options: { type: "module"; name?: string }) => WebWorkerLike;
  readonly crossOriginIsolated?: boolean;
  readonly navigator?: { readonly hardwareConcurrency?: number };
  readonly WorkerGlobalScope?: abstract new () => unknown;
  readonly postMessage?: (message: unknown) => void;
  readonly addEventListener?: (type: string, listener: (event: { data: unknown }) => void) => void;
}

const web = globalThis as unknown as WebGlobals;
type WaitAsync = (array: Int32Array, index: number, value: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/** Whether threads can share memory here (COOP same-origin + COEP require-corp, or credentialless). */
export function crossOriginIsolated(): boolean {
  return web.crossOriginIsolated === true;
}

let notedSingleThread = false;

/** Threads to use by default: every core when the page is cross-origin isolated, else one. */
export function defaultThreadCount(): number {
  if (crossOriginIsolated()) return Math.max(1, web.navigator?.hardwareConcurrency ?? 1);
  if (!notedSingleThread) {
    notedSingleThread = true;
    console.info("llama3-ts: this page is not cross-origin isolated, so the WebAssembly backend runs on one thread. Serve it with "
      + "Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp for one thread per core.");
  }
  return 1;
}

/**
 * Start `url` as a module Web Worker with `data` (its first message; shared memories and compiled
 * modules are shared, not copied).
 * @throws UnsupportedError when the page is not cross-origin isolated (memory cannot be shared)
 */
export function spawnWorker(url: URL, data: unknown): WorkerHandle {
  if (!crossOriginIsolated() || web.Worker === undefined) {
    throw new UnsupportedError("more than one thread needs a cross-origin isolated page (COOP: same-origin, COEP: require-corp); use threads: 1 or serve the page with those headers");
  }
  const worker = new web.Worker(url, { type: "module", name: "llama3-ts wasm worker" });
  const taken = new Int32Array(new SharedArrayBuffer(4));
  const inbox: unknown[] = [];
  const waiting: ((message: unknown) => void)[] = [];
  worker.addEventListener("message", (event) => {
    const next = waiting.shift();
    if (next !== undefined) next(event.data);
    else inbox.push(event.data);
  });
  const failed = new Promise<Error>((resolve) => {
    worker.addEventListener("error", (event) => {
      event.preventDefault?.();
      resolve(new Error(event.message ?? "the worker script failed to load"));
    });
  });
  worker.postMessage({ start: data, taken: taken.buffer });
  let sent = 0;
  return {
    send: (message) => {
      worker.postMessage(message);
      sent += 1;
      const deadline = performance.now() + SEND_TIMEOUT_MS;
      for (let seen = Atomics.load(taken, 0); seen < sent; seen = Atomics.load(taken, 0)) {
        if (performance.now() > deadline) throw new LlamaError(`wasm backend: a worker did not take a message within ${SEND_TIMEOUT_MS} ms`);
        Atomics.wait(taken, 0, seen, 50);
      }
    },
    next: () => (inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((resolve) => waiting.push(resolve))),
    receive: () => inbox.shift(),
    terminate: () => {
      worker.terminate();
      return Promise.resolve();
    },
    failed,
  };
}

/** The context of a pool worker (resolves at its first message); undefined outside a worker. */
export function workerContext(): Promise<WorkerContext> | undefined {
  const scope = web.WorkerGlobalScope;
  if (scope === undefined || !(globalThis instanceof scope) || web.addEventListener === undefined || waitAsync === undefined) return undefined;
  const wait = waitAsync;
  return new Promise((resolve) => {
    const inbox: unknown[] = [];
    let taken: Int32Array | undefined;
    web.addEventListener!("message", (event) => {
      if (taken === undefined) {
        const first = event.data as { start: unknown; taken: SharedArrayBuffer };
        taken = new Int32Array(first.taken);
        resolve({
          data: first.start,
          receive: () => inbox.shift(),
          post: (message) => web.postMessage!(message),
          waitAsync: async (slots, slot, value) => {
            const result = wait(slots, slot, value);
            if (result.async) await result.value;
          },
        });
        return;
      }
      inbox.push(event.data);
      Atomics.add(taken, 0, 1);
      Atomics.notify(taken, 0);
    });
  });
}
