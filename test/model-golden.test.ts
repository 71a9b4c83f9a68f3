// The forward pass against golden outputs of Meta's own reference code (PyTorch, float32) for every
// fixture model and prompt in ../shared/fixtures: the Hugging Face folders (hf/) and Meta's original
// .pth folders (meta/, one and two model-parallel shards, and one with the real 128256 vocabulary and
// scaled rope). The tolerance and why it is what it is: GOLDEN_TOLERANCE in support/golden.ts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { fixturePath } from "./support/paths.js";
import { checkAgainstGolden, readGolden } from "./support/golden.js";

const MODELS = ["tiny-v512-f32-untied-norope", "tiny-v512-bf16-untied-llama3rope", "tiny-v128256-f32-tied-norope"];
const META_MODELS = ["meta-tiny-1shard", "meta-tiny-2shard", "meta-tiny-scaled"];

for (const [kind, names] of [["hf", MODELS], ["meta", META_MODELS]] as const) {
  for (const name of names) {
    test(`golden logits, top-10 ids and greedy tokens: ${kind}/${name}`, async () => {
      const dir = fixturePath(kind, name);
      const model = await LlamaForCausalLM.fromPretrained(dir);
      let checked = 0;
      for (const file of ["golden.json", "golden-small.json", "golden-long.json", "golden-vocab.json"]) {
        if (!existsSync(join(dir, file))) continue;
        for (const [i, result] of readGolden(join(dir, file)).entries()) {
          await checkAgainstGolden(model, result, `${name}/${file}#${i}`);
          checked++;
        }
      }
      assert.ok(checked >= 3, `${name}: only ${checked} golden prompts found`);
    });
  }
}
