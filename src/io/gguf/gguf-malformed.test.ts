// One malformed-input test per limit of the GGUF reader: each builds a small hostile or broken
// file and asserts the typed error (FormatError with the byte offset, or UnsupportedError), never a
// crash, hang or huge allocation. Plus the writer -> reader round trip of every value type.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError, UnsupportedError } from "../../errors.js";
import { MAX_ARRAY_DEPTH, MAX_TENSORS, MAX_TENSOR_NAME_BYTES } from "./gguf-constants.js";
import type { GgufValue } from "./gguf-header.js";
import { openGguf } from "./gguf-reader.js";
import { writeGguf } from "./gguf-writer.js";

const dir = mkdtempSync(join(tmpdir(), "gguf-malformed-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

/** Little-endian bytes built field by field. */
class Bytes {
  private parts: number[] = [];
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: bigint | number): this {
    const b = BigInt(v);
    for (let i = 0n; i < 8n; i++) this.parts.push(Number((b >> (8n * i)) & 0xffn));
    return this;
  }
  str(s: string): this {
    const e = new TextEncoder().encode(s);
    this.u64(e.length);
    this.parts.push(...e);
    return this;
  }
  raw(bytes: Iterable<number>): this {
    this.parts.push(...bytes);
    return this;
  }
  get(): Uint8Array {
    return new Uint8Array(this.parts);
  }
}

const MAGIC = 0x46554747;
const head = (tensors: number | bigint, kvs: number | bigint, version = 3): Bytes => new Bytes().u32(MAGIC).u32(version).u64(tensors).u64(kvs);

function file(bytes: Uint8Array): string {
  const path = join(dir, `f${counter++}.gguf`);
  writeFileSync(path, bytes);
  return path;
}

async function rejects(bytes: Uint8Array, type: typeof FormatError | typeof UnsupportedError, pattern: RegExp, byteOffset?: number): Promise<void> {
  const path = file(bytes);
  await assert.rejects(openGguf(path), (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.match((error as Error).message, pattern);
    assert.ok((error as Error).message.includes(path), "names the file");
    if (byteOffset !== undefined) assert.equal((error as FormatError).byteOffset, byteOffset);
    return true;
  });
}

/** A valid file: one f32 [2, 32] tensor and a few keys. */
async function validFile(metadata: [string, GgufValue][] = []): Promise<string> {
  const path = join(dir, `v${counter++}.gguf`);
  const data = new Float32Array(64).map((_, i) => i);
  await writeGguf(path, new Map([["general.architecture", { type: "string", value: "llama" }], ...metadata]), [
    { name: "w", ggmlType: 0, shape: [2, 32], bytes: () => new Uint8Array(data.buffer) },
  ]);
  return path;
}

test("GGUF limits: truncated header (every prefix of a valid file's header fails with FormatError)", async () => {
  const bytes = readFileSync(await validFile());
  for (const n of [0, 3, 4, 7, 8, 15, 23, 30, 40, 60]) await rejects(bytes.subarray(0, n), FormatError, /truncated|not a GGUF/);
});

test("GGUF limits: wrong magic, v1, big-endian and unknown versions", async () => {
  await rejects(new Bytes().u32(0x12345678).u32(3).u64(0).u64(0).get(), FormatError, /not a GGUF file/, 0);
  await rejects(head(0, 0, 1).get(), UnsupportedError, /version 1/);
  await rejects(head(0, 0, 0x03000000).get(), UnsupportedError, /big-endian/);
});

test("GGUF limits: huge tensor and key/value counts fail before allocating", async () => {
  await rejects(head(MAX_TENSORS + 1, 0).get(), FormatError, /tensor count is 65537, over the limit/, 8);
  await rejects(head(0, 2n ** 63n).get(), FormatError, /key\/value count .* over the limit/, 16);
});

test("GGUF limits: huge string and array lengths fail before allocating", async () => {
  await rejects(head(0, 1).u64(2n ** 40n).get(), FormatError, /key 0 is 1099511627776 bytes long, over the limit MAX_KEY_BYTES/, 24);
  await rejects(head(0, 1).str("k").u32(8).u64(2n ** 30n).get(), FormatError, /over the limit MAX_STRING_BYTES/);
  // An array claiming more elements than the file has bytes for.
  await rejects(head(0, 1).str("k").u32(9).u32(6).u64(1_000_000).get(), FormatError, /array "k" has 1000000 elements of at least 4 bytes, more than the .* left/);
  await rejects(head(0, 1).str("k").u32(9).u32(6).u64(2n ** 40n).get(), FormatError, /length of array "k" is .* over the limit/);
});

test("GGUF limits: arrays nested past MAX_ARRAY_DEPTH", async () => {
  const b = head(0, 1).str("deep").u32(9);
  for (let i = 0; i <= MAX_ARRAY_DEPTH; i++) b.u32(9).u64(1);
  await rejects(b.u32(0).u64(1).raw([0]).get(), FormatError, /nests arrays deeper than MAX_ARRAY_DEPTH/);
});

test("GGUF limits: bad value types, bools and duplicate keys", async () => {
  await rejects(head(0, 1).str("k").u32(13).get(), FormatError, /type of "k" is 13, not a GGUF value type/, 33);
  await rejects(head(0, 1).str("k").u32(7).raw([2]).get(), FormatError, /a bool is 2/);
  await rejects(head(0, 2).str("k").u32(0).raw([1]).str("k").u32(0).raw([1]).get(), FormatError, /duplicate metadata key "k"/);
});

test("GGUF limits: bad alignment (zero, not a power of two, wrong type)", async () => {
  // The writer refuses such alignments, so write 32 and patch the value (or its type) in the bytes.
  const bytes = readFileSync(await validFile([["general.alignment", { type: "u32", value: 32 }]]));
  const typeAt = Buffer.from(bytes).indexOf("general.alignment") + "general.alignment".length;
  for (const [type, value] of [[4, 0], [4, 48], [5, 32]] as const) {
    const patched = new Uint8Array(bytes);
    new DataView(patched.buffer).setUint32(typeAt, type, true);
    new DataView(patched.buffer).setUint32(typeAt + 4, value, true);
    await rejects(patched, FormatError, /general.alignment must be a uint32 power of two/);
  }
});

test("GGUF limits: tensor infos (name length, dimensions, unknown type, misaligned offset, partial blocks)", async () => {
  const tensor = (name: string, dims: (number | bigint)[], type: number, offset: number | bigint): Bytes => {
    const b = head(1, 0).str(name).u32(dims.length);
    for (const d of dims) b.u64(d);
    return b.u32(type).u64(offset);
  };
  const pad = (b: Bytes): Uint8Array => {
    const bytes = b.get();
    const out = new Uint8Array(Math.ceil(bytes.length / 32) * 32 + 4096);
    out.set(bytes);
    return out;
  };
  await rejects(pad(tensor("x".repeat(MAX_TENSOR_NAME_BYTES + 1), [1], 0, 0)), FormatError, /over the limit MAX_TENSOR_NAME_BYTES/);
  await rejects(pad(tensor("t", [1, 1, 1, 1, 1], 0, 0)), FormatError, /5 dimensions, over MAX_TENSOR_DIMS/);
  await rejects(pad(tensor("t", [32], 99, 0)), UnsupportedError, /tensor "t" has type id 99/);
  await rejects(pad(tensor("t", [32], 0, 4)), FormatError, /not a multiple of the alignment 32/);
  await rejects(pad(tensor("t", [33], 8, 0)), FormatError, /Q8_0 with rows of 33 weights/);
  await rejects(pad(tensor("t", [2n ** 40n, 2n ** 40n], 0, 0)), FormatError, /product overflows/);
});

test("GGUF limits: tensor past the end of the file, and overlapping tensors", async () => {
  const bytes = readFileSync(await validFile());
  await rejects(bytes.subarray(0, bytes.length - 1), FormatError, /tensor "w" .* extends past the end of the file/);
  const b = head(2, 0).str("a").u32(1).u64(32).u32(0).u64(0).str("b").u32(1).u64(32).u32(0).u64(64);
  const header = b.get();
  const out = new Uint8Array(Math.ceil(header.length / 32) * 32 + 256);
  out.set(header);
  await rejects(out, FormatError, /tensors "a" and "b" overlap/);
});

test("GGUF round trip: every value type, nested arrays, tensors and their bytes", async () => {
  const metadata = new Map<string, GgufValue>([
    ["u8", { type: "u8", value: 255 }], ["i8", { type: "i8", value: -128 }], ["u16", { type: "u16", value: 65535 }],
    ["i16", { type: "i16", value: -32768 }], ["u32", { type: "u32", value: 4294967295 }], ["i32", { type: "i32", value: -2147483648 }],
    ["f32", { type: "f32", value: Math.fround(0.1) }], ["bool", { type: "bool", value: true }], ["string", { type: "string", value: "héllo ✓" }],
    ["u64", { type: "u64", value: 2n ** 64n - 1n }], ["i64", { type: "i64", value: -(2n ** 63n) }], ["f64", { type: "f64", value: 0.1 }],
    ["general.alignment", { type: "u32", value: 64 }],
    ["nested", { type: "array", value: { itemType: "array", items: [{ itemType: "string", items: ["a", "b"] }, { itemType: "i32", items: [1, -2] }] } }],
  ]);
  const path = join(dir, "roundtrip.gguf");
  const a = new Uint8Array(34 * 2).map((_, i) => i);
  const b = new Uint16Array([1, 2, 3]);
  await writeGguf(path, metadata, [
    { name: "a", ggmlType: 8, shape: [2, 32], bytes: () => a },
    { name: "b", ggmlType: 30, shape: [3], bytes: () => new Uint8Array(b.buffer) },
  ]);
  const f = await openGguf(path);
  try {
    assert.deepEqual(f.metadata, metadata);
    assert.equal(f.alignment, 64);
    assert.equal(f.dataByteOffset % 64, 0);
    assert.deepEqual(f.tensor("a").ne, [32, 2]);
    assert.deepEqual(f.tensor("a").shape, [2, 32]);
    assert.equal(f.tensor("b").byteOffset - f.tensor("a").byteOffset, 128, "each tensor padded to the alignment");
    assert.deepEqual(await f.readBytes("a"), a);
    assert.deepEqual(await f.readBytes("b"), new Uint8Array(b.buffer));
    await assert.rejects(f.readBytes("c"), FormatError);
  } finally {
    await f.close();
  }
});
