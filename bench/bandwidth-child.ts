// Child process of the speed benchmark: the machine's memory-read ceiling, a plain streaming read
// (the read_stream kernel) of a buffer much larger than the caches, on N worker threads at once,
// each over its own slice of one shared memory, as the backend's threads read a layer's weights.
// Prints one JSON line: { threads, bytes, bytesPerSecond } (best of a few passes).
// `node bandwidth-child.js [--threads 2] [--mib 1024] [--passes 5]`

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { type KernelMemory, type KernelModule, KERNEL_RESERVED_BYTES, compileKernels, createKernelMemory, instantiateKernels } from "../src/kernels/wasm/module.js";

interface WorkerInit {
  module: KernelModule;
  memory: KernelMemory;
  byteOffset: number;
  byteLength: number;
}

const PAGE = 65536;

if (!isMainThread) {
  const { module, memory, byteOffset, byteLength } = workerData as WorkerInit;
  const kernels = instantiateKernels(module, memory);
  let sink = 0;
  parentPort!.on("message", (pass: number) => {
    const start = performance.now();
    sink ^= kernels.read_stream(byteOffset, byteLength);
    parentPort!.postMessage({ pass, seconds: (performance.now() - start) / 1000, sink });
  });
} else {
  const value = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const threads = value("--threads", 2);
  const sliceBytes = Math.floor((value("--mib", 1024) * 1024 * 1024) / threads / 64) * 64;
  const passes = value("--passes", 5);
  const module = await compileKernels();
  const pages = Math.ceil((KERNEL_RESERVED_BYTES + sliceBytes * threads) / PAGE);
  const memory = createKernelMemory(pages, pages);
  // Touch every page first, so the passes measure reads, not page faults.
  new Uint8Array(memory.buffer).fill(1);
  const workers = Array.from({ length: threads }, (_, t) => new Worker(fileURLToPath(import.meta.url), {
    workerData: { module, memory, byteOffset: KERNEL_RESERVED_BYTES + t * sliceBytes, byteLength: sliceBytes } satisfies WorkerInit,
  }));
  let best = Infinity;
  for (let pass = 0; pass <= passes; pass++) {
    const start = performance.now();
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
      w.once("message", () => resolve());
      w.postMessage(pass);
    })));
    const seconds = (performance.now() - start) / 1000;
    if (pass > 0) best = Math.min(best, seconds); // pass 0 warms up (compilation, tier-up)
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const bytes = sliceBytes * threads;
  console.log(JSON.stringify({ threads, bytes, bytesPerSecond: bytes / best }));
}
