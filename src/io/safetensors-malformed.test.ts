// One test per malformed-input case of the safetensors reader: each builds a broken file from a
// valid one in a temp folder and asserts the error class, the path, the message and, where it
// applies, the byte offset.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError, UnsupportedError } from "../errors.js";
import { MAX_HEADER_SIZE } from "./safetensors-format.js";
import { MAX_TENSOR_ELEMENTS, openSafetensors } from "./safetensors-reader.js";

const dir = await mkdtemp(join(tmpdir(), "llama3-ts-st-malformed-"));
after(() => rm(dir, { recursive: true, force: true }));

/** A valid header: two tensors tiling 16 data bytes, and metadata. */
const VALID_HEADER = {
  __metadata__: { format: "pt" },
  a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
  b: { dtype: "BF16", shape: [2, 2], data_offsets: [8, 16] },
};

/** File bytes: u64 length (or `lengthField`), the header (JSON-encoded unless bytes), the data. */
function fileBytes(header: unknown, dataByteLength: number, lengthField?: bigint): Uint8Array {
  const json = header instanceof Uint8Array ? header : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataByteLength);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  for (let i = 0; i < dataByteLength; i++) out[8 + json.length + i] = i;
  return out;
}

/** The data section's file offset for a JSON header. */
const dataStart = (header: unknown): number => 8 + new TextEncoder().encode(JSON.stringify(header)).length;

let fileCount = 0;
async function writeCase(bytes: Uint8Array): Promise<string> {
  fileCount += 1;
  const path = join(dir, `case-${fileCount}.safetensors`);
  await writeFile(path, bytes);
  return path;
}

/** Asserts that opening `bytes` fails with a FormatError on its path matching `message` (and `byteOffset`). */
async function assertFormatError(bytes: Uint8Array, message: RegExp, byteOffset?: number): Promise<void> {
  const path = await writeCase(bytes);
  await assert.rejects(openSafetensors(path), (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    assert.equal(e.path, path);
    assert.match(e.message, message);
    assert.ok(e.message.startsWith(`${path}: `));
    if (byteOffset !== undefined) assert.equal(e.byteOffset, byteOffset);
    return true;
  });
}

test("the valid base file opens (so each case below fails for its own reason)", async () => {
  const file = await openSafetensors(await writeCase(fileBytes(VALID_HEADER, 16)));
  assert.deepEqual([...file.entries.keys()], ["a", "b"]);
  await file.close();
});

test("truncated: a file shorter than the 8-byte header length", async () => {
  await assertFormatError(new Uint8Array([8, 0, 0]), /truncated file: 3 bytes is shorter than the 8-byte header length/, 0);
});

test("truncated: a data section shorter than the offsets say", async () => {
  const bytes = fileBytes(VALID_HEADER, 16).subarray(0, dataStart(VALID_HEADER) + 12);
  await assertFormatError(bytes, /truncated file: the tensors need 16 data bytes but the data section holds 12 \(tensor "b" ends past the end of the file\)/, dataStart(VALID_HEADER) + 12);
});

test("header length past the end of the file", async () => {
  await assertFormatError(fileBytes(VALID_HEADER, 16, 1000n), /header length 1000 runs past the end of the file \(\d+ bytes\)/, 0);
});

test("header length over MAX_HEADER_SIZE is refused before anything is allocated", async () => {
  // 2^40 and 2^64 - 1 would throw a RangeError from the allocator if the header were allocated
  // first; getting the FormatError shows the limit is checked before any allocation.
  for (const length of [BigInt(MAX_HEADER_SIZE) + 1n, 2n ** 40n, 2n ** 64n - 1n]) {
    await assertFormatError(fileBytes(VALID_HEADER, 16, length), new RegExp(`header length ${length} is over the limit of 100000000 bytes \\(safetensors MAX_HEADER_SIZE\\)`), 0);
  }
});

test("header that is not valid JSON", async () => {
  await assertFormatError(fileBytes('{"a": {"dtype": "F32",', 0), /header is not valid JSON/, 8);
});

test("header bytes that are not UTF-8", async () => {
  const header = new TextEncoder().encode('{"a\u00e9":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}');
  header[3] = 0xff; // the first byte of "é" becomes a byte no UTF-8 sequence starts with
  await assertFormatError(fileBytes(header, 0), /header is not valid UTF-8/, 8);
});

test("header that is not a JSON object", async () => {
  await assertFormatError(fileBytes("[1, 2]", 0), /header is not a JSON object \(got an array\)/, 8);
});

test("entries that are not {dtype, shape, data_offsets}", async () => {
  const cases: [unknown, RegExp][] = [
    [[1, 2], /tensor "a": entry must be an object \{dtype, shape, data_offsets\} \(got an array\)/],
    [{ shape: [2], data_offsets: [0, 8] }, /tensor "a": "dtype" must be a string \(got undefined\)/],
    [{ dtype: "F32", shape: "2", data_offsets: [0, 8] }, /tensor "a": "shape" must be an array of dimensions \(got "2"\)/],
    [{ dtype: "F32", shape: [2] }, /tensor "a": "data_offsets" must be \[begin, end\] \(got undefined\)/],
    [{ dtype: "F32", shape: [2], data_offsets: [0, 4, 8] }, /tensor "a": "data_offsets" must be \[begin, end\] \(got an array\)/],
  ];
  for (const [entry, message] of cases) await assertFormatError(fileBytes({ a: entry }, 8), message, 8);
});

