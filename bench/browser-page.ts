// The page-side code of the browser benchmark (browser.ts), as source text served by its loopback
// server: OURS_WORKER is a module Web Worker that loads a GGUF URL with the browser build's
// fromPretrained onto the wasm backend and measures prefill and decode exactly as speed-child.ts
// does on Node (a warm-up, then per repetition a prompt forward plus picking the first token, then
// greedy single-token steps; medians); WLLAMA_PAGE loads the same file (as a Blob) into wllama and
// reads llama.cpp's own timings of a completion of the same length (temperature 0, EOS ignored,
// no prompt cache). The worker also reports whether it is cross-origin isolated (the pool has
// threads only then), the cores the browser reports, the kernel build it picked, the weights' dtype
// and the bytes its memories hold, and the last repetition's time per op (backend.opStats).

/** Served as /bench/ours-worker.js; imports the browser build from /dist/browser/. */
export const OURS_WORKER = `
// No top-level await: a message posted while the module is still evaluating would find no onmessage.
const modules = Promise.all([import(new URL("../dist/browser/index.js", self.location.href).href), import(new URL("../dist/kernels/wasm/module.js", self.location.href).href)]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function argmax(logits) {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}
self.onmessage = async ({ data }) => {
  try {
    const [llama, kernels] = await modules;
    const { url, threads, prompt, genTokens, reps } = data;
    const t = performance.now();
    const backend = await llama.createWasmBackend({ threads });
    const { model } = await llama.fromPretrained(url, { backend });
    const loadSeconds = (performance.now() - t) / 1000;
    async function run(ids, nGen) {
      const cache = model.createKvCache({ maxSeqLen: ids.length + nGen + 16, allocator: backend });
      backend.resetOpStats();
      const t0 = performance.now();
      const tokens = [argmax(await model.forward(ids, cache))];
      const t1 = performance.now();
      const prefillOps = backend.opStats();
      backend.resetOpStats();
      for (let i = 0; i < nGen; i++) tokens.push(argmax(await model.forward([tokens.at(-1)], cache)));
      const t2 = performance.now();
      cache.release();
      return { tokens, prefill: ids.length / ((t1 - t0) / 1000), decode: nGen / ((t2 - t1) / 1000), prefillOps, decodeOps: backend.opStats() };
    }
    await run(prompt.slice(0, 16), 4);
    const prefill = [];
    const decode = [];
    let last;
    for (let r = 0; r < reps; r++) {
      last = await run(prompt, genTokens);
      prefill.push(last.prefill);
      decode.push(last.decode);
    }
    await backend.close();
    self.postMessage({ ok: true, threads: backend.nThreads, isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency, build: kernels.preferredKernelBuild(), loadSeconds, prefillTokS: median(prefill), decodeTokS: median(decode), prefillRuns: prefill, decodeRuns: decode,
      weightDType: model.weights.layers[0].attnQ.dtype, arenaBytes: backend.arena.usedBytes(), decodeSeconds: genTokens / last.decode, prefillOps: last.prefillOps, decodeOps: last.decodeOps });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error && error.stack || error) });
  }
};
`;

/** Run in the page (page.evaluate) with { url, threads, text, genTokens, reps }: wllama's figures. */
export const WLLAMA_PAGE = `async ({ url, threads, text, genTokens, reps }) => {
  const { Wllama } = await import(new URL("wllama/index.js", location.href).href);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const quiet = { debug() {}, log() {}, info() {}, warn: console.warn, error: console.error };
  const wllama = new Wllama({ default: new URL("wllama/wasm/wllama.wasm", location.href).href }, { logger: quiet });
  const blob = await (await fetch(url)).blob();
  const t = performance.now();
  await wllama.loadModel([blob], { n_threads: threads, n_ctx: 512, n_batch: 512, n_gpu_layers: 0 });
  const loadSeconds = (performance.now() - t) / 1000;
  const complete = (n) => wllama.createCompletion({ prompt: text, max_tokens: n, temperature: 0, ignore_eos: true, cache_prompt: false, stream: false });
  await complete(4);
  const prefill = [];
  const decode = [];
  let promptTokens = 0;
  let predicted = 0;
  for (let r = 0; r < reps; r++) {
    const timings = (await complete(genTokens)).timings;
    prefill.push(timings.prompt_per_second);
    decode.push(timings.predicted_per_second);
    promptTokens = timings.prompt_n;
    predicted = timings.predicted_n;
  }
  const result = { threads: wllama.getNumThreads(), multithread: wllama.isMultithread(), version: Wllama.getLibllamaVersion?.(), loadSeconds, promptTokens, predicted, prefillTokS: median(prefill), decodeTokS: median(decode), prefillRuns: prefill, decodeRuns: decode };
  await wllama.exit();
  return result;
}`;
