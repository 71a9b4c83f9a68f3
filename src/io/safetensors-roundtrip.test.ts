import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArgumentError, ShapeError } from "../errors.js";
import { DTYPE_BYTES, type DType } from "../tensor/dtype.js";
import { Rng } from "../tensor/rng.js";
import { fixturePath } from "../../test/support/paths.js";
import { makeTensor, type Tensor } from "../tensor/tensor.js";
import { openSafetensors } from "./safetensors-reader.js";
import { lazyTensors, writeSafetensors, type TensorToWrite } from "./safetensors-writer.js";

const dir = await mkdtemp(join(tmpdir(), "llama3-ts-st-roundtrip-"));
after(() => rm(dir, { recursive: true, force: true }));

const bytesOf = (t: Tensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** One tensor per dtype holding the values most likely to be mangled: NaN payloads, -0, infinities, extremes. */
function everyDtype(): Tensor[] {
  const f32 = new Float32Array(8);
  new Uint32Array(f32.buffer).set([0x7fc00001, 0xffc12345, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000, 0x7f7fffff]);
  const f64 = new Float64Array(4);
  new BigUint64Array(f64.buffer).set([0x7ff8000000000001n, 0x8000000000000000n, 0xfff0000000000000n, 0x0000000000000001n]);
  return [
    makeTensor("f32", [2, 4], f32),
    makeTensor("f64", [4], f64),
    // f16: NaN with payload, -0, -inf, smallest subnormal, largest finite, 1.0.
    makeTensor("f16", [2, 3], new Uint16Array([0x7e01, 0x8000, 0xfc00, 0x0001, 0x7bff, 0x3c00])),
    // bf16: quiet NaN with payload, negative NaN, -0, +inf, smallest subnormal, 1.0.
    makeTensor("bf16", [3, 2], new Uint16Array([0x7fc1, 0xff81, 0x8000, 0x7f80, 0x0001, 0x3f80])),
    makeTensor("i64", [4], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n])),
    makeTensor("u64", [2], new BigUint64Array([2n ** 64n - 1n, 1n])),
    makeTensor("i32", [3], new Int32Array([-(2 ** 31), 2 ** 31 - 1, -1])),
    makeTensor("u32", [2], new Uint32Array([2 ** 32 - 1, 7])),
    makeTensor("i16", [3], new Int16Array([-32768, 32767, -1])),
    makeTensor("u16", [2], new Uint16Array([65535, 0])),
    makeTensor("i8", [3], new Int8Array([-128, 127, -1])),
    makeTensor("u8", [5], new Uint8Array([0, 1, 127, 128, 255])),
    makeTensor("bool", [3], new Uint8Array([1, 0, 1])),
  ];
}

test("every dtype round-trips with exact bits, shapes and dtypes", async () => {
  const tensors = everyDtype();
  const extra: TensorToWrite[] = [
    { name: "scalar", dtype: "f32", shape: [], data: makeTensor("f32", [], new Float32Array([-0])) },
    { name: "empty", dtype: "bf16", shape: [0, 4], data: new Uint8Array(0) },
  ];
  const path = join(dir, "every-dtype.safetensors");
  await writeSafetensors(path, [...tensors.map((t) => ({ name: `t.${t.dtype}`, dtype: t.dtype, shape: t.shape, data: t })), ...extra], { metadata: { format: "pt" } });
  const file = await openSafetensors(path);
  try {
    assert.deepEqual([...file.metadata], [["format", "pt"]]);
    assert.equal(file.entries.size, tensors.length + 2);
    for (const t of tensors) {
      const back = await file.read(`t.${t.dtype}`);
      assert.equal(back.dtype, t.dtype);
      assert.deepEqual(back.shape, t.shape);
      assert.deepEqual(bytesOf(back), bytesOf(t), `bits of ${t.dtype}`);
      assert.equal(back.data.constructor, t.data.constructor, `array type of ${t.dtype}`);
    }
    const scalar = await file.read("scalar");
    assert.deepEqual(scalar.shape, []);
    assert.ok(Object.is((scalar.data as Float32Array)[0], -0));
    const empty = await file.read("empty");
    assert.deepEqual(empty.shape, [0, 4]);
    assert.equal(empty.data.length, 0);
    // Reference order: descending dtype alignment, so every tensor starts aligned to its element size.
    for (const entry of file.entries.values()) assert.equal(entry.byteOffset % DTYPE_BYTES[entry.dtype], 0, entry.name);
  } finally {
    await file.close();
  }
});

