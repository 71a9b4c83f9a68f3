import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../../errors.js";
import { verifyChecklist } from "./checklist.js";

const md5 = (s: string): string => createHash("md5").update(s).digest("hex");

async function withFolder<T>(files: Record<string, string>, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "llama3-ts-chk-"));
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("checklist: matching, mismatching and missing files are each reported", async () => {
  const checklist = `${md5("good")}  a.pth\n${md5("expected")}  b.pth\n${md5("x").toUpperCase()} *c.json\r\n${md5("gone")}  missing.pth\n`;
  await withFolder({ "checklist.chk": checklist, "a.pth": "good", "b.pth": "tampered", "c.json": "x" }, async (dir) => {
    const result = await verifyChecklist(dir);
    assert.equal(result.ok, false);
    assert.deepEqual(result.items.map((i) => [i.file, i.ok]), [["a.pth", true], ["b.pth", false], ["c.json", true], ["missing.pth", false]]);
    assert.equal(result.items[1]!.actualMd5, md5("tampered"));
    assert.equal(result.items[3]!.actualMd5, null);
  });
});

test("checklist: names that leave the folder and malformed lines are refused", async () => {
  await withFolder({ "checklist.chk": `${md5("a")}  ../etc/passwd\n` }, async (dir) => {
    await assert.rejects(verifyChecklist(dir), (e: Error) => e instanceof FormatError && /line 1 names "\.\.\/etc\/passwd", which is not a plain file name/.test(e.message));
  });
  await withFolder({ "checklist.chk": "not a checksum line\n" }, async (dir) => {
    await assert.rejects(verifyChecklist(dir), (e: Error) => e instanceof FormatError && /line 1 is not "<md5>  <file>"/.test(e.message));
  });
  await withFolder({}, async (dir) => {
    await assert.rejects(verifyChecklist(dir), (e: Error) => e instanceof FormatError && /cannot read the checklist/.test(e.message));
  });
});
