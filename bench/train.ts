// `npm run bench -- train [--steps N] [--threads T]`: tokens/s of one optimizer step (forward,
// backward, AdamW) of full fine-tuning and of LoRA (r 8 on q_proj, v_proj) on a small synthetic
// Llama (dim 512, 8 layers, ffn 2048, vocab 32768, untied; seeded random bf16 weights, written once
// by synthetic-model.ts) with a batch of 4 x 128 tokens, on the WebAssembly backend, and the peak
// resident memory. Full fine-tuning in float32 and in bf16 mixed precision; LoRA on a frozen bf16
// and q8_0 base. Not a test: the numbers go to docs/PERFORMANCE.md.

import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Rng } from "../src/tensor/rng.js";
import type { TrainBatch } from "../src/train/batch.js";
import { Trainer } from "../src/train/trainer.js";
import type { Bench } from "./bench.js";
import { ensureSyntheticCheckpoint, type SyntheticShape } from "./synthetic-model.js";

const SHAPE: SyntheticShape = {
  hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 8, num_attention_heads: 8,
  num_key_value_heads: 4, vocab_size: 32768, tie_word_embeddings: false,
};
const ROWS = 4;
const SEQ_LEN = 128;

function flag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  return i === -1 ? fallback : Number(argv[i + 1]);
}

function randomBatch(vocab: number, seed: number): TrainBatch {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: ROWS * SEQ_LEN }, () => rng.int(vocab));
  return { rows: ROWS, seqLen: SEQ_LEN, inputIds: ids, attentionMask: new Uint8Array(ids.length).fill(1), labels: ids };
}

export const trainBench: Bench = {
  name: "train",
  summary: "tokens/s of full fine-tuning and LoRA steps on a dim-512, 8-layer model, batch 4 x 128",
  async run(argv) {
    const steps = flag(argv, "--steps", 3);
    const threads = flag(argv, "--threads", 2);
    const dir = await ensureSyntheticCheckpoint(join(tmpdir(), "llama3-ts-bench", "train-512x8"), SHAPE);
    const batch = randomBatch(SHAPE.vocab_size, 1);
    console.log(`model dim 512, 8 layers, vocab 32768; batch ${ROWS} x ${SEQ_LEN}; ${threads} threads; median of ${steps} steps after one warm-up\n`);
    console.log("| run | base dtype | tokens/s | step s | peak RSS MiB |\n|---|---|---|---|---|");
    const runs: [string, "float32" | "bfloat16" | "q8_0", boolean][] = [
      ["full fine-tuning", "float32", false], ["full fine-tuning (bf16 mixed)", "bfloat16", false],
      ["LoRA r8 q,v", "bfloat16", true], ["LoRA r8 q,v", "q8_0", true],
    ];
    for (const [label, dtype, lora] of runs) {
      const backend = await createWasmBackend({ threads });
      try {
        const model = await LlamaForCausalLM.fromPretrained(dir, { dtype, backend });
        const trainer = new Trainer(model, { maxSteps: steps + 1, learningRate: 1e-5, ...(lora ? { lora: { rank: 8, alpha: 16, dropout: 0 } } : {}) });
        const seconds: number[] = [];
        for (let s = 0; s <= steps; s++) {
          const t0 = performance.now();
          trainer.step([batch]);
          if (s > 0) seconds.push((performance.now() - t0) / 1000);
        }
        seconds.sort((a, b) => a - b);
        const median = seconds[Math.floor(seconds.length / 2)]!;
        const rss = process.resourceUsage().maxRSS / 1024;
        console.log(`| ${label} | ${dtype} | ${((ROWS * SEQ_LEN) / median).toFixed(0)} | ${median.toFixed(2)} | ${rss.toFixed(0)} |`);
      } finally {
        await backend.close();
      }
    }
    console.log("\nPeak RSS is the process's so far (it includes the previous rows).");
  },
};
