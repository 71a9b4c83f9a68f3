// The chat page of `llama3 serve` in headless Chromium: a message typed and sent shows a reply that
// grows chunk by chunk in the DOM (a MutationObserver records every text the reply shows) and ends as
// the server's own greedy answer to the same conversation; the read-out counts the tokens;
// Regenerate gives the same greedy reply again; a conversation longer than the context shows the
// error in the page. A screenshot goes to test-artifacts/browser/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { BROWSER_SKIP, artifactsDir, launchChromiumBeside, pageLog } from "./support/browser.js";
import { MODEL_ID, type TestServer, rawRequest, startServer } from "./server-support.js";

// Page-side code (run by Chromium, not Node) names the DOM; the project compiles without DOM types.
declare const document: any;
declare const window: any;
declare const MutationObserver: any;

const MAX_TOKENS = 12;
let browser: Browser | undefined;
let s: TestServer;
before(async () => {
  if (BROWSER_SKIP !== false) return;
  [browser, s] = await launchChromiumBeside(startServer());
});
after(async () => {
  await browser?.close();
  await s?.close();
});

/** The page, loaded and showing the model id; greedy decoding and MAX_TOKENS set in its settings. */
async function openChat(): Promise<{ page: Page; log: string[] }> {
  const page = await browser!.newPage();
  const log = pageLog(page);
  await page.goto(`${s.address.url}/`);
  await page.waitForFunction((id) => document.getElementById("model")?.textContent === id, MODEL_ID, { timeout: 10_000 });
  await page.fill("#temperature", "0");
  await page.fill("#max-tokens", String(MAX_TOKENS));
  return { page, log };
}

/** Record every text the newest assistant reply shows, from now on. */
async function recordReplies(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = [];
    window.seen = seen;
    new MutationObserver(() => {
      const replies = document.querySelectorAll("#log .msg.assistant .text");
      const text = replies[replies.length - 1]?.textContent ?? "";
      if (text !== "" && seen[seen.length - 1] !== text) seen.push(text);
    }).observe(document.getElementById("log"), { childList: true, subtree: true, characterData: true });
  });
}

/** The server's greedy answer to `content` without the page (stream off). */
async function serverAnswer(content: string): Promise<{ text: string; tokens: number }> {
  const response = await rawRequest(s.address.url, "POST", "/v1/chat/completions", { messages: [{ role: "user", content }], max_tokens: MAX_TOKENS, temperature: 0 });
  assert.equal(response.status, 200, response.text);
  const body = JSON.parse(response.text) as { choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
  return { text: body.choices[0]!.message.content, tokens: body.usage.completion_tokens };
}

const idle = (page: Page): Promise<unknown> => page.waitForFunction(() => !document.getElementById("send").disabled && document.querySelector(".msg.pending") === null, undefined, { timeout: 30_000 });

test("the chat page sends a message and shows the streamed reply, as the server answers it", { skip: BROWSER_SKIP }, async () => {
  const { page, log } = await openChat();
  try {
    await recordReplies(page);
    await page.fill("#input", "Tell me about llamas.");
    await page.click("#send");
    await idle(page);
    const expected = await serverAnswer("Tell me about llamas.");
    const texts = await page.$$eval("#log .msg .text", (nodes) => nodes.map((n) => n.textContent));
    const roles = await page.$$eval("#log .msg", (nodes) => nodes.map((n) => n.className));
    assert.deepEqual(roles, ["msg user", "msg assistant"]);
    assert.deepEqual(texts, ["Tell me about llamas.", expected.text]);
    const seen = await page.evaluate(() => window.seen);
    assert.ok(seen.length >= 2, `the reply grew in steps: ${JSON.stringify(seen)}`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.startsWith(seen[i - 1]!), "each step extends the last");
    assert.equal(seen[seen.length - 1], expected.text);
    const stats = await page.textContent("#stats");
    assert.match(stats ?? "", new RegExp(`^${expected.tokens} tokens · [\\d.]+ tokens/s · first token after \\d+ ms`));
    assert.equal(await page.isHidden("#error"), true);
    await page.screenshot({ path: join(artifactsDir(), "serve-chat.png"), fullPage: true });

    // Regenerate replaces the reply with a new one: greedy, so the same text.
    await page.click("#regenerate");
    await idle(page);
    assert.deepEqual(await page.$$eval("#log .msg .text", (nodes) => nodes.map((n) => n.textContent)), ["Tell me about llamas.", expected.text]);
    assert.deepEqual(log.filter((line) => line.startsWith("pageerror") || line.startsWith("error")), []);
  } finally {
    await page.close();
  }
});

test("a conversation longer than the context shows the server's error in the page", { skip: BROWSER_SKIP }, async () => {
  const { page } = await openChat();
  try {
    // The tiny model's context is 8192 tokens; " llama" is one token.
    await page.fill("#input", " llama".repeat(9000));
    await page.click("#send");
    await page.waitForSelector("#error:not([hidden])", { timeout: 30_000 });
    assert.match((await page.textContent("#error")) ?? "", /too long for the model's context/);
    assert.equal(await page.$$eval("#log .msg.assistant", (nodes) => nodes.length), 0, "no empty reply is left behind");
    assert.equal(await page.isEnabled("#send"), true);
  } finally {
    await page.close();
  }
});

test("Stop ends the reply where it is, keeps the partial text and frees the server's slot", { skip: BROWSER_SKIP }, async () => {
  const { page } = await openChat();
  try {
    await page.fill("#max-tokens", "5000");
    await page.fill("#input", "Count to a thousand.");
    await page.click("#send");
    await page.waitForFunction(() => (document.querySelector("#log .msg.assistant .text")?.textContent ?? "") !== "", undefined, { timeout: 30_000 });
    await page.click("#stop");
    await idle(page);
    const replies = await page.$$eval("#log .msg.assistant .text", (nodes) => nodes.map((n) => n.textContent ?? ""));
    assert.equal(replies.length, 1);
    assert.ok(replies[0]!.length > 0, "the partial reply stays");
    assert.match((await page.textContent("#stats")) ?? "", /stopped$/);
    assert.equal(await page.isHidden("#error"), true, "a stop is not an error");
    // The request was cancelled, not left running: the engine's slot is freed.
    const deadline = Date.now() + 5000;
    while (s.server.admittedSequences !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(s.server.admittedSequences, 0);
  } finally {
    await page.close();
  }
});
