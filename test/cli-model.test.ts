// The `llama3 logits` and `llama3 generate` commands, as a user calls them: results equal the
// library's, files hold raw float32, text prompts go through the tokenizer, errors are one clear
// line with the right exit code. Commands compared with the library run on the reference backend
// (--backend reference), whose results are exact.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { generate } from "../src/generate/generate.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { runCliCaptured, runCliProcess } from "./support/cli.js";
import { readConfigJson, tempDir, writeConfigVariant } from "./support/checkpoints.js";
import { fixturePath } from "./support/paths.js";

const MODEL = fixturePath("hf", "tiny-v512-f32-untied-norope");
const IDS = [0, 5, 17, 42, 99];

test("logits --json prints the top-K ids and logits of the last position, as the library computes them", async () => {
  const result = await runCliCaptured(["logits", "--model", MODEL, "--ids", IDS.join(","), "--top", "5", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout) as { prompt_ids: number[]; positions: { position: number; ids: number[]; logits: number[] }[] };
  assert.deepEqual(printed.prompt_ids, IDS);
  assert.equal(printed.positions.length, 1);
  const model = await LlamaForCausalLM.fromPretrained(MODEL);
  const logits = await model.forward(IDS, model.createKvCache());
  const top = printed.positions[0]!;
  assert.equal(top.position, IDS.length - 1);
  assert.equal(top.ids.length, 5);
  top.ids.forEach((id, i) => assert.equal(top.logits[i], logits[id]));
  const best = Math.max(...logits);
  assert.equal(top.logits[0], best);
});

test("logits --all --out writes (positions, vocab) little-endian float32", async () => {
  const dir = tempDir("cli");
  try {
    const out = join(dir, "logits.f32");
    const result = await runCliCaptured(["logits", "--model", MODEL, "--ids", IDS.join(","), "--all", "--out", out]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /wrote 2560 float32 logits \(5 x 512\)/);
    const bytes = readFileSync(out);
    const written = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const model = await LlamaForCausalLM.fromPretrained(MODEL);
    assert.deepEqual(written, await model.forward(IDS, model.createKvCache(), { allLogits: true }));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("generate --json prints prompt and greedy ids equal to the library's", async () => {
  const result = await runCliCaptured(["generate", "--backend", "reference", "--model", MODEL, "--ids", IDS.join(","), "--max-new-tokens", "6", "--temperature", "0", "--ignore-eos", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout) as { prompt_ids: number[]; generated_ids: number[] };
  const model = await LlamaForCausalLM.fromPretrained(MODEL);
  const expected = (await generate(model, IDS, { maxNewTokens: 6, stopTokenIds: [] })).outputs[0]!.tokenIds;
  assert.deepEqual(printed, { prompt_ids: IDS, generated_ids: expected, finish_reason: "length" });
});

test("generate stops at the config's eos id unless --ignore-eos; sampling repeats with a seed", async () => {
  // Make the first greedy token the eos id of a copy of the model: generation must stop right there.
  const model = await LlamaForCausalLM.fromPretrained(MODEL);
  const first = (await generate(model, IDS, { maxNewTokens: 1, stopTokenIds: [] })).outputs[0]!.tokenIds[0]!;
  const dir = writeConfigVariant(MODEL, { ...readConfigJson(MODEL), eos_token_id: [first] });
  try {
    const base = ["generate", "--backend", "reference", "--model", dir, "--ids", IDS.join(","), "--max-new-tokens", "5", "--json"];
    const stopped = JSON.parse((await runCliCaptured(base)).stdout) as { generated_ids: number[] };
    assert.deepEqual(stopped.generated_ids, [first]);
    const ignored = JSON.parse((await runCliCaptured([...base, "--ignore-eos"])).stdout) as { generated_ids: number[] };
    assert.equal(ignored.generated_ids.length, 5);
  } finally {
    rmSync(dir, { recursive: true });
  }
  const argv = ["generate", "--model", MODEL, "--ids", IDS.join(","), "--max-new-tokens", "8", "--temperature", "0.9", "--top-p", "0.9", "--seed", "42", "--ignore-eos", "--json"];
  const a = await runCliCaptured(argv);
  const b = await runCliCaptured(argv);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
});

test("errors are one line on stderr with exit 2 for usage and 1 for failures, no stack trace", async () => {
  const cases: [string[], number, RegExp][] = [
    [["logits", "--model", MODEL, "--ids", "1,x"], 2, /"x" is not a token id/],
    [["logits", "--model", MODEL, "--ids", "1", "--bogus"], 2, /Unknown option '--bogus'/],
    [["logits", "--model", MODEL, "--ids", "1,512"], 1, /token 1 is 512/],
    [["logits", "--model", join(MODEL, "missing"), "--ids", "1"], 1, /no such checkpoint folder/],
    [["generate", "--model", MODEL, "--ids", "1", "--temperature=-1"], 2, /--temperature must be between/],
    [["frobnicate"], 2, /unknown command "frobnicate"/],
    [["logits", "--model", MODEL, "--ids", "1", "stray"], 2, /unexpected argument "stray"/],
    [["logits", "--model", MODEL, "--ids", "1,,2"], 2, /"" is not a token id/],
    [["generate", "--model", MODEL, "--ids", "1", "--temperature", "0x1"], 2, /--temperature must be a number/],
    [["generate", "--model", MODEL, "--ids", "1", "--greedy", "--top-k", "5"], 2, /--top-k applies to sampling/],
    [["generate", "--model", MODEL, "--ids", "1", "--backend", "gpu"], 2, /--backend must be wasm or reference/],
    [["generate", "--model", MODEL, "--ids", "1", "--stop", "x"], 2, /need a text PROMPT/],
    [["generate", "--model", MODEL], 2, /give a PROMPT or --ids/],
    [["logits", "--model", MODEL, "--ids", "1", "--out", join(MODEL, "no-such-dir", "x.f32")], 1, /cannot write logits/],
  ];
  for (const [argv, code, message] of cases) {
    const result = await runCliCaptured(argv);
    assert.equal(result.code, code, `${argv.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.split("\n").length, 2, `one line: ${result.stderr}`);
  }
  const verbose = await runCliCaptured(["logits", "--model", MODEL, "--ids", "1,512", "--verbose"]);
  assert.match(verbose.stderr, /\n\s+at /);
});

test("the installed binary runs: llama3 logits --json", () => {
  const result = runCliProcess(["logits", "--model", MODEL, "--ids", "0,5", "--top", "3", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout) as { positions: { ids: number[] }[] };
  assert.equal(printed.positions[0]!.ids.length, 3);
  const failed = runCliProcess(["logits", "--model", MODEL, "--ids", "1", "--top", "x"]);
  assert.equal(failed.code, 2);
  assert.match(failed.stderr, /^llama3 logits: --top must be an integer/);
});

test("generate PROMPT: text in, streamed text out; --chat wraps it as a user turn", async () => {
  // The tied fixture has the real Llama 3 vocabulary but no tokenizer files: the bundled one is used.
  const model = fixturePath("hf", "tiny-v128256-f32-tied-norope");
  const result = await runCliCaptured(["generate", "--backend", "reference", "--model", model, "Hello world", "--max-new-tokens", "4", "--ignore-eos", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /using the bundled Llama 3 tokenizer/);
  const printed = JSON.parse(result.stdout) as { prompt_ids: number[]; generated_ids: number[]; text: string };
  const tokenizer = await Tokenizer.bundled();
  assert.deepEqual(printed.prompt_ids, tokenizer.encode("Hello world"));
  assert.equal(printed.prompt_ids[0], 128000);
  const llama = await LlamaForCausalLM.fromPretrained(model);
  const expected = (await generate(llama, printed.prompt_ids, { maxNewTokens: 4, stopTokenIds: [] })).outputs[0]!.tokenIds;
  assert.deepEqual(printed.generated_ids, expected);
  assert.equal(printed.text, tokenizer.decode(expected, { skipSpecialTokens: true }));
  const streamed = await runCliCaptured(["generate", "--backend", "reference", "--model", model, "Hello world", "--max-new-tokens", "4", "--ignore-eos"]);
  assert.equal(streamed.stdout, `${printed.text}\n`);

  const chat = await runCliCaptured(["generate", "--model", model, "Hi", "--chat", "--system", "Be brief.", "--max-new-tokens", "1", "--json"]);
  const chatIds = (JSON.parse(chat.stdout) as { prompt_ids: number[] }).prompt_ids;
  assert.equal(tokenizer.decode(chatIds), "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  const bad = await runCliCaptured(["generate", "--model", model, "--ids", "1", "x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /give a PROMPT or --ids \(not both\)/);
});
