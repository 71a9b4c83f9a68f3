// The thread pool of the WebAssembly backend, main-thread side: worker threads that each hold a
// kernel instance on every shared memory, driven through a control block (jobs.ts). The Backend
// interface is synchronous, so a job is run to completion before run() returns: the main thread
// publishes the job, wakes the workers (they spin briefly, then sleep in Atomics.wait), computes
// chunks itself, and waits until every chunk is done (not for every worker: one the OS delays finds
// nothing left and is not waited for). Blocking the main thread in Atomics.wait is allowed in Node; a
// browser build would run this from a worker (a page's main thread may not block).

import { LlamaError } from "../../errors.js";
import { CLOSED_CHUNK, type Control, CONTROL_BYTES, MAX_CHUNKS, SLOT, claimWord, controlViews, runChunks } from "./jobs.js";
import type { KernelExports, KernelProvider } from "./kernel-abi.js";
import { type WorkerHandle, sharedBuffer, spawnWorker } from "#platform";
import type { WasmMemory } from "./wasm-api.js";

/**
 * Iterations a waiting thread polls the control block before it sleeps in Atomics.wait: about
 * 0.1-0.2 ms here, longer than the gap between two kernels of a decode step (so a worker is awake
 * for the next job), shorter than a scheduler slice (an idle backend soon stops spinning). 2 000 and
 * 200 000 measured the same on back-to-back decode matmuls.
 */
export const SPIN_ITERATIONS = 20000;

/** What a worker thread is started with (structured-cloned; buffers and memories are shared). */
export interface WorkerStart {
  readonly control: SharedArrayBuffer;
  readonly providerUrl: string;
  readonly compiled: unknown;
  readonly thread: number;
  /** The generation counter when the worker was started. */
  readonly generation: number;
}

/** Messages from a worker to the main thread. */
export type WorkerMessage = { readonly kind: "ready" } | { readonly kind: "error"; readonly message: string };

/** Wait until `slots[slot]` differs from `value`: spin SPIN_ITERATIONS times, then Atomics.wait. */
export function waitWhileEqual(slots: Int32Array, slot: number, value: number): void {
  for (let spins = 0; Atomics.load(slots, slot) === value; spins++) {
    if (spins >= SPIN_ITERATIONS) {
      Atomics.wait(slots, slot, value);
      spins = 0;
    }
  }
}

/** A started pool (main thread). */
export class ThreadPool {
  private readonly control: Control;
  private readonly kernels: KernelExports[] = [];
  private generation = 0;
  private closed = false;
  private readonly kernelsOf = (index: number): KernelExports => this.kernels[index]!;
  private mainError: unknown;
  private readonly recordError = (error: unknown): void => {
    this.mainError ??= error;
  };

  private constructor(
    controlBuffer: SharedArrayBuffer,
    private readonly workers: readonly WorkerHandle[],
    private readonly provider: KernelProvider,
    private readonly compiled: unknown,
  ) {
    this.control = controlViews(controlBuffer);
  }

  /**
   * Start `nThreads - 1` workers (the main thread is the last thread) and wait until each has loaded
   * the kernel provider.
   * @throws LlamaError when a worker fails to start
   */
  static async start(nThreads: number, provider: KernelProvider, providerUrl: URL, compiled: unknown): Promise<ThreadPool> {
    const controlBuffer = sharedBuffer(CONTROL_BYTES);
    const workers = Array.from({ length: nThreads - 1 }, (_, i) => {
      const start: WorkerStart = { control: controlBuffer, providerUrl: providerUrl.href, compiled, thread: i + 1, generation: 0 };
      return spawnWorker(new URL("./worker.js", import.meta.url), start);
    });
    const pool = new ThreadPool(controlBuffer, workers, provider, compiled);
    try {
      await Promise.all(workers.map(async (w, i) => {
        const first = await Promise.race([w.next(), w.failed]);
        if (first instanceof Error) throw new LlamaError(`wasm backend: worker ${i + 1} failed to start: ${first.message}`, { cause: first });
        const message = first as WorkerMessage;
        if (message.kind !== "ready") throw new LlamaError(`wasm backend: worker ${i + 1} failed to start: ${message.message}`);
      }));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /** Threads computing a job, the main thread included. */
  get nThreads(): number {
    return this.workers.length + 1;
  }

  /** Kernels of the main thread on memory `index`. */
  kernelsOn(index: number): KernelExports {
    return this.kernels[index]!;
  }

  /**
   * Give every thread kernels on a new memory (its index is the number attached before). Workers
   * read the message when a job first needs the memory.
   */
  attach(memory: WasmMemory): void {
    this.kernels.push(this.provider.instantiate(this.compiled, memory));
    for (const w of this.workers) w.send({ memory });
  }

  /**
   * Run a job to completion: publish it, wake the workers, claim chunks on this thread too, then
   * wait until every chunk is done (not for every worker: one that wakes late finds nothing left).
   * @param args the op's arguments (see jobs.ts for their order)
   * @throws LlamaError when a kernel failed
   */
  run(op: number, memoryIndex: number, args: readonly number[], nChunks: number): void {
    if (this.closed) throw new LlamaError("wasm backend: used after close()");
    if (nChunks > MAX_CHUNKS) throw new LlamaError(`wasm backend: ${nChunks} chunks exceed the pool's ${MAX_CHUNKS}`);
    const { slots, args: argSlots } = this.control;
    const generation = ++this.generation;
    // Close the claim word first: a worker still holding the previous job's word then fails its
    // compare-exchange instead of claiming a chunk while the fields below change.
    Atomics.store(slots, SLOT.claim, claimWord(generation, CLOSED_CHUNK));
    slots[SLOT.op] = op;
    slots[SLOT.memoryIndex] = memoryIndex;
    slots[SLOT.nChunks] = nChunks;
    for (let i = 0; i < args.length; i++) argSlots[i] = args[i]!;
    Atomics.store(slots, SLOT.doneChunks, 0);
    Atomics.store(slots, SLOT.claim, claimWord(generation, 0));
    if (this.workers.length > 0 && nChunks > 1) {
      Atomics.store(slots, SLOT.generation, generation);
      Atomics.notify(slots, SLOT.generation);
    }
    this.mainError = undefined;
    runChunks(this.control, generation, this.kernelsOf, 0, this.recordError);
    for (let done = Atomics.load(slots, SLOT.doneChunks); done < nChunks; done = Atomics.load(slots, SLOT.doneChunks)) waitWhileEqual(slots, SLOT.doneChunks, done);
    if (Atomics.load(slots, SLOT.failed) !== 0) this.raiseError();
  }

  /** Stop the workers. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.control.slots, SLOT.shutdown, 1);
    Atomics.store(this.control.slots, SLOT.generation, ++this.generation);
    Atomics.notify(this.control.slots, SLOT.generation);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private raiseError(): never {
    Atomics.store(this.control.slots, SLOT.failed, 0);
    const messages = this.workers.map((w) => w.receive() as WorkerMessage | undefined).flatMap((m) => (m?.kind === "error" ? [m.message] : []));
    if (this.mainError !== undefined) messages.unshift(this.mainError instanceof Error ? this.mainError.message : String(this.mainError));
    throw new LlamaError(`wasm backend: a kernel failed: ${messages.join("; ")}`, { cause: this.mainError });
  }
}