test("__metadata__ that is not a string -> string map", async () => {
  await assertFormatError(fileBytes({ ...VALID_HEADER, __metadata__: { seed: 5 } }, 16), /__metadata__ value of "seed" must be a string \(got 5\)/, 8);
  await assertFormatError(fileBytes({ ...VALID_HEADER, __metadata__: ["pt"] }, 16), /__metadata__ must be an object of strings \(got an array\)/, 8);
});

test("overlapping data offsets", async () => {
  const header = { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } };
  await assertFormatError(fileBytes(header, 12), /tensor "b" data_offsets \[4, 12\] overlap tensor "a", which ends at 8/, dataStart(header) + 4);
});

test("a hole between tensors", async () => {
  const header = { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [12, 20] } };
  await assertFormatError(fileBytes(header, 20), /hole of 4 bytes before tensor "b" data_offsets \[12, 20\], after tensor "a": tensors must be contiguous/, dataStart(header) + 8);
});

test("out-of-range data offsets: negative, fractional, past 2^53, or ending before they begin", async () => {
  const cases: [unknown[], RegExp][] = [
    [[-8, 0], /tensor "a": data_offsets \[-8, 0\] must be two non-negative integers/],
    [[0, 7.5], /tensor "a": data_offsets \[0, 7.5\] must be two non-negative integers/],
    [[0, 2 ** 60], /tensor "a": data_offsets \[0, \d+\] must be two non-negative integers/],
    [[8, 0], /tensor "a": data_offsets \[8, 0\] end before they begin/],
  ];
  for (const [offsets, message] of cases) {
    await assertFormatError(fileBytes({ a: { dtype: "F32", shape: [2], data_offsets: offsets } }, 8), message, 8);
  }
});

test("a tensor name given twice in the header (JSON keeps the last, leaving a hole)", async () => {
  const header = '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}';
  await assertFormatError(fileBytes(header, 8), /hole of 4 bytes before tensor "a" data_offsets \[4, 8\], after the start of the data section/, 8 + header.length);
});

test("bytes after the last tensor (the offsets must end exactly at the end of the file)", async () => {
  await assertFormatError(fileBytes(VALID_HEADER, 20), /4 unexpected bytes after the last tensor: the data section must end where the last tensor ends \(16\)/, dataStart(VALID_HEADER) + 16);
});

test("unknown dtype", async () => {
  await assertFormatError(fileBytes({ a: { dtype: "F33", shape: [2], data_offsets: [0, 8] } }, 8), /tensor "a": unknown dtype "F33"/, 8);
});

test("8-bit float dtypes are an UnsupportedError naming the tensor and the file", async () => {
  for (const dtype of ["F8_E4M3", "F8_E5M2"]) {
    const path = await writeCase(fileBytes({ "layers.0.w": { dtype, shape: [8], data_offsets: [0, 8] } }, 8));
    await assert.rejects(openSafetensors(path), (e: unknown) =>
      e instanceof UnsupportedError && e.message.startsWith(`${path}: tensor "layers.0.w" has dtype ${dtype}, which llama3-ts does not support`));
  }
});

test("shape x dtype size that differs from the data_offsets length", async () => {
  await assertFormatError(fileBytes({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8),
    /tensor "a": shape \[3\] x F32 \(4 bytes\) is 12 bytes but data_offsets \[0, 8\] hold 8/, 8);
  await assertFormatError(fileBytes({ a: { dtype: "F32", shape: [2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, 8),
    /tensor "a": shape \[1073741824, 1073741824\] x F32 overflows/, 8);
});

test("negative or non-integer dimensions", async () => {
  for (const dim of [-2, 2.5, "2"]) {
    await assertFormatError(fileBytes({ a: { dtype: "U8", shape: [dim], data_offsets: [0, 2] } }, 2),
      /tensor "a": shape \[.*\] has a dimension that is not a non-negative integer/, 8);
  }
});

test("asking for a tensor that is not there names it and the file", async () => {
  const path = await writeCase(fileBytes(VALID_HEADER, 16));
  const file = await openSafetensors(path);
  for (const read of [() => file.read("lm_head.weight"), () => file.readInto("lm_head.weight", new Uint8Array(0))]) {
    await assert.rejects(read(), (e: unknown) =>
      e instanceof FormatError && e.path === path && /no tensor named "lm_head.weight" \(2 tensors here\)/.test(e.message));
  }
  await file.close();
});

test("a tensor longer than one typed array may be is an UnsupportedError naming it and the limit", { skip: MAX_TENSOR_ELEMENTS >= 2 ** 53 - 1 }, async () => {
  // A sparse file: 4 GiB of holes cost no disk, and the limit is checked before allocating.
  const nElements = MAX_TENSOR_ELEMENTS + 8;
  const header = { huge: { dtype: "U8", shape: [nElements], data_offsets: [0, nElements] } };
  const path = await writeCase(fileBytes(header, 0));
  await truncate(path, dataStart(header) + nElements);
  const file = await openSafetensors(path);
  await assert.rejects(file.read("huge"), (e: unknown) =>
    e instanceof UnsupportedError &&
    e.message === `${path}: tensor "huge" has ${nElements} elements, more than the ${MAX_TENSOR_ELEMENTS} one typed array may hold in this Node (buffer.constants.MAX_LENGTH)`);
  assert.equal(file.stats.bytesAllocated, 0);
  await file.close();
});
