// A real fine-tuning run from the command line, as a user would make one: the built-in default model
// (random bf16 weights, the real Llama 3 tokenizer) fully fine-tuned in bf16 mixed precision (the
// CLI's defaults: wasm backend, bfloat16) on a small text file for 90 steps. The loss must fall
// from the untrained model's (about ln(128256) = 11.8 on random weights) to a small fraction of it,
// and the saved folder, loaded by `llama3 generate`, must continue the first words of every line of
// the file with the rest of that line, greedily, where the untrained model does not. This is
// behaviour, not a golden: wrong gradients, a wrong optimizer step or a wrong save cannot memorise
// six sentences (the PyTorch goldens are cli-finetune.test.ts's).

import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CliIo } from "../src/cli/command.js";
import { runCli } from "../src/cli/main.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";

const tempDir = tempDirsRemovedAfter();

const LINES = [
  "The lighthouse keeper climbed the spiral stairs every evening to light the great lamp.",
  "Ships far out at sea watched for its beam sweeping across the dark water.",
  "In winter the storms came from the north and the keeper wrote each one in his logbook.",
  "His daughter learned to trim the wick and polish the brass before she could read.",
  "When the fog rolled in, the horn sounded twice every minute until morning.",
  "The village below the cliff baked bread for the keeper and sent it up by the cart road.",
];

/** Words of each line given as the prompt; the rest of the line is what the model must produce. */
const PROMPT_WORDS = 3;

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (text) => { stdout += text; },
    stdoutBytes: () => undefined,
    stderr: (text) => { stderr += text; },
    readStdin: async () => new Uint8Array(),
    onInterrupt: () => () => undefined,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** Greedy continuation of `prompt` by the model in `modelDir` (undefined: the built-in model). */
async function continuation(modelDir: string | undefined, prompt: string, maxNewTokens: number): Promise<string> {
  const run = await cli(["generate", ...(modelDir === undefined ? [] : ["--model", modelDir]), "--greedy", "--max-new-tokens", String(maxNewTokens), "--", prompt]);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout;
}

test("llama3 finetune on a text file: the loss falls and the saved model continues the file's lines, which the untrained model does not", async () => {
  const dir = tempDir("ft-real");
  const data = join(dir, "train.jsonl");
  writeFileSync(data, `${LINES.map((text) => JSON.stringify({ text })).join("\n")}\n`);
  const out = join(dir, "tuned");
  // No --model: the built-in default model. lr 5e-3 with the linear schedule (the default) and one
  // batch of all six lines per step; at 5e-5 (the full fine-tuning default, meant for pretrained
  // weights) random weights would need thousands of steps.
  const run = await cli(["finetune", "--data", data, "--output", out, "--max-steps", "90", "--learning-rate", "5e-3", "--batch-size", "6", "--seed", "1", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const losses = run.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => (JSON.parse(l) as { loss: number }).loss);
  assert.equal(losses.length, 90);
  assert.ok(losses.every(Number.isFinite), "every loss finite");
  const first = losses[0]!;
  const last = losses.at(-1)!;
  assert.ok(first > 10, `the untrained model's loss is near ln(vocab): ${first}`);
  assert.ok(last < 0.05 * first, `the loss falls from ${first} to ${last}`);

  for (const line of LINES) {
    const words = line.split(" ");
    const prompt = words.slice(0, PROMPT_WORDS).join(" ");
    const rest = ` ${words.slice(PROMPT_WORDS).join(" ")}`;
    const tuned = await continuation(out, prompt, 24);
    assert.ok(tuned.startsWith(rest), `tuned model on "${prompt}": ${JSON.stringify(tuned)}, the data says ${JSON.stringify(rest)}`);
    const untrained = await continuation(undefined, prompt, 8);
    assert.ok(!untrained.startsWith(rest.slice(0, 12)), `the untrained model already continues "${prompt}" as the data: ${JSON.stringify(untrained)}`);
  }
});
