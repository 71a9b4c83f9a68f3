// The package's built-in model: a tiny Llama 3 (the Llama 3.2 architecture at dim 64, two layers)
// with deterministic random weights and the real Llama 3 tokenizer, written as an ordinary Hugging
// Face checkpoint folder by the build (`dist/default-model/`), so `llama3 generate "Hello"` runs
// right after install with the same loading code as any checkpoint. Its output is meaningless;
// the CLI says so and points at --model. Nothing here is special-cased when loading.

import { copyFile, dirname, fileURLToPath, join, mkdir, rename, rm, writeFile } from "#platform";
import { writeSafetensors, type TensorToWrite } from "../io/safetensors-writer.js";
import { f32ToBf16 } from "../tensor/float16.js";
import { Rng } from "../tensor/rng.js";
import { bundledTokenizerDir } from "../tokenizer/pretrained.js";

/** Seed of the default model's weights (fixed: every build writes identical files). */
const DEFAULT_MODEL_SEED = 20261127;

/** Standard deviation of the weights, transformers' initializer_range for Llama. */
const INIT_STD = 0.02;

/** Hugging Face config.json of the default model: Llama 3.2 1B's architecture, shrunk. */
const CONFIG = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  head_dim: 16,
  hidden_act: "silu",
  hidden_size: 64,
  intermediate_size: 256,
  max_position_embeddings: 131072,
  mlp_bias: false,
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  vocab_size: 128256,
} as const;

/** generation_config.json as Llama 3.2 Instruct ships it. */
const GENERATION_CONFIG = { bos_token_id: 128000, do_sample: true, eos_token_id: [128001, 128008, 128009], temperature: 0.6, top_p: 0.9 };

/** The folder the build writes the default model to: dist/default-model beside dist/src. */
export function defaultModelDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "default-model");
}

/** The default model's tensors under their HF names, bf16, drawn in a fixed order from one seed. */
function defaultModelTensors(): TensorToWrite[] {
  const rng = new Rng(DEFAULT_MODEL_SEED);
  const { hidden_size: dim, intermediate_size: hidden, num_attention_heads: nHeads, num_key_value_heads: nKv, head_dim: headDim, vocab_size: vocab } = CONFIG;
  const random = (name: string, shape: readonly number[]): TensorToWrite => {
    const data = new Uint16Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = f32ToBf16(rng.normal() * INIT_STD);
    return { name, dtype: "bf16", shape, data: { dtype: "bf16", shape, data } };
  };
  const ones = (name: string): TensorToWrite => ({ name, dtype: "bf16", shape: [dim], data: { dtype: "bf16", shape: [dim], data: new Uint16Array(dim).fill(f32ToBf16(1)) } });
  const tensors = [random("model.embed_tokens.weight", [vocab, dim])];
  for (let l = 0; l < CONFIG.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      ones(`${p}.input_layernorm.weight`),
      random(`${p}.self_attn.q_proj.weight`, [nHeads * headDim, dim]),
      random(`${p}.self_attn.k_proj.weight`, [nKv * headDim, dim]),
      random(`${p}.self_attn.v_proj.weight`, [nKv * headDim, dim]),
      random(`${p}.self_attn.o_proj.weight`, [dim, nHeads * headDim]),
      ones(`${p}.post_attention_layernorm.weight`),
      random(`${p}.mlp.gate_proj.weight`, [hidden, dim]),
      random(`${p}.mlp.up_proj.weight`, [hidden, dim]),
      random(`${p}.mlp.down_proj.weight`, [dim, hidden]),
    );
  }
  tensors.push(ones("model.norm.weight"));
  return tensors;
}

/**
 * Write the default model folder (config, generation config, weights, the bundled tokenizer).
 * Written beside the target and renamed into place, so a folder that exists is complete.
 * @param dir where to write it (default: defaultModelDir())
 */
export async function writeDefaultModel(dir: string = defaultModelDir()): Promise<void> {
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  await writeFile(join(partial, "config.json"), `${JSON.stringify(CONFIG, null, 2)}\n`);
  await writeFile(join(partial, "generation_config.json"), `${JSON.stringify(GENERATION_CONFIG, null, 2)}\n`);
  await writeSafetensors(join(partial, "model.safetensors"), defaultModelTensors(), { metadata: { format: "pt", note: "llama3-ts default model: random weights, meaningless output" } });
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) await copyFile(join(bundledTokenizerDir(), file), join(partial, file));
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
}
