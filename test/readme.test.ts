// The README's quick start works as written: its JavaScript block runs against the built package
// (the import of "llama3-ts" pointed at dist/src/index.js) and its `generate` command runs, both on
// the built-in model, as a user would right after `npm install`.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tempDir } from "./support/checkpoints.js";
import { PROJECT_ROOT } from "./support/paths.js";

const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n## ", readme.indexOf("## Quick start") + 1));

function block(language: string): string {
  const match = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(quickStart);
  assert.ok(match !== null, `the quick start has a ${language} block`);
  return match[1]!;
}

test("the quick start's JavaScript runs as written and prints what it promises", () => {
  const index = pathToFileURL(join(PROJECT_ROOT, "dist", "src", "index.js")).href;
  const code = block("js").replace(/from "llama3-ts"/g, `from ${JSON.stringify(index)}`);
  const dir = tempDir("readme");
  try {
    const file = join(dir, "quick-start.mjs");
    writeFileSync(file, code);
    const env = { ...process.env };
    delete env["LLAMA3_MODEL"];
    const run = spawnSync(process.execPath, [file], { encoding: "utf8", env, timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.split("\n");
    assert.ok(lines[0]!.startsWith("The capital of France is"), "generated_text starts with the prompt");
    assert.match(run.stdout, /\n\[length\]\n$/, "the stream ends with its finish reason");
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("the quick start's generate command runs", () => {
  const command = block("sh").split("\n").find((l) => l.includes(" generate "))!;
  const args = command.replace(/^node dist\/src\/cli\/bin\.js /, "").match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ""));
  const env = { ...process.env };
  delete env["LLAMA3_MODEL"];
  const run = spawnSync(process.execPath, [join(PROJECT_ROOT, "dist", "src", "cli", "bin.js"), ...args], { encoding: "utf8", env, timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.ok(run.stdout.trim().length > 0);
});
