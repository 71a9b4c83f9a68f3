// The adapter commands as a user runs them: `llama3 logits --adapter` gives PyTorch's probe logits of
// the fixture's trained LoRA adapter, `llama3 merge-adapter` writes a folder whose logits are the
// same without --adapter, and an adapter for another model is a one-line error, exit code 1.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readPeftAdapter, writePeftAdapter } from "../src/train/peft.js";
import { runCliCaptured } from "./support/cli.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";
import { fixturePath } from "./support/paths.js";

const tempDir = tempDirsRemovedAfter();
const NAME = "tiny-v512-bf16-untied-llama3rope";
const BASE = fixturePath("hf", NAME);
const ADAPTER = fixturePath("train", `lora-qv-${NAME}`, "final");
const FIXTURE = JSON.parse(readFileSync(fixturePath("train", `lora-qv-${NAME}.json`), "utf8")) as {
  probe_ids: number[];
  probe_logits_last: { base64: string };
  checks: { probe_logits_max_abs_f32_minus_f64: number };
};
const bytes = Buffer.from(FIXTURE.probe_logits_last.base64, "base64");
const expected = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
// As in lora-inference.test.ts: 4x PyTorch's own float32-vs-float64 drift on these logits.
const TOLERANCE = 4 * FIXTURE.checks.probe_logits_max_abs_f32_minus_f64;
const IDS = FIXTURE.probe_ids.join(",");

/** The top-K ids and logits `llama3 logits --json` prints for the last position. */
async function topLogits(argv: string[]): Promise<{ ids: number[]; logits: number[] }> {
  const result = await runCliCaptured(["logits", ...argv, "--ids", IDS, "--top", "20", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const { positions } = JSON.parse(result.stdout) as { positions: { ids: number[]; logits: number[] }[] };
  return positions[positions.length - 1]!;
}

function assertMatchesFixture(top: { ids: number[]; logits: number[] }, what: string): void {
  top.ids.forEach((id, i) => {
    const diff = Math.abs(top.logits[i]! - expected[id]!);
    assert.ok(diff <= TOLERANCE, `${what}: logit of ${id} is ${top.logits[i]}, PyTorch ${expected[id]} (|diff| ${diff})`);
  });
  const bestExpected = expected.indexOf(Math.max(...expected));
  assert.equal(top.ids[0], bestExpected, `${what}: the top id is PyTorch's`);
}

test("llama3 logits --adapter DIR gives the fixture's probe logits; without it they differ", async () => {
  assertMatchesFixture(await topLogits(["--model", BASE, "--adapter", ADAPTER]), "--adapter");
  const base = await topLogits(["--model", BASE]);
  assert.ok(base.ids.some((id, i) => Math.abs(base.logits[i]! - expected[id]!) > 100 * TOLERANCE), "the base model alone does not match (the test can fail)");
});

test("llama3 merge-adapter writes a model that equals base + adapter", async () => {
  const out = join(tempDir("merge"), "merged");
  const result = await runCliCaptured(["merge-adapter", "--model", BASE, "--adapter", ADAPTER, "--output", out, "--dtype", "float32"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /merged .* \(r 4, q_proj, v_proj\)/);
  assertMatchesFixture(await topLogits(["--model", out]), "merged");
  const again = await runCliCaptured(["merge-adapter", "--model", BASE, "--adapter", ADAPTER, "--output", out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /not empty/);
});

test("an adapter that does not fit the model is a clear error and writes nothing", async () => {
  const { adapter } = await readPeftAdapter(ADAPTER);
  const dir = tempDir("merge-bad");
  const wrong = join(dir, "adapter");
  await writePeftAdapter(wrong, { ...adapter, layers: [...adapter.layers, ...adapter.layers, ...adapter.layers] });
  const out = join(dir, "merged");
  const result = await runCliCaptured(["merge-adapter", "--model", BASE, "--adapter", wrong, "--output", out]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^llama3 merge-adapter: .*more layers than the model/);
  assert.equal(existsSync(out), false);
  const logits = await runCliCaptured(["logits", "--model", BASE, "--adapter", wrong, "--ids", "1,2"]);
  assert.equal(logits.code, 1);
  assert.match(logits.stderr, /more layers than the model/);
});
