// A worker thread of the WebAssembly backend's pool (pool.ts): loads the kernel provider, then loops
// forever on the control block, claiming chunks of each job and running them on its kernel instance
// on the job's memory. New memories arrive as messages, read synchronously when a job first needs
// one. On Node the loop never returns to the event loop; in a Web Worker (no synchronous receive) it
// sleeps between jobs in Atomics.waitAsync, so messages are delivered (platform-web.ts). The main
// thread ends it with the shutdown flag or terminate().

import { type Control, SLOT, controlViews, runChunks } from "./jobs.js";
import type { KernelExports, KernelProvider } from "./kernel-abi.js";
import { workerContext } from "#platform";
import { SPIN_ITERATIONS, type WorkerStart, waitWhileEqual } from "./pool.js";
import type { WasmMemory } from "./wasm-api.js";

const context = await workerContext();
if (context === undefined) throw new Error("worker.ts is a worker thread's entry point");
const start = context.data as WorkerStart;
const control: Control = controlViews(start.control);

function reportError(error: unknown): void {
  context!.post({ kind: "error", message: error instanceof Error ? error.message : String(error) });
}

async function loop(provider: KernelProvider): Promise<void> {
  const kernels: KernelExports[] = [];
  // Memories arrive as messages (pool.attach), in order; read them when a job first needs one. The
  // main thread posted them before publishing that job, so they are in the queue.
  const kernelsOf = (index: number): KernelExports => {
    while (kernels.length <= index) {
      const message = context!.receive() as { memory: WasmMemory } | undefined;
      if (message !== undefined) kernels.push(provider.instantiate(start.compiled, message.memory));
    }
    return kernels[index]!;
  };
  const { slots } = control;
  let seen = start.generation;
  for (;;) {
    if (context!.waitAsync === undefined) waitWhileEqual(slots, SLOT.generation, seen);
    else await waitReturningToEventLoop(context!.waitAsync, slots, seen);
    seen = Atomics.load(slots, SLOT.generation);
    if (Atomics.load(slots, SLOT.shutdown) !== 0) return;
    runChunks(control, seen, kernelsOf, start.thread, reportError);
  }
}

/** waitWhileEqual on the generation slot, but sleeping in waitAsync so that messages are delivered (Web Workers). */
async function waitReturningToEventLoop(waitAsync: (slots: Int32Array, slot: number, value: number) => Promise<void>, slots: Int32Array, seen: number): Promise<void> {
  for (let spins = 0; Atomics.load(slots, SLOT.generation) === seen; spins++) {
    if (spins >= SPIN_ITERATIONS) {
      await waitAsync(slots, SLOT.generation, seen);
      spins = 0;
    }
  }
}

try {
  const { kernelProvider } = (await import(start.providerUrl)) as { kernelProvider: KernelProvider };
  context.post({ kind: "ready" });
  await loop(kernelProvider);
} catch (error) {
  reportError(error);
}
