// The engine in headless Chromium, from the browser build (dist/browser/, scripts/build-browser.mjs)
// served by a loopback server: the tokenizer in the page gives Node's ids on the shared tokenizer
// vectors; the tiny fixture model loaded over HTTP (Range requests) in the engine worker gives
// Node's logits (float32 noise) and Node's greedy ids, streamed as token events; the wasm pool runs
// on every core when the page is cross-origin isolated and on one thread (with a console note)
// when not; a bad model URL rejects with an error instead of hanging.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { bundledTokenizerDir } from "../src/tokenizer/pretrained.js";
import { BROWSER_SKIP, launchChromiumBeside, pageLog, serveBrowserBuild } from "./support/browser.js";
import { fixturePath } from "./support/paths.js";
import type { StaticServer } from "./support/static-server.js";
import { TINY_MODEL_DIR } from "./server-support.js";

// Page-side code (run by Chromium, not Node) names browser globals; the project compiles without DOM types.
declare const window: any;
declare const navigator: any;

const PROMPT_IDS = [128000, 791, 6864, 315, 9822, 374];
let browser: Browser | undefined;
let http: StaticServer;

before(async () => {
  if (BROWSER_SKIP !== false) return;
  // The tiny model has no tokenizer files: the folder is the fixture with the bundled tokenizer's files beside it.
  [browser, http] = await launchChromiumBeside(serveBrowserBuild({ "/model/": [TINY_MODEL_DIR, bundledTokenizerDir()] }, "llama3-ts test"));
});
after(async () => {
  await browser?.close();
  await http?.close();
});

/** A page at /iso/ or /plain/ with the browser entry imported as window.llama. */
async function openPage(isolated: boolean): Promise<{ page: Page; log: string[] }> {
  const page = await browser!.newPage();
  const log = pageLog(page);
  const base = `${http.url}/${isolated ? "iso" : "plain"}/`;
  await page.goto(`${base}test.html`);
  await page.evaluate(async (url) => {
    window.llama = await import(url);
  }, `${base}dist/browser/index.js`);
  return { page, log };
}

test("the tokenizer in the page gives Node's ids on the shared tokenizer vectors", { skip: BROWSER_SKIP }, async () => {
  const cases = (JSON.parse(readFileSync(fixturePath("tokenizer", "llama3_tokenizer_js.json"), "utf8")) as { cases: { kind: string; text?: string }[] }).cases;
  const texts = cases.flatMap((c) => (c.kind === "encode" && typeof c.text === "string" ? [c.text] : []));
  assert.ok(texts.length >= 20);
  const node = await Tokenizer.bundled();
  const { page } = await openPage(false);
  try {
    const inPage = await page.evaluate(async (all) => {
      const tokenizer = await window.llama.tokenizerFromPretrained("model/");
      return all.map((text: string) => [tokenizer.encode(text), tokenizer.encode(text, { addSpecialTokens: false })]);
    }, texts);
    texts.forEach((text, i) => {
      assert.deepEqual(inPage[i], [node.encode(text), node.encode(text, { addSpecialTokens: false })], JSON.stringify(text));
    });
  } finally {
    await page.close();
  }
});

let nodeModel: Promise<LlamaForCausalLM> | undefined;
function loadNodeModel(): Promise<LlamaForCausalLM> {
  nodeModel ??= createWasmBackend({ threads: 2 }).then((backend) => LlamaForCausalLM.fromPretrained(TINY_MODEL_DIR, { backend }));
  return nodeModel;
}

