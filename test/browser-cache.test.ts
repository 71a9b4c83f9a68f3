// The OPFS weights cache for one GGUF URL in headless Chromium, from the browser build served by a
// loopback server: llama.cpp's Q4_0 file of gguf-small (../shared/fixtures/gguf, the smallest
// there) loaded with `cache: true` is downloaded once (a Range probe for its size, one streamed
// GET); after a page reload it loads again with no request for the file at all (counted at the
// server) and gives the same logits, which are Node's (float32 noise). A download the server cuts
// short, by dropping the connection or by ending the body early, is not cached: the load fails
// naming the bytes that came, and the next load downloads the file again. One browser launch.

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

const FILE = "gguf-small-q4_0.gguf";
const GGUF_PATH = fixturePath("gguf", FILE);
const SIZE = statSync(GGUF_PATH).size;
const PROMPT = "The capital of France is";
let browser: Browser | undefined;
let http: StaticServer;

before(async () => {
  if (BROWSER_SKIP !== false) return;
  [browser, http] = await launchChromiumBeside(serveBrowserBuild({ "/gguf/": [fixturePath("gguf")] }, "llama3-ts cache test"));
});
after(async () => {
  await browser?.close();
  await http?.close();
});

/** Import the browser entry as window.llama in `page` (again after a reload). */
async function importEntry(page: Page): Promise<void> {
  await page.evaluate(async (url) => {
    window.llama = await import(url);
  }, `${http.url}/iso/dist/browser/index.js`);
}

/** A fresh page (its own browser context, so its own empty OPFS), cross-origin isolated. */
async function openPage(): Promise<{ page: Page; log: string[] }> {
  const page = await browser!.newPage();
  const log = pageLog(page);
  await page.goto(`${http.url}/iso/test.html`);
  await importEntry(page);
  return { page, log };
}

interface Loaded {
  readonly logits: number[];
  readonly prompt: number[];
  readonly downloads: number[][];
  readonly name: string;
}

/** Load the fixture's URL in an engine worker (with `cache` or not) and take the prompt's last logits. */
function loadInPage(page: Page, cache: boolean): Promise<Loaded> {
  return page.evaluate(async ({ file, prompt, cache }) => {
    const downloads: number[][] = [];
    const llm = await window.llama.LlamaWorker.load(`gguf/${file}`, { cache, onDownloadProgress: (loaded: number, total: number) => downloads.push([loaded, total]) });
    try {
      const ids: number[] = await llm.tokenize(prompt);
      return { logits: Array.from(await llm.logits(ids)) as number[], prompt: ids, downloads, name: llm.info.nameOrPath as string };
    } finally {
      llm.terminate();
    }
  }, { file: FILE, prompt: PROMPT, cache });
}

/** The requests for the fixture file since request number `since`. */
const fileRequests = (since: number): string[] => http.requests.slice(since).filter((r) => r.includes(FILE));

let nodeLogits: Promise<{ prompt: number[]; logits: Float32Array }> | undefined;
function expected(): Promise<{ prompt: number[]; logits: Float32Array }> {
  nodeLogits ??= (async () => {
    const backend = await createWasmBackend({ threads: 2 });
    const node = await LlamaForCausalLM.fromPretrained(GGUF_PATH, { backend });
    const prompt = (await Tokenizer.fromPretrained(GGUF_PATH)).encode(PROMPT);
    return { prompt, logits: await node.forward(prompt, node.createKvCache()) };
  })();
  return nodeLogits;
}

/**
 * The page's logits are Node's: the same kernels on the same Q4_0 blocks, but Chromium runs the
 * relaxed-SIMD build (fused multiply-adds) where Node 20 runs plain SIMD, so sums round
 * differently: float32 noise, well under 1e-4 of the largest logit (as test/browser-gguf.test.ts).
 */
async function assertNodeLogits(result: Loaded): Promise<void> {
  const node = await expected();
  assert.deepEqual(result.prompt, node.prompt);
  assert.equal(result.logits.length, node.logits.length);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < node.logits.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(result.logits[i]! - node.logits[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(node.logits[i]!));
  }
  assert.ok(maxDiff <= 1e-4 * maxAbs, `max |browser - node| = ${maxDiff} (largest logit ${maxAbs})`);
}

test("a GGUF URL loaded with cache is downloaded once; after a reload it loads from OPFS with no request for it, same logits", { skip: BROWSER_SKIP }, async () => {
  const { page, log } = await openPage();
  try {
    const start = http.requests.length;
    const first = await loadInPage(page, true);
    // A Range probe for the size, then the file once, whole, streamed into OPFS (then read from there by slices).
    assert.deepEqual(fileRequests(start), [`GET /iso/gguf/${FILE} bytes=0-0`, `GET /iso/gguf/${FILE}`]);
    assert.deepEqual(first.downloads[first.downloads.length - 1], [SIZE, SIZE]);
    assert.equal(first.name, FILE, "loaded from the OPFS File, not the URL");
    await assertNodeLogits(first);

    await page.reload();
    await importEntry(page);
    const again = http.requests.length;
    const second = await loadInPage(page, true);
    assert.deepEqual(fileRequests(again), [], "no request for the file after the reload");
    assert.deepEqual(second.downloads, [], "nothing downloaded");
    // The same bytes on the same kernels and threads: the same numbers exactly.
    assert.deepEqual(second.logits, first.logits);

    // The control: without cache the same page does reach the server (no HTTP cache hid requests above).
    const uncached = http.requests.length;
    await loadInPage(page, false);
    assert.ok(fileRequests(uncached).length >= 2, fileRequests(uncached).join("\n"));
    assert.deepEqual(log.filter((l) => l.startsWith("pageerror")), []);
  } finally {
    await page.close();
  }
});

for (const mode of ["drop", "short"] as const) {
  const what = mode === "drop" ? "drops the connection mid-file" : "ends the body early without a Content-Length";
  test(`a download the server ${what} is not cached: the load fails, the next one downloads again`, { skip: BROWSER_SKIP }, async () => {
    const { page } = await openPage();
    const half = Math.floor(SIZE / 2);
    try {
      http.cuts.set(`/gguf/${FILE}`, { afterBytes: half, mode });
      const message: string = await page.evaluate(async (file) => {
        try {
          await window.llama.LlamaWorker.load(`gguf/${file}`, { cache: true });
          return "loaded";
        } catch (error) {
          return String(error);
        }
      }, FILE);
      // "drop": Chromium errors the body (the Content-Length was not met), at some byte up to the cut;
      // "short": the body ends cleanly at the cut and only the size check against the Range answer catches it.
      const pattern = mode === "drop" ? new RegExp(`${FILE}: the download failed after \\d+ of ${SIZE} bytes`) : new RegExp(`${FILE}: the download ended after ${half} of ${SIZE} bytes`);
      assert.match(message, pattern);
      http.cuts.clear();

      const retry = http.requests.length;
      const result = await loadInPage(page, true);
      assert.deepEqual(fileRequests(retry), [`GET /iso/gguf/${FILE} bytes=0-0`, `GET /iso/gguf/${FILE}`], "downloaded again: the cut copy was not taken");
      await assertNodeLogits(result);
      const cached = http.requests.length;
      await loadInPage(page, true);
      assert.deepEqual(fileRequests(cached), [], "the complete copy is cached");
    } finally {
      http.cuts.clear();
      await page.close();
    }
  });
}