test("a Map of tensors is written and read back", async () => {
  const path = join(dir, "map.safetensors");
  const w = makeTensor("f32", [2], new Float32Array([1.5, -2]));
  await writeSafetensors(path, new Map([["w", w]]));
  const file = await openSafetensors(path);
  assert.deepEqual(bytesOf(await file.read("w")), bytesOf(w));
  assert.equal(file.metadata.size, 0);
  await file.close();
});

test("lazy tensors are produced one at a time, in file order, only when written", async () => {
  const rng = new Rng(7);
  const declared: { name: string; dtype: DType; shape: number[] }[] = [
    { name: "b", dtype: "bf16", shape: [16, 8] }, { name: "a", dtype: "f32", shape: [4, 4] }, { name: "c", dtype: "u8", shape: [33] },
  ];
  const contents = new Map(declared.map((d) => {
    const bytes = new Uint8Array(d.shape.reduce((n, x) => n * x, DTYPE_BYTES[d.dtype]));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.nextU32() & 0xff;
    return [d.name, bytes];
  }));
  const calls: string[] = [];
  let inFlight = 0;
  const tensors: TensorToWrite[] = declared.map((d) => ({
    ...d,
    data: async () => {
      calls.push(d.name);
      inFlight += 1;
      assert.equal(inFlight, 1, "the writer must not ask for a tensor before it has written the previous one");
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return contents.get(d.name) ?? new Uint8Array(0);
    },
  }));
  const path = join(dir, "lazy.safetensors");
  await writeSafetensors(path, tensors);
  // f32 (alignment 4) before bf16 (2) before u8 (1), as the reference writer sorts them.
  assert.deepEqual(calls, ["a", "b", "c"]);
  const file = await openSafetensors(path);
  for (const d of declared) {
    const target = new Uint8Array(contents.get(d.name)?.length ?? 0);
    await file.readInto(d.name, target);
    assert.deepEqual(target, contents.get(d.name));
  }
  await file.close();
});

test("copying a fixture lazily reproduces its header and data section", async () => {
  const source = fixturePath("hf", "tiny-v512-bf16-untied-llama3rope", "model.safetensors");
  const file = await openSafetensors(source);
  const copy = join(dir, "copy.safetensors");
  await writeSafetensors(copy, lazyTensors(file), { metadata: file.metadata });
  const dataStart = file.dataByteOffset;
  await file.close();
  const [original, written] = [await readFile(source), await readFile(copy)];
  // The fixture's writer put __metadata__ last where the reference writer puts it first: compare
  // the headers as JSON, and the data sections (same tensor order, so same bytes) exactly.
  const headerOf = (b: Buffer): unknown => JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString("utf8"));
  assert.deepEqual(headerOf(written), headerOf(original));
  assert.equal(written.length, original.length);
  assert.deepEqual(written.subarray(dataStart), original.subarray(dataStart));
});

test("concurrent reads of every tensor return the same bytes as sequential reads", async () => {
  const rng = new Rng(11);
  const tensors = Array.from({ length: 24 }, (_, i) => {
    const data = new Float32Array(257 + i * 31);
    for (let j = 0; j < data.length; j++) data[j] = rng.uniform() - 0.5;
    return { name: `layer.${i}`, dtype: "f32" as const, shape: [data.length], data: makeTensor("f32", [data.length], data) };
  });
  const path = join(dir, "concurrent.safetensors");
  await writeSafetensors(path, tensors);
  const file = await openSafetensors(path);
  const names = [...file.entries.keys()];
  // Every tensor three times over, all in flight at once, mixing read() and readInto().
  const reads = await Promise.all([...names, ...names, ...names].map(async (name, i) => {
    if (i % 2 === 0) return bytesOf(await file.read(name));
    const target = new Uint8Array(file.entry(name).byteLength);
    await file.readInto(name, target);
    return target;
  }));
  reads.forEach((bytes, i) => {
    const expected = tensors.find((t) => t.name === names[i % names.length]);
    assert.ok(expected !== undefined);
    assert.deepEqual(bytes, bytesOf(expected.data));
  });
  await file.close();
});

