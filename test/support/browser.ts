// Helpers of the browser tests: Debian's Chromium (/usr/bin/chromium, installed by .ci/run; never a
// browser download) driven by playwright-core, headless and kept off the network, launched once per
// test file; the folder screenshots go to (test-artifacts/, gitignored); and the skip reason the
// tests give when the binary is absent (the only case in which they skip).

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, type Page, chromium } from "playwright-core";
import { PROJECT_ROOT } from "./paths.js";
import { type StaticServer, startStaticServer } from "./static-server.js";

/** The Chromium binary: Debian's package (`apt-get install -y chromium`), or $LLAMA3_CHROMIUM. */
export const CHROMIUM_PATH = process.env["LLAMA3_CHROMIUM"] ?? "/usr/bin/chromium";

/**
 * Why the browser tests skip, or false when they run. They skip only when the binary is absent, and
 * say how to install it.
 */
export const BROWSER_SKIP: string | false = existsSync(CHROMIUM_PATH)
  ? false
  : `no Chromium at ${CHROMIUM_PATH}: install Debian's package (apt-get install -y chromium; .ci/run does) or set LLAMA3_CHROMIUM`;

/** Flags that keep Chromium headless, unsandboxed (tests run as root in CI) and off the network. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-default-apps",
  "--disable-extensions",
  "--disable-dev-shm-usage",
];

/** Launch the browser (once per test file). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/**
 * Chromium launched beside another setup step (a server), in parallel. When either fails, whatever
 * did start is closed before the error goes on: a browser left running keeps the test file's
 * process alive, so a missing fixture would hang the suite instead of failing it.
 */
export async function launchChromiumBeside<T extends { close(): Promise<unknown> }>(setup: Promise<T>): Promise<[Browser, T]> {
  const [browser, other] = await Promise.allSettled([launchChromium(), setup]);
  if (browser.status === "fulfilled" && other.status === "fulfilled") return [browser.value, other.value];
  if (browser.status === "fulfilled") await browser.value.close();
  if (other.status === "fulfilled") await other.value.close();
  throw browser.status === "rejected" ? browser.reason : (other as PromiseRejectedResult).reason;
}

/**
 * Build the browser entry (scripts/build-browser.mjs into dist/browser/) and serve it at /dist/
 * beside `mounts`, with an empty page at /test.html titled `title` (under /iso/ and /plain/).
 */
export async function serveBrowserBuild(mounts: Readonly<Record<string, readonly string[]>>, title: string): Promise<StaticServer> {
  const { buildBrowser } = (await import(pathToFileURL(join(PROJECT_ROOT, "scripts", "build-browser.mjs")).href)) as { buildBrowser: () => number };
  buildBrowser();
  return startStaticServer({ "/dist/": [join(PROJECT_ROOT, "dist", "browser")], ...mounts }, { "/test.html": `<!doctype html><title>${title}</title>` });
}

/** The folder for a test file's screenshots (created): test-artifacts/browser under the project root. */
export function artifactsDir(): string {
  const dir = join(PROJECT_ROOT, "test-artifacts", "browser");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Collect the page's console messages and uncaught errors (a test prints them when it fails, and
 * may assert on them).
 */
export function pageLog(page: Page): string[] {
  const lines: string[] = [];
  page.on("console", (message) => lines.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => lines.push(`pageerror: ${error.message}`));
  return lines;
}
