// Atomic output folders: the final name appears only when the write succeeded; a failed write
// leaves nothing (no temporary folder either); existing folders are refused or replaced as asked.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/support/checkpoints.js";
import { ArgumentError } from "../errors.js";
import { TEMP_FOLDER_MARKER, writeFolderAtomically } from "./output-folder.js";

test("the folder appears under its name only once complete", async () => {
  const parent = tempDir("atomic");
  const out = join(parent, "out");
  const result = await writeFolderAtomically(out, async (dir) => {
    assert.ok(!existsSync(out), "not visible while being written");
    assert.ok(dir.startsWith(join(parent, TEMP_FOLDER_MARKER)), "a marked sibling of the output");
    writeFileSync(join(dir, "a.txt"), "a");
    return 42;
  });
  assert.equal(result, 42);
  assert.deepEqual(readdirSync(parent), ["out"]);
  assert.equal(readFileSync(join(out, "a.txt"), "utf8"), "a");
});

test("a failed write leaves no output and no temporary folder", async () => {
  const parent = tempDir("atomic-fail");
  await assert.rejects(writeFolderAtomically(join(parent, "out"), async (dir) => {
    writeFileSync(join(dir, "half.txt"), "half");
    throw new Error("disk full");
  }), /disk full/);
  assert.deepEqual(readdirSync(parent), []);
});

test("an empty existing folder is filled; a non-empty one is refused unless overwrite, and a file always", async () => {
  const parent = tempDir("atomic-existing");
  const out = join(parent, "out");
  mkdirSync(out);
  await writeFolderAtomically(out, async (dir) => writeFileSync(join(dir, "config.json"), "1"));
  assert.deepEqual(readdirSync(out), ["config.json"]);
  await assert.rejects(writeFolderAtomically(out, async () => assert.fail("must not run")), (e: unknown) => e instanceof ArgumentError && /not empty/.test(e.message));
  await writeFolderAtomically(out, async (dir) => writeFileSync(join(dir, "newer.txt"), "2"), { overwrite: true });
  assert.deepEqual(readdirSync(out), ["newer.txt"]);
  assert.deepEqual(readdirSync(parent), ["out"], "the replaced folder is gone");
  writeFileSync(join(parent, "file"), "x");
  await assert.rejects(writeFolderAtomically(join(parent, "file"), async () => undefined, { overwrite: true }), (e: unknown) => e instanceof ArgumentError && /not a folder/.test(e.message));
  // Only a checkpoint folder is ever replaced: "newer.txt" alone, or a folder with subfolders, is not one.
  await assert.rejects(writeFolderAtomically(out, async () => assert.fail("must not run"), { overwrite: true }), (e: unknown) => e instanceof ArgumentError && /does not look like a checkpoint/.test(e.message));
  mkdirSync(join(out, "another-model"));
  writeFileSync(join(out, "config.json"), "{}");
  await assert.rejects(writeFolderAtomically(out, async () => assert.fail("must not run"), { overwrite: true }), (e: unknown) => e instanceof ArgumentError && /does not look like a checkpoint/.test(e.message));
  assert.deepEqual(readdirSync(out).sort(), ["another-model", "config.json", "newer.txt"]);
});

test("a protected folder (the input) cannot be the output or inside it", async () => {
  const parent = tempDir("atomic-protect");
  const input = join(parent, "in", "model");
  mkdirSync(input, { recursive: true });
  for (const out of [input, join(parent, "in"), parent]) {
    await assert.rejects(writeFolderAtomically(out, async () => undefined, { overwrite: true, protect: [input] }), (e: unknown) => e instanceof ArgumentError && /contains the input/.test(e.message));
  }
  await writeFolderAtomically(join(parent, "in", "model-hf"), async () => undefined, { protect: [input] });
});

test("the protected folder is recognised through a symbolic link (replacing the output must not delete the input)", async () => {
  const parent = tempDir("atomic-symlink");
  const input = join(parent, "real", "model");
  mkdirSync(input, { recursive: true });
  writeFileSync(join(input, "params.json"), "{}");
  symlinkSync(join(parent, "real"), join(parent, "link"));
  for (const out of [join(parent, "link", "model"), join(parent, "link")]) {
    await assert.rejects(writeFolderAtomically(out, async () => undefined, { overwrite: true, protect: [input] }), (e: unknown) => e instanceof ArgumentError && /contains the input/.test(e.message));
  }
  assert.deepEqual(readdirSync(input), ["params.json"]);
});

test("a failed write also removes the parent folders it created for the output", async () => {
  const parent = tempDir("atomic-parents");
  await assert.rejects(writeFolderAtomically(join(parent, "a", "b", "out"), async () => {
    throw new Error("disk full");
  }), /disk full/);
  assert.deepEqual(readdirSync(parent), []);
});