test("isolated page: the model over HTTP gives Node's logits and greedy ids, streamed, on every core", { skip: BROWSER_SKIP }, async () => {
  const node = await loadNodeModel();
  const expectedLogits = await node.forward(PROMPT_IDS, node.createKvCache());
  const tokenizer = await Tokenizer.bundled();
  const expectedGreedy = await node.generate(PROMPT_IDS, { maxNewTokens: 8, doSample: false, tokenizer });
  const { page, log } = await openPage(true);
  const before = http.requests.length;
  try {
    const result: { info: { crossOriginIsolated: boolean; threads: number }; logits: number[]; events: { type: string; tokenId?: number; tokenIds?: number[] }[]; prompt: number[]; progress: number[][]; cores: number; isolated: boolean } = await page.evaluate(async (ids) => {
      const progress: number[][] = [];
      const llm = await window.llama.LlamaWorker.load("model/", { onProgress: (loaded: number, total: number) => progress.push([loaded, total]) });
      const logits: number[] = Array.from(await llm.logits(ids));
      const events: { type: string; tokenId?: number; tokenIds?: number[] }[] = [];
      const prompt = (await llm.tokenize("The capital of France is"));
      for await (const event of llm.generate("The capital of France is", { maxNewTokens: 8, doSample: false })) events.push(event);
      llm.terminate();
      return { info: llm.info, logits, events, prompt, progress, cores: navigator.hardwareConcurrency, isolated: window.crossOriginIsolated };
    }, PROMPT_IDS);
    assert.equal(result.isolated, true);
    assert.deepEqual(result.prompt, PROMPT_IDS, "the prompt the generation test uses");
    assert.equal(result.info.crossOriginIsolated, true);
    assert.equal(result.info.threads, result.cores, "one thread per core");
    assert.ok(result.cores >= 2, "this machine has several cores, so several threads ran");
    // Logits: the same kernels, but Chromium runs the relaxed-SIMD build (fused multiply-adds)
    // where Node 20 runs plain SIMD, so sums round differently: float32 noise, well under 1e-4
    // of the largest logit; the ordering (argmax) must agree.
    assert.equal(result.logits.length, expectedLogits.length);
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < expectedLogits.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(result.logits[i]! - expectedLogits[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(expectedLogits[i]!));
    }
    assert.ok(maxDiff <= 1e-4 * maxAbs, `max |browser - node| = ${maxDiff} (largest logit ${maxAbs})`);
    const argmax = (xs: ArrayLike<number>): number => {
      let best = 0;
      for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
      return best;
    };
    assert.equal(argmax(result.logits), argmax(expectedLogits));
    // Greedy ids equal Node's, streamed as one token event per id before the done event.
    const tokens = result.events.filter((e) => e.type === "token").map((e) => e.tokenId);
    const done = result.events[result.events.length - 1]!;
    assert.equal(done.type, "done");
    assert.equal(result.events.filter((e) => e.type === "done").length, 1);
    assert.deepEqual(done.tokenIds, expectedGreedy.outputs[0]!.tokenIds);
    assert.deepEqual(tokens, done.tokenIds);
    assert.ok(tokens.length >= 2);
    // Progress reached the total; the weights came by Range requests.
    const last = result.progress[result.progress.length - 1]!;
    assert.ok(result.progress.length >= 2 && last[0] === last[1] && last[1]! > 0, JSON.stringify(result.progress.slice(-3)));
    const weightRequests = http.requests.slice(before).filter((r) => r.includes("model.safetensors"));
    assert.ok(weightRequests.length >= 3 && weightRequests.every((r) => /bytes=\d+-\d+$/.test(r)), weightRequests.slice(0, 5).join("\n"));
    assert.deepEqual(log.filter((l) => l.startsWith("pageerror")), []);
  } finally {
    await page.close();
  }
});

test("a page that is not cross-origin isolated runs one thread and says so in the console", { skip: BROWSER_SKIP }, async () => {
  const node = await loadNodeModel();
  const tokenizer = await Tokenizer.bundled();
  const expected = await node.generate(PROMPT_IDS, { maxNewTokens: 4, doSample: false, tokenizer });
  const { page, log } = await openPage(false);
  try {
    const result = await page.evaluate(async () => {
      const llm = await window.llama.LlamaWorker.load("model/");
      const done = await llm.generate("The capital of France is", { maxNewTokens: 4, doSample: false });
      llm.terminate();
      return { info: llm.info, done, isolated: window.crossOriginIsolated };
    });
    assert.equal(result.isolated, false);
    assert.equal(result.info.crossOriginIsolated, false);
    assert.equal(result.info.threads, 1);
    assert.deepEqual(result.done.tokenIds, expected.outputs[0]!.tokenIds);
    assert.ok(log.some((l) => /not cross-origin isolated.*one thread/.test(l)), log.join("\n"));
  } finally {
    await page.close();
  }
});

test("a bad model URL rejects with an error that names the missing file, not a hang", { skip: BROWSER_SKIP }, async () => {
  const { page } = await openPage(true);
  try {
    const message = await page.evaluate(async () => {
      try {
        await window.llama.LlamaWorker.load("no-such-model/");
        return "loaded";
      } catch (error) {
        return String(error);
      }
    });
    assert.match(message, /no-such-model\/.*no config\.json/);
  } finally {
    await page.close();
  }
});

test("a model cached in OPFS loads again without downloading its weights, as File objects in the worker", { skip: BROWSER_SKIP }, async () => {
  const node = await loadNodeModel();
  const tokenizer = await Tokenizer.bundled();
  const expected = await node.generate(PROMPT_IDS, { maxNewTokens: 4, doSample: false, tokenizer });
  const { page } = await openPage(true);
  try {
    const first = http.requests.length;
    const downloaded: { names: string[]; progress: number[] } = await page.evaluate(async () => {
      await window.llama.clearModelCache("model/");
      const progress: number[] = [];
      const files = await window.llama.cachedModelFiles("model/", { onProgress: (loaded: number, total: number) => progress.push(loaded / total) });
      return { names: files.map((f: { name: string }) => f.name).sort(), progress };
    });
    assert.deepEqual(downloaded.names, ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    assert.equal(downloaded.progress[downloaded.progress.length - 1], 1);
    assert.ok(http.requests.slice(first).includes("GET /iso/model/model.safetensors"), "downloaded whole, streamed into OPFS");
    const second = http.requests.length;
    const result: { ids: number[]; sizes: number[] } = await page.evaluate(async () => {
      const files = await window.llama.cachedModelFiles("model/");
      const llm = await window.llama.LlamaWorker.load(files);
      const done = await llm.generate("The capital of France is", { maxNewTokens: 4, doSample: false });
      llm.terminate();
      return { ids: done.tokenIds, sizes: files.map((f: { size: number }) => f.size) };
    });
    assert.deepEqual(http.requests.slice(second).filter((r) => r.includes(" /iso/model/")), [], "nothing fetched the second time");
    assert.deepEqual(result.ids, expected.outputs[0]!.tokenIds);
  } finally {
    await page.close();
  }
});
