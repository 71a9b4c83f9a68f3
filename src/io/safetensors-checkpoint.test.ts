// Sharded checkpoints: the split rule, the index file as transformers writes it, sharded round
// trips, and every way an index or a folder can be wrong.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fixturePath } from "../../test/support/paths.js";
import { ArgumentError, FormatError } from "../errors.js";
import { makeTensor, type Tensor } from "../tensor/tensor.js";
import { openSafetensorsCheckpoint } from "./safetensors-checkpoint.js";
import { INDEX_FILE_NAME, planShards, serializeIndex } from "./safetensors-index.js";
import { openSafetensors } from "./safetensors-reader.js";
import { writeShardedSafetensors } from "./safetensors-sharded-writer.js";
import { lazyTensors, writeSafetensors } from "./safetensors-writer.js";

const root = await mkdtemp(join(tmpdir(), "llama3-ts-st-checkpoint-"));
after(() => rm(root, { recursive: true, force: true }));

let folderCount = 0;
async function newFolder(): Promise<string> {
  folderCount += 1;
  const dir = join(root, `ckpt-${folderCount}`);
  await mkdir(dir);
  return dir;
}

const bytesOf = (t: Tensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const u8 = (n: number, fill: number): Tensor => makeTensor("u8", [n], new Uint8Array(n).fill(fill));

/** A 3-shard checkpoint of four u8 tensors (sizes 6, 6, 2, 6 with max 10 -> [a], [b, c], [d]). */
async function threeShards(): Promise<string> {
  const dir = await newFolder();
  await writeShardedSafetensors(dir, new Map([["a", u8(6, 1)], ["b", u8(6, 2)], ["c", u8(2, 3)], ["d", u8(6, 4)]]), { maxShardBytes: 10, metadata: { format: "pt" } });
  return dir;
}

async function rewriteIndex(dir: string, edit: (index: { weight_map: Record<string, unknown>; metadata?: unknown }) => unknown): Promise<string> {
  const path = join(dir, INDEX_FILE_NAME);
  await writeFile(path, JSON.stringify(edit(JSON.parse(await readFile(path, "utf8")) as { weight_map: Record<string, unknown> })));
  return path;
}

async function assertOpenFails(path: string, errorPath: string, message: RegExp): Promise<void> {
  await assert.rejects(openSafetensorsCheckpoint(path), (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    assert.equal(e.path, errorPath);
    assert.match(e.message, message);
    return true;
  });
}

test("shards split as huggingface_hub splits them", () => {
  const sizes = (xs: number[]): { byteLength: number }[] => xs.map((byteLength) => ({ byteLength }));
  const split = (xs: number[], max: number): number[][] => planShards(sizes(xs), max).shards.map((s) => s.map((t) => t.byteLength));
  // The example of split_state_dict_into_shards_factory's docstring.
  assert.deepEqual(split([6, 6, 2, 6, 2, 2], 10), [[6], [6, 2], [6, 2, 2]]);
  // huggingface_hub tests/test_serialization.py test_multiple_shards: the oversized tensor (30)
  // gets its own shard when met, before the shard being filled.
  assert.deepEqual(split([6, 10, 30, 2, 2], 10), [[6], [30], [10], [2, 2]]);
  assert.deepEqual(split([], 10), []);
  assert.equal(planShards(sizes([6, 10, 30, 2, 2]), 10).totalSize, 50);
});

test("the index is written exactly as transformers save_pretrained writes it", async () => {
  const dir = await threeShards();
  assert.deepEqual((await readdir(dir)).sort(), [
    "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", INDEX_FILE_NAME,
  ]);
  assert.equal(await readFile(join(dir, INDEX_FILE_NAME), "utf8"), [
    "{",
    '  "metadata": {',
    '    "total_size": 20',
    "  },",
    '  "weight_map": {',
    '    "a": "model-00001-of-00003.safetensors",',
    '    "b": "model-00002-of-00003.safetensors",',
    '    "c": "model-00002-of-00003.safetensors",',
    '    "d": "model-00003-of-00003.safetensors"',
    "  }",
    "}",
    "",
  ].join("\n"));
  // Python json.dumps(sort_keys=True, ensure_ascii=True): "10" < "9" as strings, non-ASCII escaped.
  assert.equal(serializeIndex(0, new Map([["9", "f"], ["10", "f"], ["é\u{1f600}", "f"]])),
    '{\n  "metadata": {\n    "total_size": 0\n  },\n  "weight_map": {\n    "10": "f",\n    "9": "f",\n    "\\u00e9\\ud83d\\ude00": "f"\n  }\n}\n');
});

test("a sharded copy of a fixture reads back identical bytes, and a single file when it fits", async () => {
  const source = await openSafetensorsCheckpoint(fixturePath("hf", "tiny-v512-f32-untied-norope"));
  const sharded = await newFolder();
  const result = await writeShardedSafetensors(sharded, lazyTensors(source), { maxShardBytes: 200_000, metadata: { format: "pt" } });
  assert.ok(result.files.length > 2);
  assert.equal(result.totalSize, [...source.entries.values()].reduce((n, e) => n + e.byteLength, 0));
  const copy = await openSafetensorsCheckpoint(sharded);
  assert.deepEqual([...copy.entries.keys()].sort(), [...source.entries.keys()].sort());
  assert.equal(copy.index?.totalSize, result.totalSize);
  assert.deepEqual(copy.notes, []);
  for (const file of copy.files) {
    assert.equal(file.metadata.get("format"), "pt");
    const tensorBytes = [...file.entries.values()].reduce((n, e) => n + e.byteLength, 0);
    assert.ok(tensorBytes <= 200_000 || file.entries.size === 1, `${file.path} holds ${tensorBytes} bytes`);
  }
  const names = [...source.entries.keys()];
  // All reads in flight at once, across shards.
  const [copied, original] = await Promise.all([copy, source].map((s) => Promise.all(names.map((n) => s.read(n)))));
  names.forEach((name, i) => {
    // The index names the shard that holds the tensor.
    assert.equal(copy.index?.weightMap.get(name), basename(copy.entries.get(name)?.path ?? ""));
    const [a, b] = [copied?.[i], original?.[i]];
    assert.ok(a !== undefined && b !== undefined);
    assert.deepEqual(bytesOf(a), bytesOf(b), name);
  });
  await copy.close();

  // The same folder rewritten unsharded: one model.safetensors, the old shards and index removed.
  const single = await writeShardedSafetensors(sharded, lazyTensors(source), { metadata: { format: "pt" } });
  assert.equal(single.indexPath, undefined);
  assert.deepEqual(await readdir(sharded), ["model.safetensors"]);
  const reopened = await openSafetensorsCheckpoint(sharded);
  assert.equal(reopened.entries.size, source.entries.size);
  await reopened.close();
  await source.close();
});

test("invalid maxShardBytes is an ArgumentError", async () => {
  await assert.rejects(writeShardedSafetensors(await newFolder(), [], { maxShardBytes: 0 }), ArgumentError);
});

test("a shard listed in the index but absent", async () => {
  const dir = await threeShards();
  await rm(join(dir, "model-00002-of-00003.safetensors"));
  await assertOpenFails(dir, join(dir, INDEX_FILE_NAME),
    /shard model-00002-of-00003\.safetensors is listed in weight_map \(2 tensors, e\.g\. "b"\) but is missing: .*model-00002-of-00003\.safetensors$/);
});

test("an index whose weight_map is malformed", async () => {
  const cases: [(index: { weight_map: Record<string, unknown> }) => unknown, RegExp][] = [
    [() => ({ metadata: {} }), /"weight_map" must be an object of tensor name -> shard file \(got nothing\)/],
    [() => ({ weight_map: ["a"] }), /"weight_map" must be an object of tensor name -> shard file \(got an array\)/],
    [(i) => ({ ...i, weight_map: { ...i.weight_map, a: 1 } }), /weight_map\["a"\] must be a shard file name \(got 1\)/],
    [(i) => ({ ...i, weight_map: { ...i.weight_map, a: "../model-00001-of-00003.safetensors" } }), /weight_map\["a"\] = "\.\.\/model-00001-of-00003\.safetensors" is not a file name in the index's folder/],
    [() => ({ weight_map: {} }), /"weight_map" lists no tensors/],
    [(i) => ({ ...i, metadata: { total_size: "20" } }), /"metadata.total_size" must be a non-negative integer \(got "20"\)/],
  ];
  for (const [edit, message] of cases) {
    const dir = await threeShards();
    const indexPath = await rewriteIndex(dir, edit);
    await assertOpenFails(dir, indexPath, message);
  }
});

test("an index that is not JSON", async () => {
  const dir = await threeShards();
  await writeFile(join(dir, INDEX_FILE_NAME), "{ weight_map: nope");
  await assertOpenFails(dir, join(dir, INDEX_FILE_NAME), /index is not valid JSON/);
});

test("a tensor the weight_map places in a shard that lacks it", async () => {
  const dir = await threeShards();
  const indexPath = await rewriteIndex(dir, (i) => ({ ...i, weight_map: { ...i.weight_map, a: "model-00003-of-00003.safetensors" } }));
  await assertOpenFails(dir, indexPath, /weight_map puts tensor "a" in model-00003-of-00003\.safetensors, but that shard has no such tensor/);
});

test("tensors in shards that the weight_map does not list are kept and noted; a wrong total_size is noted", async () => {
  const dir = await threeShards();
  const indexPath = await rewriteIndex(dir, (i) => {
    // "c" shares its shard with "b", so the shard is still opened; its "c" is then unlisted.
    const { c: _dropped, ...rest } = i.weight_map;
    return { metadata: { total_size: 20 }, weight_map: rest };
  });
  const ckpt = await openSafetensorsCheckpoint(dir);
  assert.deepEqual([...ckpt.entries.keys()], ["a", "b", "d", "c"]);
  assert.deepEqual(bytesOf(await ckpt.read("c")), new Uint8Array(2).fill(3));
  assert.deepEqual(ckpt.notes, [
    `${indexPath}: 1 tensors are in the shards but not in weight_map (kept): c`,
    `${indexPath}: metadata.total_size is 20 but the listed tensors hold 18 bytes`,
  ]);
  await assert.rejects(ckpt.read("e"), (e: unknown) =>
    e instanceof FormatError && e.path === indexPath && /no tensor named "e" \(4 tensors here\)/.test(e.message));
  await ckpt.close();
});

test("folders: none, ambiguous, one file of another name, index beside a single file, a file path", async () => {
  const empty = await newFolder();
  await writeFile(join(empty, "config.json"), "{}");
  await assertOpenFails(empty, empty, /no safetensors checkpoint here: no model\.safetensors\.index\.json, no model\.safetensors and no other \*\.safetensors file/);

  const ambiguous = await threeShards();
  await rm(join(ambiguous, INDEX_FILE_NAME));
  await assertOpenFails(ambiguous, ambiguous, /ambiguous checkpoint: 3 \.safetensors files \(model-00001-of-00003\.safetensors, .*\) and no model\.safetensors\.index\.json/);

  const other = await newFolder();
  await writeSafetensors(join(other, "consolidated.safetensors"), new Map([["w", u8(3, 9)]]));
  const one = await openSafetensorsCheckpoint(other);
  assert.equal(one.path, join(other, "consolidated.safetensors"));
  await one.close();

  const both = await threeShards();
  await copyFile(join(other, "consolidated.safetensors"), join(both, "model.safetensors"));
  const preferred = await openSafetensorsCheckpoint(both);
  assert.equal(preferred.path, join(both, INDEX_FILE_NAME));
  assert.match(preferred.notes[0] ?? "", /both model\.safetensors\.index\.json and model\.safetensors are present; using the index/);
  await preferred.close();

  const direct = await openSafetensorsCheckpoint(join(both, "model.safetensors"));
  assert.deepEqual([...direct.entries.keys()], ["w"]);
  await direct.close();
  const viaIndex = await openSafetensorsCheckpoint(join(both, INDEX_FILE_NAME));
  assert.equal(viaIndex.files.length, 3);
  await viaIndex.close();

  const missing = join(root, "no-such-folder");
  await assertOpenFails(missing, missing, /cannot open checkpoint: ENOENT/);
});

test("shard files are complete safetensors files that open on their own", async () => {
  const dir = await threeShards();
  const shard = await openSafetensors(join(dir, "model-00002-of-00003.safetensors"));
  assert.deepEqual([...shard.entries.keys()], ["b", "c"]);
  assert.deepEqual([...shard.metadata], [["format", "pt"]]);
  await shard.close();
});
