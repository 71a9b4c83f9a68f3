import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "./errors.js";
import { MAX_JSON_FILE_BYTES, readJsonFile } from "./json.js";

test("readJsonFile: one typed error per malformed input, naming the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "llama3-ts-json-"));
  try {
    const file = (name: string, content: Uint8Array | string): string => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };
    assert.deepEqual(await readJsonFile(file("ok.json", '{"a": [1, 2]}')), { a: [1, 2] });
    const cases: [string, string, RegExp][] = [
      ["invalid JSON", file("bad.json", '{"a": 1,}'), /invalid JSON/],
      ["not UTF-8", file("latin1.json", new Uint8Array([0x7b, 0x22, 0xe9, 0x22, 0x7d])), /cannot read/],
      ["a folder", dir, /not a regular file/],
      ["missing file", join(dir, "absent.json"), /cannot read/],
    ];
    const huge = file("huge.json", "");
    truncateSync(huge, MAX_JSON_FILE_BYTES + 1); // sparse: no 64 MiB written
    cases.push(["over MAX_JSON_FILE_BYTES", huge, /MAX_JSON_FILE_BYTES/]);
    for (const [what, path, message] of cases) {
      await assert.rejects(readJsonFile(path), (e: unknown) => e instanceof FormatError && e.path === path && message.test(e.message), what);
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});
