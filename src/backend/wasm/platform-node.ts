// The Node.js side of the WebAssembly backend, and the only file of it that imports Node modules:
// how many threads to use, how to start a worker thread, and how a worker reads a message while its
// thread is blocked in Atomics.wait. A browser build replaces this file (Web Workers,
// navigator.hardwareConcurrency, and a worker loop on Atomics.waitAsync instead of
// receiveMessageOnPort); nothing else in src/backend/wasm/ knows it runs on Node.

import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, Worker, isMainThread, receiveMessageOnPort, workerData } from "node:worker_threads";

/** Threads the machine can run at once (the default thread count of the backend). */
export function defaultThreadCount(): number {
  return availableParallelism();
}

/** A started worker thread, as the pool sees it. */
export interface WorkerHandle {
  /** Send a message the worker reads synchronously with WorkerContext.receive(). */
  send(message: unknown): void;
  /** The next message the worker posts (WorkerContext.post), waiting for it. */
  next(): Promise<unknown>;
  /** A message the worker has posted, read without waiting; undefined when there is none. */
  receive(): unknown;
  /** Stop the thread; resolves when it has exited. */
  terminate(): Promise<void>;
  /** Resolves (with the error) if the thread fails to start or throws. */
  readonly failed: Promise<Error>;
}

/**
 * Start `url` as a worker thread with `data` (structured-cloned: SharedArrayBuffers, shared
 * WebAssembly memories and compiled modules are shared, not copied). The thread does not keep the
 * process alive (unref): a program that never closes the backend still exits.
 */
export function spawnWorker(url: URL, data: unknown): WorkerHandle {
  const channel = new MessageChannel();
  // The worker inherits the process's Node flags, except --input-type, which Node refuses for a
  // worker started from a file. (V8 flags such as --experimental-wasm-relaxed-simd are process-wide:
  // they apply to workers without being passed, and passing them is refused.)
  const inputType = process.execArgv.some((arg) => arg.startsWith("--input-type"));
  const execArgv = inputType ? process.execArgv.filter((arg) => !arg.startsWith("--input-type") && !arg.startsWith("--experimental-wasm")) : undefined;
  const worker = new Worker(url, { workerData: { data, port: channel.port2 }, transferList: [channel.port2], ...(execArgv === undefined ? {} : { execArgv }) });
  worker.unref();
  channel.port1.unref();
  const failed = new Promise<Error>((resolve) => {
    worker.once("error", resolve);
  });
  return {
    send: (message) => channel.port1.postMessage(message),
    next: () => new Promise((resolve) => channel.port1.once("message", resolve)),
    receive: () => receiveMessageOnPort(channel.port1)?.message,
    terminate: async () => {
      await worker.terminate();
      channel.port1.close();
    },
    failed,
  };
}

/** What a worker thread knows of its start. */
export interface WorkerContext {
  /** The `data` given to spawnWorker. */
  readonly data: unknown;
  /** The next message sent with WorkerHandle.send, read without returning to the event loop. */
  receive(): unknown;
  /** Send a message to the main thread (WorkerHandle.next / receive). */
  post(message: unknown): void;
  /**
   * Where messages arrive only through the event loop (Web Workers): sleep while `slots[slot]` is
   * `value` without blocking it. Absent on Node, whose workers wait with Atomics.wait.
   */
  readonly waitAsync?: (slots: Int32Array, slot: number, value: number) => Promise<void>;
}

/** The context of the current worker thread; undefined on the main thread. */
export function workerContext(): WorkerContext | undefined {
  if (isMainThread) return undefined;
  const { data, port } = workerData as { data: unknown; port: MessagePort };
  return {
    data,
    receive: () => receiveMessageOnPort(port)?.message,
    post: (message) => port.postMessage(message),
  };
}
