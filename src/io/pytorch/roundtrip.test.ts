// torch.save archives written by torch-save-writer.ts (and hand-built pickles in the shapes PyTorch
// versions emit) read back through openPytorchCheckpoint.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnsupportedError } from "../../errors.js";
import { DTYPE_BYTES } from "../../tensor/dtype.js";
import { Rng } from "../../tensor/rng.js";
import { type PytorchCheckpoint, openPytorchCheckpoint } from "./checkpoint.js";
import { OP } from "./pickle-opcodes.js";
import { PickleWriter } from "./pickle-writer.js";
import { type StorageSpec, type TensorSpec, type TorchSaveOptions, pickleStateDict, writeTorchSave } from "./torch-save-writer.js";

async function withArchive<T>(bytes: Uint8Array, fn: (c: PytorchCheckpoint) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "llama3-ts-pth-"));
  try {
    const path = join(dir, "model.pth");
    await writeFile(path, bytes);
    const checkpoint = await openPytorchCheckpoint(path);
    try {
      return await fn(checkpoint);
    } finally {
      await checkpoint.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

function rawOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const rng = new Rng(42);
const f32: StorageSpec = { key: "0", dtype: "f32", data: randomBytes(rng, 6 * 4) };
const bf16: StorageSpec = { key: "1", dtype: "bf16", data: randomBytes(rng, 40 * 2) };
const i64: StorageSpec = { key: "2", dtype: "i64", data: randomBytes(rng, 3 * 8) };
const bool: StorageSpec = { key: "3", dtype: "bool", data: Uint8Array.of(1, 0, 1) };
const TENSORS: TensorSpec[] = [
  { name: "a.f32", storage: f32, shape: [2, 3] },
  { name: "b.bf16.head", storage: bf16, shape: [4, 5] },
  { name: "b.bf16.tail", storage: bf16, shape: [20], storageOffset: 20 },
  { name: "c.i64", storage: i64, shape: [3] },
  { name: "d.bool", storage: bool, shape: [3] },
  { name: "e.scalar", storage: f32, shape: [], storageOffset: 5 },
];

async function checkRoundTrip(options: TorchSaveOptions): Promise<void> {
  await withArchive(writeTorchSave(TENSORS, options), async (c) => {
    assert.deepEqual([...c.entries.keys()], TENSORS.map((t) => t.name));
    for (const spec of TENSORS) {
      const tensor = await c.read(spec.name);
      assert.equal(tensor.dtype, spec.storage.dtype);
      assert.deepEqual(tensor.shape, spec.shape);
      const begin = (spec.storageOffset ?? 0) * DTYPE_BYTES[spec.storage.dtype];
      assert.deepEqual(rawOf(tensor.data), spec.storage.data.subarray(begin, begin + rawOf(tensor.data).byteLength), spec.name);
    }
  });
}

test("round trip: dtypes, shared storages, offsets and a scalar", () => checkRoundTrip({}));
test("round trip: ZIP64 extra fields everywhere", () => checkRoundTrip({ zip: { zip64Extras: true } }));
test("round trip: a deflated data.pkl is inflated (offsets then refer to the inflated pickle)", async () => {
  await checkRoundTrip({ records: [{ name: "data.pkl", data: pickleStateDict(TENSORS), deflate: true }] });
});

test("a non-contiguous (transposed) view is gathered into row-major order", async () => {
  // Storage holds a 2x3 matrix m; the saved tensor is m.t(): shape [3, 2], stride [1, 3].
  const values = Float32Array.of(1, 2, 3, 4, 5, 6);
  const storage: StorageSpec = { key: "0", dtype: "f32", data: rawOf(values) };
  await withArchive(writeTorchSave([{ name: "t", storage, shape: [3, 2], stride: [1, 3] }, { name: "every_other", storage, shape: [3], stride: [2], storageOffset: 1 }]), async (c) => {
    assert.equal(c.entry("t").contiguous, false);
    assert.deepEqual([...(await c.read("t")).data as Float32Array], [1, 4, 2, 5, 3, 6]);
    assert.deepEqual([...(await c.read("every_other")).data as Float32Array], [2, 4, 6]);
  });
});

test("nested dicts are flattened with dots; non-tensor values are listed in ignored", async () => {
  const storage: StorageSpec = { key: "0", dtype: "f32", data: rawOf(Float32Array.of(7, 8)) };
  const w = new PickleWriter().proto(2).emptyDict().mark();
  w.str("epoch").int(3);
  w.str("model").emptyDict().mark().str("norm.weight");
  w.global("torch._utils", "_rebuild_tensor_v2").mark().mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(2).tuple().op(OP.BINPERSID);
  w.int(0).int(2).tuple(1).int(1).tuple(1).bool(false).global("collections", "OrderedDict").emptyTuple().op(OP.REDUCE).tuple().op(OP.REDUCE);
  w.str("note").str("hi").op(OP.SETITEMS);
  w.op(OP.SETITEMS).stop();
  await withArchive(writeTorchSave([{ name: "unused", storage, shape: [2] }], { pickle: w.bytes() }), async (c) => {
    assert.deepEqual([...c.entries.keys()], ["model.norm.weight"]);
    assert.deepEqual([...(await c.read("model.norm.weight")).data as Float32Array], [7, 8]);
    assert.deepEqual(c.ignored, [{ name: "epoch", kind: "int" }, { name: "model.note", kind: "str" }]);
  });
});

/** A pickle of {"w": <expr>} where `tensor` writes the tensor expression. */
function stateDictWith(tensor: (w: PickleWriter) => void): Uint8Array {
  const w = new PickleWriter().proto(2).emptyDict().str("w");
  tensor(w);
  return w.op(OP.SETITEM).stop().bytes();
}

function storagePid(w: PickleWriter, storageType: [string, string], numel: number): void {
  w.mark().str("storage").global(...storageType).str("0").str("cpu").int(numel).tuple().op(OP.BINPERSID);
}

test("_rebuild_tensor_v3 over an UntypedStorage takes its dtype argument", async () => {
  const bytes = rawOf(Uint16Array.of(0x3f80, 0x4000, 0x4040));
  const pickle = stateDictWith((w) => {
    w.global("torch._utils", "_rebuild_tensor_v3").mark();
    storagePid(w, ["torch.storage", "UntypedStorage"], 6);
    w.int(1).int(2).tuple(1).int(1).tuple(1).bool(false).emptyDict().global("torch", "bfloat16").tuple().op(OP.REDUCE);
  });
  await withArchive(writeTorchSave([{ name: "x", storage: { key: "0", dtype: "u8", data: bytes }, shape: [6] }], { pickle }), async (c) => {
    const t = await c.read("w");
    assert.equal(t.dtype, "bf16");
    assert.deepEqual([...t.data as Uint16Array], [0x4000, 0x4040]);
  });
});

test("Parameters (_rebuild_parameter, _rebuild_from_type_v2 with BUILD state) read as their tensor", async () => {
  const data = rawOf(Float32Array.of(1.5, -2));
  const tensorV2 = (w: PickleWriter): void => {
    w.global("torch._utils", "_rebuild_tensor_v2").mark();
    storagePid(w, ["torch", "FloatStorage"], 2);
    w.int(0).int(2).tuple(1).int(1).tuple(1).bool(true).global("collections", "OrderedDict").emptyTuple().op(OP.REDUCE).tuple().op(OP.REDUCE);
  };
  const parameter = stateDictWith((w) => {
    w.global("torch._utils", "_rebuild_parameter").mark();
    tensorV2(w);
    w.bool(true).emptyDict().tuple().op(OP.REDUCE).emptyDict().op(OP.BUILD);
  });
  const fromType = stateDictWith((w) => {
    w.global("torch._tensor", "_rebuild_from_type_v2").mark().global("torch._utils", "_rebuild_tensor_v2").global("torch.nn.parameter", "Parameter").mark();
    storagePid(w, ["torch", "FloatStorage"], 2);
    w.int(0).int(2).tuple(1).int(1).tuple(1).bool(false).emptyDict().tuple().emptyDict().tuple().op(OP.REDUCE);
  });
  for (const pickle of [parameter, fromType]) {
    await withArchive(writeTorchSave([{ name: "x", storage: { key: "0", dtype: "f32", data }, shape: [2] }], { pickle }), async (c) => {
      assert.deepEqual([...(await c.read("w")).data as Float32Array], [1.5, -2]);
    });
  }
});

test("a single tensor saved on its own is refused: not a dict of tensors", async () => {
  const storage: StorageSpec = { key: "0", dtype: "f32", data: new Uint8Array(4) };
  const w = new PickleWriter().proto(2).global("torch._utils", "_rebuild_tensor_v2").mark();
  storagePid(w, ["torch", "FloatStorage"], 1);
  w.int(0).emptyTuple().emptyTuple().bool(false).emptyDict().tuple().op(OP.REDUCE).stop();
  await assert.rejects(withArchive(writeTorchSave([{ name: "x", storage, shape: [] }], { pickle: w.bytes() }), async () => undefined),
    (e: Error) => e instanceof UnsupportedError && /holds a tensor \[\] f32, not a dict of name -> tensor/.test(e.message));
});
