import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError, UnsupportedError } from "../../errors.js";
import { crc32 } from "./crc32.js";
import { MAX_ZIP_ENTRIES, ZIP_DEFLATED, ZIP_STORED, ZipArchive } from "./zip.js";
import { type ZipWriterOptions, writeZip } from "./zip-writer.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

/** Write `bytes` to a temporary file, run `fn` on its path, remove it. */
async function withFile<T>(bytes: Uint8Array, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "llama3-ts-zip-"));
  try {
    const path = join(dir, "test.zip");
    await writeFile(path, bytes);
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function openBytes(bytes: Uint8Array): Promise<ZipArchive> {
  return withFile(bytes, (path) => ZipArchive.open(path));
}

/** Expect opening `bytes` to fail with `type` and a message matching every pattern. */
async function rejectsOpen(bytes: Uint8Array, type: typeof FormatError | typeof UnsupportedError, ...patterns: RegExp[]): Promise<Error> {
  let caught: unknown;
  try {
    const zip = await openBytes(bytes);
    await zip.close();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof type, `expected ${type.name}, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

const SAMPLE = [
  { name: "archive/data.pkl", data: text("pickle bytes") },
  { name: "archive/data/0", data: pattern(1000) },
  { name: "archive/version", data: text("3\n") },
];

async function roundTrip(options: ZipWriterOptions): Promise<void> {
  const bytes = writeZip(SAMPLE, options);
  await withFile(bytes, async (path) => {
    const zip = await ZipArchive.open(path);
    try {
      assert.deepEqual([...zip.entries.keys()], SAMPLE.map((e) => e.name));
      for (const { name, data } of SAMPLE) {
        const entry = zip.entry(name)!;
        assert.equal(entry.method, ZIP_STORED);
        assert.equal(entry.uncompressedSize, data.length);
        assert.deepEqual(bytes.subarray(entry.dataOffset, entry.dataOffset + data.length), data);
        assert.deepEqual(await zip.readSmall(entry, 4096, "test"), data);
        if ((options.alignment ?? 64) === 64) assert.equal(entry.dataOffset % 64, 0, `${name} data is 64-byte aligned`);
      }
    } finally {
      await zip.close();
    }
  });
}

test("crc32 matches the standard check value", () => {
  assert.equal(crc32(text("123456789")), 0xcbf43926);
  assert.equal(crc32(text("56789"), crc32(text("1234"))), 0xcbf43926);
});

test("zip round trip: torch layout (64-byte aligned data, ZIP64 end records)", () => roundTrip({}));
test("zip round trip: plain end record, no alignment", () => roundTrip({ zip64EndRecords: false, alignment: 1 }));
test("zip round trip: sizes and offsets only in ZIP64 extra fields", () => roundTrip({ zip64Extras: true }));

test("a deflated small record is inflated and CRC checked", async () => {
  const data = text("x".repeat(5000));
  const zip = await openBytes(writeZip([{ name: "a/data.pkl", data, deflate: true }]));
  const entry = zip.entry("a/data.pkl")!;
  assert.equal(entry.method, ZIP_DEFLATED);
  assert.ok(entry.compressedSize < data.length);
  assert.deepEqual(await zip.readSmall(entry, 1 << 20, "test"), data);
  await zip.close();
});

test("readSmall refuses an entry over the caller's limit, naming the limit", async () => {
  const zip = await openBytes(writeZip(SAMPLE));
  await assert.rejects(zip.readSmall(zip.entry("archive/data/0")!, 999, "data.pkl (maxPickleBytes)"), (e: Error) =>
    e instanceof FormatError && /data\.pkl \(maxPickleBytes\).*1000 bytes, over the limit of 999/.test(e.message));
  await zip.close();
  await assert.rejects(zip.readSmall(zip.entry("archive/version")!, 10, "v"), /read after close/);
});

test("malformed zip: truncated file", async () => {
  const bytes = writeZip(SAMPLE);
  await rejectsOpen(bytes.subarray(0, bytes.length - 10), FormatError, /no zip end of central directory record/, /truncated/);
});

test("malformed zip: no end of central directory record", async () => {
  await rejectsOpen(new Uint8Array(4096).fill(0x41), FormatError, /no zip end of central directory record in the last 4096 bytes/);
});

test("malformed zip: central directory offset past the file", async () => {
  const bytes = writeZip(SAMPLE, { zip64EndRecords: false });
  const view = new DataView(bytes.buffer);
  view.setUint32(bytes.length - 22 + 16, bytes.length + 100, true);
  const error = await rejectsOpen(bytes, FormatError, new RegExp(`central directory \\(\\d+ bytes at byte ${bytes.length + 100}\\) runs past`));
  assert.equal((error as FormatError).byteOffset, bytes.length - 22);
});

test("malformed zip: ZIP64 record's central directory offset past the file", async () => {
  const bytes = writeZip(SAMPLE);
  const view = new DataView(bytes.buffer);
  const recordOffset = Number(view.getBigUint64(bytes.length - 22 - 20 + 8, true));
  view.setBigUint64(recordOffset + 48, 1n << 40n, true);
  await rejectsOpen(bytes, FormatError, /central directory .* at byte 1099511627776\) runs past/);
});

test("malformed zip: entry count over MAX_ZIP_ENTRIES", async () => {
  const bytes = writeZip(SAMPLE);
  const view = new DataView(bytes.buffer);
  const recordOffset = Number(view.getBigUint64(bytes.length - 22 - 20 + 8, true));
  view.setBigUint64(recordOffset + 24, BigInt(MAX_ZIP_ENTRIES + 1), true);
  view.setBigUint64(recordOffset + 32, BigInt(MAX_ZIP_ENTRIES + 1), true);
  await rejectsOpen(bytes, FormatError, /over the limit of 1000000 \(MAX_ZIP_ENTRIES\)/);
});

test("malformed zip: local header names another file", async () => {
  const bytes = writeZip(SAMPLE);
  // The first local header is at 0 and its name at 30: "archive/data.pkl" -> "archive/data.pkX".
  bytes[30 + "archive/data.pk".length] = "X".charCodeAt(0);
  await rejectsOpen(bytes, FormatError, /local header of zip entry "archive\/data\.pkl" names "archive\/data\.pkX" instead/);
});

test("malformed zip: local header signature missing", async () => {
  const bytes = writeZip(SAMPLE);
  bytes[0] = 0;
  const error = await rejectsOpen(bytes, FormatError, /local header of zip entry "archive\/data\.pkl": no local file header signature at byte 0/);
  assert.equal((error as FormatError).byteOffset, 0);
});

test("malformed zip: local header sizes differ from the central directory", async () => {
  const bytes = writeZip(SAMPLE, { alignment: 1 });
  new DataView(bytes.buffer).setUint32(18, 5, true); // compressed size of the first local header
  await rejectsOpen(bytes, FormatError, /local header of zip entry "archive\/data\.pkl": CRC or sizes \(5\/12\) differ/);
});

test("malformed zip: empty entry name", async () => {
  const bytes = writeZip(SAMPLE, { zip64EndRecords: false });
  const view = new DataView(bytes.buffer);
  const directory = view.getUint32(bytes.length - 22 + 16, true);
  view.setUint16(directory + 28, 0, true);
  await rejectsOpen(bytes, FormatError, /central directory entry 0: name of 0 bytes .*MAX_ENTRY_NAME_BYTES/);
});

test("unsupported zip: encrypted entry", async () => {
  const bytes = writeZip(SAMPLE, { zip64EndRecords: false });
  const view = new DataView(bytes.buffer);
  const directory = view.getUint32(bytes.length - 22 + 16, true);
  view.setUint16(directory + 8, view.getUint16(directory + 8, true) | 1, true);
  await rejectsOpen(bytes, UnsupportedError, /zip entry "archive\/data\.pkl" is encrypted/);
});

test("corrupt record: CRC mismatch is reported on read", async () => {
  const bytes = writeZip(SAMPLE);
  const zip = await openBytes(bytes);
  const entry = zip.entry("archive/data.pkl")!;
  await zip.close();
  bytes[entry.dataOffset] = bytes[entry.dataOffset]! ^ 0xff;
  const corrupt = await openBytes(bytes);
  await assert.rejects(corrupt.readSmall(corrupt.entry("archive/data.pkl")!, 100, "data.pkl"), (e: Error) =>
    e instanceof FormatError && /CRC-32 of the contents is 0x[0-9a-f]{8}, the directory says/.test(e.message) && e.byteOffset === entry.dataOffset);
  await corrupt.close();
});

test("corrupt record: deflate data that inflates past its declared size", async () => {
  const bytes = writeZip([{ name: "a/data.pkl", data: text("y".repeat(10_000)), deflate: true }], { zip64EndRecords: false });
  const view = new DataView(bytes.buffer);
  const directory = view.getUint32(bytes.length - 22 + 16, true);
  view.setUint32(directory + 24, 100, true); // central uncompressed size
  view.setUint32(22, 100, true); // local uncompressed size agrees (no data descriptor)
  const zip = await openBytes(bytes);
  await assert.rejects(zip.readSmall(zip.entry("a/data.pkl")!, 1 << 20, "data.pkl"), /inflates past its declared 100 bytes/);
  await zip.close();
});
