#!/usr/bin/env node
// Runs every compiled *.test.js under dist/ with Node's test runner. (Given a folder, Node 20's
// runner would also execute every file under a `test/` folder, support modules included.)
// Chromium for the browser tests is installed first when missing (ensure-chromium.mjs).
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern=golden).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { ensureChromium } from "./ensure-chromium.mjs";

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith(".test.js") ? [path] : [];
  });
}

ensureChromium();
const files = findTests("dist").sort();
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...process.argv.slice(2), ...files], { stdio: "inherit" });
process.exitCode = result.status ?? 1;
