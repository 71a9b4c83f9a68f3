// The CLI entry point's own rules: flags after "--" are operands, unreadable files are failures
// (exit 1) rather than usage errors (exit 2), and a UTF-8 byte-order mark does not break --jsonl.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Tokenizer } from "../src/tokenizer/index.js";
import { runCliCaptured } from "./support/cli.js";
import { fixturePath } from "./support/paths.js";

test('after "--", --verbose and -h are text to tokenize, not flags', async () => {
  const tokenizer = await Tokenizer.bundled();
  for (const text of ["--verbose", "-h", "--help"]) {
    const result = await runCliCaptured(["tokenize", "--json", "--", text]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), tokenizer.encode(text, { addSpecialTokens: false }));
  }
  const help = await runCliCaptured(["tokenize", "-h"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: llama3 tokenize/);
});

test("an unreadable --file is a failure (exit 1) naming the file; --jsonl skips a leading BOM", async () => {
  const missing = join(fixturePath("tokenizer"), "no-such-file.txt");
  const result = await runCliCaptured(["tokenize", "--file", missing]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /no-such-file\.txt: cannot read --file/);
  const jsonl = await runCliCaptured(["tokenize", "--jsonl"], new TextEncoder().encode('\uFEFF"Hello"\n"world"\n'));
  assert.equal(jsonl.code, 0, jsonl.stderr);
  const tokenizer = await Tokenizer.bundled();
  assert.equal(jsonl.stdout, `${JSON.stringify(tokenizer.encode("Hello", { addSpecialTokens: false }))}\n${JSON.stringify(tokenizer.encode("world", { addSpecialTokens: false }))}\n`);
});
