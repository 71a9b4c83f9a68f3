// Writes synthetic Llama 3 checkpoints for benchmarks: the real shapes (Llama 3.2 1B by default)
// with seeded pseudo-random bf16 weights, in the Hugging Face layout. Values are random bit patterns
// of moderate magnitude: loading speed and memory do not depend on them. Written lazily, one tensor
// at a time, and cached on disk between runs.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { weightNames } from "../src/convert/names.js";
import { writeSafetensors } from "../src/io/safetensors-writer.js";
import type { TensorToWrite } from "../src/io/safetensors-writer.js";
import { Rng } from "../src/tensor/rng.js";

/** A model shape, in config.json terms. */
export interface SyntheticShape {
  readonly hidden_size: number;
  readonly intermediate_size: number;
  readonly num_hidden_layers: number;
  readonly num_attention_heads: number;
  readonly num_key_value_heads: number;
  readonly vocab_size: number;
  readonly tie_word_embeddings: boolean;
}

/** meta-llama/Llama-3.2-1B: dim 2048, 16 layers, 32 heads, 8 kv heads, ffn 8192, vocab 128256, tied. */
export const LLAMA_32_1B_SHAPE: SyntheticShape = {
  hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
  num_key_value_heads: 8, vocab_size: 128256, tie_word_embeddings: true,
};

function configJson(shape: SyntheticShape): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"], model_type: "llama", ...shape,
    head_dim: shape.hidden_size / shape.num_attention_heads, hidden_act: "silu", rms_norm_eps: 1e-5,
    rope_theta: 500000.0, max_position_embeddings: 131072, bos_token_id: 128000, eos_token_id: 128001,
    rope_scaling: { rope_type: "llama3", factor: 32.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192 },
    attention_bias: false, mlp_bias: false, torch_dtype: "bfloat16",
  };
}

/** Random bf16 bits with magnitudes in about [2^-9, 2^-3), either sign. */
function randomBf16(n: number, rng: Rng): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = rng.nextU32();
    // sign | exponent 118..125 | 7 mantissa bits, twice per 32 random bits.
    out[i] = ((r & 1) << 15) | ((118 + ((r >>> 1) & 7)) << 7) | ((r >>> 4) & 0x7f);
    if (i + 1 < n) out[i + 1] = (((r >>> 11) & 1) << 15) | ((118 + ((r >>> 12) & 7)) << 7) | ((r >>> 15) & 0x7f);
  }
  return out;
}

/**
 * Write (once) a bf16 HF checkpoint of `shape` under `dir` and return the folder.
 * @returns the folder holding config.json and model.safetensors
 */
export async function ensureSyntheticCheckpoint(dir: string, shape: SyntheticShape = LLAMA_32_1B_SHAPE, seed = 1234): Promise<string> {
  if (existsSync(join(dir, "model.safetensors")) && existsSync(join(dir, "config.json"))) return dir;
  mkdirSync(dir, { recursive: true });
  const dim = shape.hidden_size;
  const headDim = dim / shape.num_attention_heads;
  const shapes: Record<string, number[]> = {
    token_embd: [shape.vocab_size, dim], output: [shape.vocab_size, dim], output_norm: [dim],
    attn_norm: [dim], ffn_norm: [dim], attn_q: [dim, dim], attn_k: [shape.num_key_value_heads * headDim, dim],
    attn_v: [shape.num_key_value_heads * headDim, dim], attn_output: [dim, dim],
    ffn_gate: [shape.intermediate_size, dim], ffn_up: [shape.intermediate_size, dim], ffn_down: [dim, shape.intermediate_size],
  };
  const rng = new Rng(seed);
  const tensors: TensorToWrite[] = weightNames(shape.num_hidden_layers)
    .filter((w) => !(shape.tie_word_embeddings && w.canonical === "output.weight"))
    .map((w) => {
      const kind = w.canonical.split(".").at(-2)!;
      const dims = shapes[kind]!;
      const n = dims.reduce((a, b) => a * b, 1);
      return { name: w.hf, dtype: "bf16", shape: dims, data: async () => ({ dtype: "bf16", shape: dims, data: randomBf16(n, rng) }) };
    });
  await writeSafetensors(join(dir, "model.safetensors"), tensors, { metadata: { format: "pt" } });
  writeFileSync(join(dir, "config.json"), JSON.stringify(configJson(shape), null, 2));
  return dir;
}
