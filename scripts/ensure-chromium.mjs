#!/usr/bin/env node
// Before the tests: the browser tests drive Debian's Chromium at /usr/bin/chromium (never a browser
// download). When it is missing and this process may install Debian packages (root, apt-get), install
// it, so that the README's `npm install && npm test` runs every test on a fresh machine. Otherwise,
// or with LLAMA3_NO_APT=1, say so: the browser tests then skip with the same reason.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";

export const CHROMIUM = "/usr/bin/chromium";

export function ensureChromium() {
  if (existsSync(CHROMIUM)) return true;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const apt = spawnSync("sh", ["-c", "command -v apt-get"], { stdio: "ignore" }).status === 0;
  if (process.env.LLAMA3_NO_APT === "1" || !root || !apt) {
    console.error(`ensure-chromium: ${CHROMIUM} is missing and ${process.env.LLAMA3_NO_APT === "1" ? "LLAMA3_NO_APT=1 is set" : "cannot be installed here (needs root and apt-get)"}; the browser tests will skip. Install it with: apt-get install -y chromium`);
    return false;
  }
  console.error(`ensure-chromium: installing Debian's chromium for the browser tests (apt-get; LLAMA3_NO_APT=1 skips this)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", "chromium"]]) {
    const r = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
    if (r.status !== 0) {
      console.error(`ensure-chromium: apt-get ${args.join(" ")} failed (exit ${r.status}); the browser tests will skip`);
      return false;
    }
  }
  return existsSync(CHROMIUM);
}

if (import.meta.url === `file://${process.argv[1]}`) ensureChromium();
