// GGUF in headless Chromium, from the browser build (dist/browser/) served by a loopback server:
// llama.cpp's Q8_0 file of gguf-small (../shared/fixtures/gguf) loaded in the engine worker from
// its URL (header and tensors by Range requests) gives Node's logits (float32 noise) and Node's
// greedy ids, and its tokenizer (tokenizer.ggml.* keys) gives Node's ids; the same file as a Blob
// (the file-picker path) gives the same ids. One browser launch for the file.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { BROWSER_SKIP, launchChromiumBeside, pageLog, serveBrowserBuild } from "./support/browser.js";
import { fixturePath } from "./support/paths.js";
import type { StaticServer } from "./support/static-server.js";

// Page-side code (run by Chromium, not Node) names browser globals; the project compiles without DOM types.
declare const window: any;

const FILE = "gguf-small-q8_0.gguf";
const GGUF_PATH = fixturePath("gguf", FILE);
const PROMPT = "The capital of France is";
let browser: Browser | undefined;
let http: StaticServer;

before(async () => {
  if (BROWSER_SKIP !== false) return;
  [browser, http] = await launchChromiumBeside(serveBrowserBuild({ "/gguf/": [fixturePath("gguf")] }, "llama3-ts gguf test"));
});
after(async () => {
  await browser?.close();
  await http?.close();
});

async function openPage(): Promise<{ page: Page; log: string[] }> {
  const page = await browser!.newPage();
  const log = pageLog(page);
  const base = `${http.url}/iso/`;
  await page.goto(`${base}test.html`);
  await page.evaluate(async (url) => {
    window.llama = await import(url);
  }, `${base}dist/browser/index.js`);
  return { page, log };
}

test("a GGUF URL in the engine worker gives Node's logits, greedy ids and tokenizer ids", { skip: BROWSER_SKIP }, async () => {
  const backend = await createWasmBackend({ threads: 2 });
  const node = await LlamaForCausalLM.fromPretrained(GGUF_PATH, { backend });
  const tokenizer = await Tokenizer.fromPretrained(GGUF_PATH);
  const promptIds = tokenizer.encode(PROMPT);
  const expectedLogits = await node.forward(promptIds, node.createKvCache());
  const expectedGreedy = (await node.generate(promptIds, { maxNewTokens: 8, doSample: false, tokenizer })).outputs[0]!.tokenIds;
  const { page, log } = await openPage();
  const before = http.requests.length;
  try {
    const result: { logits: number[]; prompt: number[]; ids: number[]; progress: number[][] } = await page.evaluate(async ({ file, prompt }) => {
      const progress: number[][] = [];
      const llm = await window.llama.LlamaWorker.load(`gguf/${file}`, { onProgress: (loaded: number, total: number) => progress.push([loaded, total]) });
      const ids: number[] = await llm.tokenize(prompt);
      const logits: number[] = Array.from(await llm.logits(ids));
      const done = await llm.generate(prompt, { maxNewTokens: 8, doSample: false });
      llm.terminate();
      return { logits, prompt: ids, ids: done.tokenIds, progress };
    }, { file: FILE, prompt: PROMPT });
    assert.deepEqual(result.prompt, promptIds, "the GGUF tokenizer in the page gives Node's ids");
    // The same kernels on the same Q8_0 blocks; Chromium runs the relaxed-SIMD build (fused
    // multiply-adds) where Node 20 runs plain SIMD, so sums round differently: float32 noise, well
    // under 1e-4 of the largest logit; the argmax agrees and greedy ids are equal.
    assert.equal(result.logits.length, expectedLogits.length);
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < expectedLogits.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(result.logits[i]! - expectedLogits[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(expectedLogits[i]!));
    }
    assert.ok(maxDiff <= 1e-4 * maxAbs, `max |browser - node| = ${maxDiff} (largest logit ${maxAbs})`);
    assert.deepEqual(result.ids, expectedGreedy);
    assert.ok(result.ids.length >= 2);
    // Progress reached the total; every request for the file was a Range request, none of them whole.
    const last = result.progress[result.progress.length - 1]!;
    assert.ok(last[0] === last[1] && last[1]! > 0, JSON.stringify(result.progress.slice(-3)));
    const fileRequests = http.requests.slice(before).filter((r) => r.includes(FILE));
    assert.ok(fileRequests.length >= 3 && fileRequests.every((r) => /bytes=\d+-\d+$/.test(r)), fileRequests.slice(0, 5).join("\n"));
    const size = statSync(GGUF_PATH).size;
    const largest = Math.max(...fileRequests.map((r) => { const [, a, b] = /bytes=(\d+)-(\d+)$/.exec(r)!; return Number(b) - Number(a) + 1; }));
    assert.ok(largest < size, `no request asked for the whole file (${largest} of ${size} bytes)`);
    assert.deepEqual(log.filter((l) => l.startsWith("pageerror")), []);
  } finally {
    await page.close();
  }
});

test("a GGUF Blob (the file-picker path) gives the same greedy ids; a missing .gguf URL is an error", { skip: BROWSER_SKIP }, async () => {
  const backend = await createWasmBackend({ threads: 2 });
  const node = await LlamaForCausalLM.fromPretrained(GGUF_PATH, { backend });
  const tokenizer = await Tokenizer.fromPretrained(GGUF_PATH);
  const expected = (await node.generate(tokenizer.encode(PROMPT), { maxNewTokens: 4, doSample: false, tokenizer })).outputs[0]!.tokenIds;
  const { page } = await openPage();
  try {
    const result: { ids: number[]; name: string; missing: string } = await page.evaluate(async ({ file, prompt }) => {
      const blob = await (await fetch(`gguf/${file}`)).blob();
      const llm = await window.llama.LlamaWorker.load(new File([blob], file));
      const done = await llm.generate(prompt, { maxNewTokens: 4, doSample: false });
      llm.terminate();
      let missing = "loaded";
      try {
        await window.llama.LlamaWorker.load("gguf/no-such.gguf");
      } catch (error) {
        missing = String(error);
      }
      return { ids: done.tokenIds, name: llm.info.nameOrPath, missing };
    }, { file: FILE, prompt: PROMPT });
    assert.deepEqual(result.ids, expected);
    assert.equal(result.name, FILE);
    assert.match(result.missing, /no-such\.gguf.*no such GGUF file/);
  } finally {
    await page.close();
  }
});
