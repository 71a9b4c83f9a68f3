// Hostile and broken Meta checkpoints given to the converter: each must fail with a typed error that
// names what is wrong, and leave nothing in the output's parent folder: no output folder, and no
// temporary folder either. The inputs are copies of ../shared/fixtures/meta/meta-tiny-2shard with
// one thing broken, built with the project's own torch.save writer.

import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, FormatError, type LlamaError } from "../src/errors.js";
import { openPytorchCheckpoint } from "../src/io/pytorch/checkpoint.js";
import { OP } from "../src/io/pytorch/pickle-opcodes.js";
import { PickleWriter } from "../src/io/pytorch/pickle-writer.js";
import { type TensorSpec, type TorchSaveOptions, writeTorchSave } from "../src/io/pytorch/torch-save-writer.js";
import { convertMetaCheckpoint, type ConvertMetaOptions } from "../src/loader/convert-meta.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";
import { fixturePath } from "./support/paths.js";

/** Temporary folders of this file, removed when it is done (converted tokenizers are 9 MB each). */
const tempDir = tempDirsRemovedAfter();

const SOURCE = fixturePath("meta", "meta-tiny-2shard");

/** A copy of the 2-shard fixture folder. */
function copyFixture(): string {
  const dir = tempDir("hostile-meta");
  for (const file of readdirSync(SOURCE)) copyFileSync(join(SOURCE, file), join(dir, file));
  return dir;
}

/** The tensors of one fixture shard as TensorSpecs (each with its own storage), edited by `edit`. */
async function shardSpecs(file: string, edit: (specs: TensorSpec[]) => TensorSpec[] = (s) => s): Promise<TensorSpec[]> {
  const checkpoint = await openPytorchCheckpoint(join(SOURCE, file));
  try {
    const specs: TensorSpec[] = [];
    for (const [name, entry] of checkpoint.entries) {
      const t = await checkpoint.read(name);
      specs.push({ name, storage: { key: String(specs.length), dtype: t.dtype, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) }, shape: entry.shape });
    }
    return edit(specs);
  } finally {
    await checkpoint.close();
  }
}

/** A fixture copy whose second shard is replaced by `bytes`. */
function withSecondShard(bytes: Uint8Array): string {
  const dir = copyFixture();
  writeFileSync(join(dir, "consolidated.01.pth"), bytes);
  return dir;
}

async function secondShardArchive(options: TorchSaveOptions = {}, edit?: (specs: TensorSpec[]) => TensorSpec[]): Promise<Uint8Array> {
  return writeTorchSave(await shardSpecs("consolidated.01.pth", edit), { archiveName: "consolidated", ...options });
}

/** Convert `input`, expect `type` with a message matching `pattern`, and an untouched output parent. */
async function refused(input: string, type: new (...args: never[]) => LlamaError, pattern: RegExp, options: ConvertMetaOptions = {}): Promise<void> {
  const parent = tempDir("hostile-out");
  await assert.rejects(convertMetaCheckpoint(input, join(parent, "out"), { llamaVersion: "3", ...options }), (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
  assert.deepEqual(readdirSync(parent), [], "nothing is left in the output's parent folder");
}

test("the unmodified copy converts (the cases below differ from it in one thing)", async () => {
  const parent = tempDir("hostile-ok");
  await convertMetaCheckpoint(withSecondShard(await secondShardArchive()), join(parent, "out"), { llamaVersion: "3" });
  assert.deepEqual(readdirSync(parent), ["out"]);
});

test("a pickle that calls os.system is refused, naming the global, and runs nothing", async () => {
  const marker = join(tempDir("hostile-marker"), "pwned");
  const pickle = new PickleWriter().proto(2).global("os", "system").str(`touch ${marker}`).tuple(1).op(OP.REDUCE).stop().bytes();
  await refused(withSecondShard(await secondShardArchive({ pickle })), FormatError, /consolidated\.01\.pth.*global os\.system is not in the whitelist/);
  assert.ok(!existsSync(marker), "the command in the pickle did not run");
});

test("an unknown pickle opcode is refused, naming the opcode", async () => {
  const pickle = new PickleWriter().proto(2).emptyDict().raw([0xee]).stop().bytes();
  await refused(withSecondShard(await secondShardArchive({ pickle })), FormatError, /consolidated\.01\.pth.*0xee/);
});

test("a truncated zip is refused", async () => {
  const whole = readFileSync(join(SOURCE, "consolidated.01.pth"));
  await refused(withSecondShard(whole.subarray(0, whole.length - 100)), FormatError, /consolidated\.01\.pth.*end of central directory/);
});

test("a missing storage record is refused", async () => {
  await refused(withSecondShard(await secondShardArchive({ omit: ["data/3"] })), FormatError, /storage "3" has no zip entry/);
});

test("shards that disagree on a shape are refused, naming the tensor", async () => {
  const bytes = await secondShardArchive({}, (specs) => specs.map((s) => (s.name === "layers.1.attention.wk.weight" ? { ...s, shape: [s.shape[1]!, s.shape[0]!] } : s)));
  await refused(withSecondShard(bytes), FormatError, /tensor "layers\.1\.attention\.wk\.weight" has shape \[64, 16\], incompatible with \[16, 64\]/);
});

test("a shard that lacks a tensor is refused", async () => {
  const bytes = await secondShardArchive({}, (specs) => specs.filter((s) => s.name !== "norm.weight"));
  await refused(withSecondShard(bytes), FormatError, /lacks tensor "norm\.weight"/);
});

test("a missing model-parallel shard is refused", async () => {
  const dir = copyFixture();
  copyFileSync(join(dir, "consolidated.01.pth"), join(dir, "consolidated.02.pth"));
  rmSync(join(dir, "consolidated.01.pth"));
  await refused(dir, FormatError, /shard 1 of 2 \(consolidated\.01\.pth\) is missing/);
});

test("params.json with a missing key, or not describing the tensors, is refused", async () => {
  const params = JSON.parse(readFileSync(join(SOURCE, "params.json"), "utf8")) as Record<string, unknown>;
  for (const key of ["dim", "n_layers", "n_heads", "norm_eps", "rope_theta", "vocab_size", "multiple_of"]) {
    const dir = copyFixture();
    const copy = { ...params };
    delete copy[key];
    writeFileSync(join(dir, "params.json"), JSON.stringify(copy));
    await refused(dir, ConfigError, new RegExp(`config key "${key}": missing`));
  }
  const dir = copyFixture();
  writeFileSync(join(dir, "params.json"), JSON.stringify({ ...params, n_layers: 3 }));
  await refused(dir, FormatError, /missing tensor "layers\.2\.attention_norm\.weight"/);
  rmSync(join(dir, "params.json"));
  await refused(dir, FormatError, /no params\.json/);
});

test("a conversion aborted after some shards were written leaves nothing behind", async () => {
  // Throwing from onProgress after the 10th tensor, with small output shards: several files exist
  // in the temporary folder by then.
  class Stop extends FormatError {}
  await refused(SOURCE, Stop, /stop here/, {
    maxShardBytes: 50_000,
    onProgress: (p) => { if (p.doneTensors === 10) throw new Stop("test", "stop here"); },
  });
});
