// Hostile and malformed torch.save files, one per way of being wrong: each must be refused with the
// right error class and a message that names what is wrong and where.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError, UnsupportedError } from "../../errors.js";
import { fixturePath } from "../../../test/support/paths.js";
import { openPytorchCheckpoint } from "./checkpoint.js";
import { OP } from "./pickle-opcodes.js";
import { PickleWriter } from "./pickle-writer.js";
import { type StorageSpec, type TensorSpec, type TorchSaveOptions, writeTorchSave } from "./torch-save-writer.js";

interface Refusal { readonly error: Error; readonly path: string; readonly file: Uint8Array }

/** Write `bytes` as a .pth file, expect opening it to fail with `type`, and match the message. */
async function refused(bytes: Uint8Array, type: typeof FormatError | typeof UnsupportedError, ...patterns: RegExp[]): Promise<Refusal> {
  const dir = await mkdtemp(join(tmpdir(), "llama3-ts-bad-pth-"));
  const path = join(dir, "bad.pth");
  try {
    await writeFile(path, bytes);
    let caught: unknown;
    try {
      const checkpoint = await openPytorchCheckpoint(path);
      await checkpoint.close();
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof type, `expected ${type.name}, got ${String(caught)}`);
    assert.ok(caught.message.includes(path), `the message names the file: ${caught.message}`);
    if (caught instanceof FormatError) assert.equal(caught.path, path);
    for (const p of patterns) assert.match(caught.message, p);
    return { error: caught, path, file: bytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const storage: StorageSpec = { key: "0", dtype: "f32", data: new Uint8Array(6 * 4) };
const MATRIX: TensorSpec[] = [{ name: "w", storage, shape: [2, 3] }];
const archive = (options: TorchSaveOptions = {}, tensors: TensorSpec[] = MATRIX): Uint8Array => writeTorchSave(tensors, options);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

test("hostile: a full checkpoint whose pickle calls os.system is refused at the GLOBAL's file offset", async () => {
  const pickle = new PickleWriter().proto(2).global("os", "system").str("touch /tmp/pwned").tuple(1).op(OP.REDUCE).stop().bytes();
  const { error, file } = await refused(archive({ pickle }), FormatError, /global os\.system is not in the whitelist/, /pickle GLOBAL \(0x63\) at pickle offset 2/);
  const at = (error as FormatError).byteOffset!;
  assert.equal(file[at], OP.GLOBAL, "byteOffset points at the GLOBAL opcode in the file");
  assert.deepEqual(file.subarray(at + 1, at + 11), text("os\nsystem\n"));
});

test("hostile: a tensor whose storage offset + size runs past its storage", async () => {
  const { error } = await refused(archive({}, [{ name: "layers.0.w", storage, shape: [2, 3], storageOffset: 2 }]), FormatError,
    /tensor "layers\.0\.w" \[2, 3\] at offset 2 spans elements 2 to 8 of storage "0", which holds 6/);
  assert.ok((error as FormatError).byteOffset! > 0);
});

test("hostile: a strided tensor whose last element lies past its storage", async () => {
  await refused(archive({}, [{ name: "t", storage, shape: [3, 2], stride: [1, 3] }, { name: "u", storage, shape: [4], stride: [2] }]), FormatError,
    /tensor "u" \[4\] at offset 0 spans elements 0 to 7 of storage "0", which holds 6/);
});

test("hostile: a persistent id for a storage entry missing from the zip", async () => {
  await refused(archive({ omit: ["data/0"] }), FormatError, /BINPERSID \(0x51\) at pickle offset \d+: storage "0" has no zip entry "archive\/data\/0"/);
});

test("malformed: a storage whose declared size differs from its zip entry", async () => {
  await refused(archive({ records: [{ name: "data/0", data: new Uint8Array(20) }] }), FormatError,
    /storage "0" declares 6 f32 elements \(24 bytes\) but zip entry "archive\/data\/0" holds 20 bytes/);
});

test("unsupported: a compressed tensor entry", async () => {
  await refused(archive({ records: [{ name: "data/0", data: storage.data, deflate: true }] }), UnsupportedError,
    /zip entry "archive\/data\/0" is compressed; tensor data must be stored uncompressed/);
});

test("unsupported: the legacy (pre-1.6) torch.save format", async () => {
  // What torch.save(..., _use_new_zipfile_serialization=False) starts with: PROTO 2, LONG1 magic number.
  const legacy = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e);
  await refused(legacy, UnsupportedError, /legacy torch\.save format \(PyTorch < 1\.6/, /re-save it/);
  const tar = new Uint8Array(1024);
  tar.set(text("ustar"), 257);
  await refused(tar, UnsupportedError, /tar archive: the legacy torch\.save format/);
});

test("malformed: not a zip at all", async () => {
  await refused(text("{\"dim\": 4096}"), FormatError, /not a torch\.save file: it does not start with a zip header/);
});

test("malformed: a real checkpoint truncated", async () => {
  const whole = await readFile(fixturePath("meta", "meta-tiny-2shard", "consolidated.00.pth"));
  await refused(whole.subarray(0, whole.length - 30), FormatError, /no zip end of central directory record/);
});

test("version record: unsupported, malformed and missing", async () => {
  await refused(archive({ records: [{ name: "version", data: text("4\n") }] }), UnsupportedError, /torch\.save format version 4; versions 1, 2, 3 are supported/);
  await refused(archive({ records: [{ name: "version", data: text("three") }] }), FormatError, /version record "three" is not a number/);
  await refused(archive({ omit: ["version"] }), FormatError, /no "archive\/version" record: not a torch\.save archive/);
});

test("byteorder record: big-endian is unsupported, anything else malformed", async () => {
  await refused(archive({ records: [{ name: "byteorder", data: text("big") }] }), UnsupportedError, /storages are big-endian/);
  await refused(archive({ records: [{ name: "byteorder", data: text("middle") }] }), FormatError, /byteorder record is "middle", expected "little" or "big"/);
});

test("malformed archive layout: no data.pkl, records outside a folder", async () => {
  await refused(archive({ omit: ["data.pkl"] }), FormatError, /no "archive\/data\.pkl" record/);
  await refused(archive({ archiveName: "" }), FormatError, /zip entry "\/data\.pkl" is not in a folder/);
});

test("unsupported tensor kinds are named: complex storage, quantized rebuild", async () => {
  const pickle = (module: string, name: string): Uint8Array => new PickleWriter().proto(2).emptyDict().str("w").global(module, name).op(OP.SETITEM).stop().bytes();
  await refused(archive({ pickle: pickle("torch", "ComplexFloatStorage") }), UnsupportedError, /torch\.ComplexFloatStorage: complex tensors are not supported/, /pickle offset 9/);
  await refused(archive({ pickle: pickle("torch._utils", "_rebuild_qtensor") }), UnsupportedError, /_rebuild_qtensor: quantized tensors are not supported/);
});

test("malformed tensor arguments: wrong arity, ragged stride, non-tuple size, bad persistent id", async () => {
  const rebuild = (args: (w: PickleWriter) => void): Uint8Array => {
    const w = new PickleWriter().proto(2).emptyDict().str("w").global("torch._utils", "_rebuild_tensor_v2").mark();
    args(w);
    return w.tuple().op(OP.REDUCE).op(OP.SETITEM).stop().bytes();
  };
  const pid = (w: PickleWriter): void => { w.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(6).tuple().op(OP.BINPERSID); };
  await refused(archive({ pickle: rebuild((w) => { pid(w); w.int(0); }) }), FormatError, /_rebuild_tensor_v2 takes 6 or 7 arguments, got 2/);
  await refused(archive({ pickle: rebuild((w) => { pid(w); w.int(0).int(2).int(3).tuple(2).int(1).tuple(1).bool(false).emptyDict(); }) }), FormatError, /size has 2 dimensions but stride has 1/);
  await refused(archive({ pickle: rebuild((w) => { pid(w); w.int(0).str("2x3").emptyTuple().bool(false).emptyDict(); }) }), FormatError, /tensor size must be a tuple, got str/);
  await refused(archive({ pickle: rebuild((w) => { w.mark().str("module").tuple().op(OP.BINPERSID); w.int(0).emptyTuple().emptyTuple().bool(false).emptyDict(); }) }), FormatError,
    /persistent id must be \('storage', type, key, location, numel\), got tuple of 1/);
});

test("malformed state dict: a dict that contains itself", async () => {
  const pickle = new PickleWriter().proto(2).emptyDict().put(0).str("self").get(0).op(OP.SETITEM).stop().bytes();
  await refused(archive({ pickle }), FormatError, /the dict at "self\." contains itself/);
});

test("a folder or a missing path is not a checkpoint", async () => {
  const folder = fixturePath("meta", "meta-tiny-1shard");
  await assert.rejects(openPytorchCheckpoint(folder), (e: Error) => e instanceof FormatError && e.path === folder && /not a regular file/.test(e.message));
  const missing = join(tmpdir(), "llama3-ts-no-such-file.pth");
  await assert.rejects(openPytorchCheckpoint(missing), (e: Error) => e instanceof FormatError && /cannot open PyTorch checkpoint: ENOENT/.test(e.message));
});