test("read() allocates exactly each tensor's bytes, nothing proportional to the file", async () => {
  const file = await openSafetensors(fixturePath("hf", "tiny-v512-f32-untied-norope", "model.safetensors"));
  let sum = 0;
  for (const entry of file.entries.values()) {
    const t = await file.read(entry.name);
    // The tensor owns its buffer outright: not a view into a larger file-sized buffer.
    assert.equal(t.data.buffer.byteLength, entry.byteLength, entry.name);
    assert.equal(t.data.byteOffset, 0);
    sum += entry.byteLength;
  }
  const stats = file.stats;
  assert.equal(stats.tensorsRead, file.entries.size);
  assert.equal(stats.bytesAllocated, sum);
  assert.equal(stats.bytesRead, sum);
  assert.equal(stats.headerBytesRead, file.dataByteOffset);
  await file.close();
});

test("readInto with a target of the wrong length and reads after close() are ArgumentErrors", async () => {
  const path = join(dir, "small.safetensors");
  await writeSafetensors(path, new Map([["x", makeTensor("i32", [2], new Int32Array([1, 2]))]]));
  const file = await openSafetensors(path);
  await assert.rejects(file.readInto("x", new Uint8Array(7)), (e: unknown) =>
    e instanceof ArgumentError && /tensor "x" is 8 bytes but the target holds 7/.test(e.message) && e.message.includes(path));
  await file.close();
  await file.close();
  await assert.rejects(file.read("x"), (e: unknown) => e instanceof ArgumentError && /read after close/.test(e.message));
});

test("a failed write leaves no file under the final name and no temporary file", async () => {
  const sub = await mkdtemp(join(dir, "atomic-"));
  const path = join(sub, "model.safetensors");
  await writeFile(path, "previous contents");
  const failing: TensorToWrite[] = [
    { name: "a", dtype: "f32", shape: [2], data: new Uint8Array(8) },
    { name: "b", dtype: "f32", shape: [2], data: () => Promise.reject(new Error("disk on fire")) },
  ];
  await assert.rejects(writeSafetensors(path, failing), /disk on fire/);
  assert.equal(await readFile(path, "utf8"), "previous contents");
  assert.deepEqual(await readdir(sub), ["model.safetensors"]);
});

test("writer refuses data that does not match the declared dtype, shape or size", async () => {
  const path = join(dir, "bad-write.safetensors");
  const t = makeTensor("f32", [2, 2], new Float32Array(4));
  await assert.rejects(writeSafetensors(path, [{ name: "w", dtype: "f32", shape: [4], data: t }]),
    (e: unknown) => e instanceof ShapeError && e.tensor === "w");
  await assert.rejects(writeSafetensors(path, [{ name: "w", dtype: "f16", shape: [2, 2], data: t }]),
    (e: unknown) => e instanceof ArgumentError && /declared f16 but the data is a f32 tensor/.test(e.message));
  await assert.rejects(writeSafetensors(path, [{ name: "w", dtype: "f32", shape: [2, 2], data: new Uint8Array(15) }]),
    (e: unknown) => e instanceof ArgumentError && /data has 15 bytes but shape \[2, 2\] x f32 needs 16/.test(e.message));
  await assert.rejects(writeSafetensors(path, [{ name: "w", dtype: "f32", shape: [-1], data: new Uint8Array(0) }]),
    (e: unknown) => e instanceof ArgumentError && /non-negative integers/.test(e.message));
  const dup = { name: "w", dtype: "u8" as const, shape: [1], data: new Uint8Array(1) };
  await assert.rejects(writeSafetensors(path, [dup, dup]), (e: unknown) => e instanceof ArgumentError && /given twice/.test(e.message));
  await assert.rejects(writeSafetensors(path, [{ ...dup, name: "__metadata__" }]), (e: unknown) => e instanceof ArgumentError && /reserved/.test(e.message));
  assert.ok(!(await readdir(dir)).includes("bad-write.safetensors"));
});
