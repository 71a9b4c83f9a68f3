// The real fixture checkpoints in ../shared/fixtures/hf: every tensor a Llama of the fixture's
// config.json must have, with the dtype and shape that config implies, and nothing else.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fixturePath } from "../../test/support/paths.js";
import type { DType } from "../tensor/dtype.js";
import { openSafetensorsCheckpoint } from "./safetensors-checkpoint.js";
import { openSafetensors } from "./safetensors-reader.js";

interface FixtureConfig {
  hidden_size: number; intermediate_size: number; num_attention_heads: number; num_key_value_heads: number;
  num_hidden_layers: number; head_dim: number; vocab_size: number; tie_word_embeddings: boolean; torch_dtype: string;
}

const DTYPE_OF_TORCH: Readonly<Record<string, DType>> = { float32: "f32", bfloat16: "bf16", float16: "f16" };

/** HF Llama tensor names and shapes implied by a config (transformers LlamaForCausalLM). */
function expectedTensors(c: FixtureConfig): Map<string, number[]> {
  const dim = c.hidden_size;
  const qDim = c.num_attention_heads * c.head_dim;
  const kvDim = c.num_key_value_heads * c.head_dim;
  const out = new Map<string, number[]>([["model.embed_tokens.weight", [c.vocab_size, dim]], ["model.norm.weight", [dim]]]);
  if (!c.tie_word_embeddings) out.set("lm_head.weight", [c.vocab_size, dim]);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    out.set(`${p}.input_layernorm.weight`, [dim]);
    out.set(`${p}.post_attention_layernorm.weight`, [dim]);
    out.set(`${p}.self_attn.q_proj.weight`, [qDim, dim]);
    out.set(`${p}.self_attn.k_proj.weight`, [kvDim, dim]);
    out.set(`${p}.self_attn.v_proj.weight`, [kvDim, dim]);
    out.set(`${p}.self_attn.o_proj.weight`, [dim, qDim]);
    out.set(`${p}.mlp.gate_proj.weight`, [c.intermediate_size, dim]);
    out.set(`${p}.mlp.up_proj.weight`, [c.intermediate_size, dim]);
    out.set(`${p}.mlp.down_proj.weight`, [dim, c.intermediate_size]);
  }
  return out;
}

const FIXTURES = ["tiny-v512-f32-untied-norope", "tiny-v512-bf16-untied-llama3rope", "tiny-v128256-f32-tied-norope"];

for (const name of FIXTURES) {
  test(`fixture ${name}: entries, dtypes and shapes match its config.json`, async () => {
    const config = JSON.parse(await readFile(fixturePath("hf", name, "config.json"), "utf8")) as FixtureConfig;
    const dtype = DTYPE_OF_TORCH[config.torch_dtype];
    assert.ok(dtype !== undefined, config.torch_dtype);
    const expected = expectedTensors(config);
    const file = await openSafetensors(fixturePath("hf", name, "model.safetensors"));
    try {
      assert.equal(file.metadata.get("format"), "pt");
      assert.deepEqual([...file.entries.keys()].sort(), [...expected.keys()].sort());
      for (const [tensor, shape] of expected) {
        const entry = file.entry(tensor);
        assert.equal(entry.dtype, dtype, tensor);
        assert.deepEqual(entry.shape, shape, tensor);
      }
      const norm = await file.read("model.norm.weight");
      assert.equal(norm.data.length, config.hidden_size);
    } finally {
      await file.close();
    }
  });
}

test("the tied fixture has no lm_head.weight and the bf16 fixture stores raw bf16 bits", async () => {
  const tied = await openSafetensorsCheckpoint(fixturePath("hf", "tiny-v128256-f32-tied-norope"));
  assert.equal(tied.entries.has("lm_head.weight"), false);
  assert.deepEqual(tied.entries.get("model.embed_tokens.weight")?.shape, [128256, 64]);
  assert.deepEqual(tied.notes, []);
  await tied.close();

  const bf16 = await openSafetensorsCheckpoint(fixturePath("hf", "tiny-v512-bf16-untied-llama3rope"));
  const t = await bf16.read("lm_head.weight");
  assert.equal(t.dtype, "bf16");
  assert.ok(t.data instanceof Uint16Array);
  // Widen bf16 bits to f32 (shift into the high half): every weight is a small finite number.
  const widened = new Float32Array(new Uint32Array(Array.from(t.data, (bits) => bits << 16 >>> 0)).buffer);
  assert.ok(widened.every((x) => Number.isFinite(x) && Math.abs(x) < 10));
  assert.ok(widened.some((x) => x !== 0));
  await bf16.close();
});
