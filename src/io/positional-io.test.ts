import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../errors.js";
import { readRange, writeRange } from "./positional-io.js";

const dir = await mkdtemp(join(tmpdir(), "llama3-ts-positional-"));
after(() => rm(dir, { recursive: true, force: true }));

const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);

test("reads in chunks fill exactly the asked range of the buffer, from the asked position", async () => {
  const path = join(dir, "read.bin");
  const content = pattern(1000);
  await writeFile(path, content);
  const handle = await open(path, "r");
  try {
    for (const chunk of [1, 3, 64, 1000, 4096]) {
      const buffer = new ArrayBuffer(120);
      new Uint8Array(buffer).fill(0xee);
      await readRange(handle, path, "a range", buffer, 10, 100, 501, chunk);
      const view = new Uint8Array(buffer);
      assert.deepEqual(view.subarray(10, 110), content.subarray(501, 601), `chunk ${chunk}`);
      // Bytes outside the range are untouched.
      assert.ok(view.subarray(0, 10).every((b) => b === 0xee) && view.subarray(110).every((b) => b === 0xee));
    }
  } finally {
    await handle.close();
  }
});

test("a read past the end of the file is a FormatError at the first missing byte", async () => {
  const path = join(dir, "short.bin");
  await writeFile(path, pattern(50));
  const handle = await open(path, "r");
  try {
    await assert.rejects(readRange(handle, path, 'tensor "w"', new ArrayBuffer(40), 0, 40, 30, 7), (e: unknown) =>
      e instanceof FormatError && e.path === path && e.byteOffset === 50 && /unexpected end of file reading tensor "w": 20 of 40 bytes missing/.test(e.message));
  } finally {
    await handle.close();
  }
});

test("writes in chunks put the range at the asked position", async () => {
  const path = join(dir, "write.bin");
  const source = pattern(300);
  const handle = await open(path, "w");
  try {
    await writeRange(handle, path, source.buffer, 100, 150, 8, 5);
  } finally {
    await handle.close();
  }
  const written = await readFile(path);
  assert.equal(written.length, 158);
  assert.ok(written.subarray(0, 8).every((b) => b === 0));
  assert.deepEqual(new Uint8Array(written.subarray(8)), source.subarray(100, 250));
});
