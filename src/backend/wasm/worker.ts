// A worker thread of the WebAssembly backend's pool (pool.ts): loads the kernel provider, then loops
// forever on the control block, claiming chunks of each job and running them on its kernel instance
// on the job's memory. New memories arrive as messages, read synchronously when a job first needs
// one. The loop never returns to the event loop; the main thread ends it with the shutdown flag or
// terminate().

import { type Control, SLOT, controlViews, runChunks } from "./jobs.js";
import type { KernelExports, KernelProvider } from "./kernel-abi.js";
import { workerContext } from "./platform-node.js";
import { type WorkerStart, waitWhileEqual } from "./pool.js";
import type { WasmMemory } from "./wasm-api.js";

const context = workerContext();
if (context === undefined) throw new Error("worker.ts is a worker thread's entry point");
const start = context.data as WorkerStart;
const control: Control = controlViews(start.control);

function reportError(error: unknown): void {
  context!.post({ kind: "error", message: error instanceof Error ? error.message : String(error) });
}

function loop(provider: KernelProvider): void {
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
    waitWhileEqual(slots, SLOT.generation, seen);
    seen = Atomics.load(slots, SLOT.generation);
    if (Atomics.load(slots, SLOT.shutdown) !== 0) return;
    runChunks(control, seen, kernelsOf, start.thread, reportError);
  }
}

try {
  const { kernelProvider } = (await import(start.providerUrl)) as { kernelProvider: KernelProvider };
  context.post({ kind: "ready" });
  loop(kernelProvider);
} catch (error) {
  reportError(error);
}
