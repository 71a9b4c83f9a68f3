// `llama3 convert` end to end, as a user runs it: the built binary in a child process (the bin.js of
// the same build as this test, so it works from dist/ and from any other build folder), its exit
// codes, its output, and the converted folder loading back.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseSize } from "../src/cli/convert.js";
import { UsageError } from "../src/cli/command.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";
import { fixturePath } from "./support/paths.js";

/** Temporary folders of this file, removed when it is done (converted tokenizers are 9 MB each). */
const tempDir = tempDirsRemovedAfter();

/** bin.js of this build: <build>/test/convert-cli.test.js -> <build>/src/cli/bin.js. */
const BIN = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));

function run(...argv: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...argv], { encoding: "utf8" });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

test("the built binary exists", () => {
  assert.ok(existsSync(BIN), `${BIN} (build the project first)`);
});

test("llama3 convert: converts, reports, and the output loads", async () => {
  const parent = tempDir("cli-convert");
  const out = join(parent, "hf");
  const r = run("convert", "--input", fixturePath("meta", "meta-tiny-2shard"), "--output", out, "--llama-version", "3", "--max-shard-size", "200KB");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /converted .*meta-tiny-2shard \(Llama 3\) to .*hf: 0\.00 GB of bf16 weights; config\.json, .*model-00001-of-00002\.safetensors/);
  // stderr is not a terminal here: warnings only, no progress bar.
  assert.match(r.stderr, /^warning: .*no tokenizer\.model/);
  assert.ok(!r.stderr.includes("\r"));
  assert.deepEqual(readdirSync(out).sort(), ["config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]);
  const model = await LlamaForCausalLM.fromPretrained(out);
  assert.equal(model.config.nLayers, 2);

  const again = run("convert", "--input", fixturePath("meta", "meta-tiny-2shard"), "--output", out, "--llama-version", "3");
  assert.equal(again.code, 1);
  assert.match(again.stderr, /llama3 convert: .*exists and is not empty; .*--force/);
  const forced = run("convert", "--input", fixturePath("meta", "meta-tiny-2shard"), "--output", out, "--llama-version", "3", "--force", "--dtype", "f32");
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as { torch_dtype: string }).torch_dtype, "float32");
  assert.deepEqual(readdirSync(parent), ["hf"]);
});

test("llama3 convert: usage errors exit 2, bad input exits 1 and leaves nothing", () => {
  const parent = tempDir("cli-convert-bad");
  const out = join(parent, "hf");
  const input = fixturePath("meta", "meta-tiny-1shard");
  for (const argv of [
    ["--input", input],
    ["--input", input, "--output", out, "--llama-version", "4"],
    ["--input", input, "--output", out, "--dtype", "q4"],
    ["--input", input, "--output", out, "--max-shard-size", "5 parsecs"],
    ["--input", input, "--output", out, "--bogus"],
    ["--input", input, "--output", out, "extra"],
  ]) {
    const r = run("convert", ...argv);
    assert.equal(r.code, 2, `${argv.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^llama3 convert: /);
  }
  const r = run("convert", "--input", input, "--output", out, "--llama-version", "3.1");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /use_scaled_rope/);
  assert.deepEqual(readdirSync(parent), []);
});

test("llama3 convert --help documents every option", () => {
  const r = run("convert", "--help");
  assert.equal(r.code, 0);
  for (const flag of ["--input", "--output", "--llama-version", "--instruct", "--dtype", "--max-shard-size", "--rope-factor", "--force"]) {
    assert.match(r.stdout, new RegExp(`\\n {2}${flag} `), flag);
  }
  assert.match(run("--help").stdout, /convert +convert a Meta original checkpoint/);
});

test("--max-shard-size: decimal and binary units as transformers reads them", () => {
  assert.equal(parseSize("5GB", "s"), 5e9);
  assert.equal(parseSize("2GiB", "s"), 2 * 2 ** 30);
  assert.equal(parseSize("500mb", "s"), 5e8);
  assert.equal(parseSize("1.5KB", "s"), 1500);
  assert.equal(parseSize("123", "s"), 123);
  for (const bad of ["", "GB", "-1GB", "0", "5 XB", "1e9"]) assert.throws(() => parseSize(bad, "s"), UsageError, bad);
});
