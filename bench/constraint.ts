// `npm run bench -- constraint [--docs N] [--model DIR [--dtype q8_0]]`: the cost of constrained decoding per token
// against a forward pass. With the Llama 3 tokenizer's vocabulary (128256 ids), it builds the token
// trie (once per tokenizer), then generates N documents per grammar the way a random model would
// (uniform random scores, seeded sampling among the allowed tokens, as the engine does), timing
// the constraint's work per token: `apply` (the mask: a trie walk on a state not seen before, a
// cached mask otherwise) and `accept` (stepping the state by the token's bytes). The first document
// runs on a fresh grammar (cold: every state new), the others reuse its cache (warm, as requests
// repeating a schema do). The forward pass is timed on the same machine: one decode step of the
// built-in model (dim 64: its 128256-row output layer dominates) and, with --model, of a checkpoint.

import { createWasmBackend } from "../src/backend/wasm/index.js";
import type { Grammar } from "../src/generate/constraint.js";
import { responseFormatGrammar } from "../src/generate/response-format.js";
import { sampleFromScores } from "../src/generate/sampling.js";
import { TokenConstraint, TokenGrammar, TokenVocabulary } from "../src/generate/token-constraint.js";
import { toolCallGrammar } from "../src/generate/tool-call-grammar.js";
import { defaultModelDir } from "../src/loader/default-model.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { Rng } from "../src/tensor/rng.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import type { Bench } from "./bench.js";

const VOCAB = 128256;
const EOS = 128009;
/** Tokens per document at most (a random walk through an unbounded string can run long). */
const MAX_TOKENS = 256;

const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    age: { type: "integer" },
    tags: { type: "array", items: { enum: ["red", "green", "blue"] }, maxItems: 3 },
    address: { type: "object", properties: { city: { type: "string", maxLength: 10 }, zip: { type: "string", maxLength: 6 } }, required: ["city", "zip"], additionalProperties: false },
  },
  required: ["name", "age", "tags", "address"],
  additionalProperties: false,
};
/** zod's shapes as the AI SDK sends them: format + pattern strings and bounded numbers. */
const CONTACT = {
  type: "object",
  properties: {
    email: { type: "string", format: "email", maxLength: 24, pattern: "^(?:[A-Za-z0-9_'+\\-]+\\.)*[A-Za-z0-9_'+\\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\\-]*\\.)+[A-Za-z]{2,}$" },
    id: { type: "string", format: "uuid" },
    score: { type: "number", minimum: 0, maximum: 1 },
    rank: { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 },
  },
  required: ["email", "id", "score", "rank"],
  additionalProperties: false,
};
const TOOLS = [
  { type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["c", "f"] } }, required: ["city", "unit"], additionalProperties: false } } },
  { type: "function" as const, function: { name: "search", parameters: { type: "object", properties: { query: { type: "string", maxLength: 16 }, limit: { type: "integer" } }, required: ["query"], additionalProperties: false } } },
];

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? undefined : argv[i + 1];
}

interface DocStats { tokens: number; applyMs: number; acceptMs: number; walks: number; maxApplyMs: number }

function runDocs(grammar: Grammar<unknown>, vocab: TokenVocabulary, docs: number, seed: number): DocStats[] {
  const tokens = new TokenGrammar(grammar, vocab); // fresh: the first document is cold
  const rng = new Rng(seed);
  const scores = new Float32Array(VOCAB);
  const stats: DocStats[] = [];
  for (let d = 0; d < docs; d++) {
    const c = new TokenConstraint(tokens, [EOS]);
    const s: DocStats = { tokens: 0, applyMs: 0, acceptMs: 0, walks: tokens.walks, maxApplyMs: 0 };
    while (s.tokens < MAX_TOKENS) {
      for (let i = 0; i < VOCAB; i++) scores[i] = rng.uniform();
      const t0 = performance.now();
      c.apply(scores);
      const t1 = performance.now();
      const id = sampleFromScores(scores, rng);
      const t2 = performance.now();
      c.accept(id);
      const t3 = performance.now();
      s.tokens++;
      s.applyMs += t1 - t0;
      s.maxApplyMs = Math.max(s.maxApplyMs, t1 - t0);
      s.acceptMs += t3 - t2;
      if (id === EOS || c.finished) break;
    }
    s.walks = tokens.walks - s.walks;
    stats.push(s);
  }
  return stats;
}

async function forwardMs(dir: string, reps: number, dtype?: string): Promise<number> {
  const backend = await createWasmBackend();
  try {
    const model = await LlamaForCausalLM.fromPretrained(dir, { backend, ...(dtype === undefined ? {} : { dtype: dtype as never }) });
    const cache = model.createKvCache({ maxSeqLen: reps + 8 });
    await model.forward([128000, 9906, 1917], cache);
    const start = performance.now();
    for (let i = 0; i < reps; i++) await model.forward([1917], cache);
    const ms = (performance.now() - start) / reps;
    cache.release();
    return ms;
  } finally {
    await backend.close();
  }
}

export const constraintBench: Bench = {
  name: "constraint",
  summary: "constrained decoding: mask + state cost per token (cold and warm) against a forward pass",
  async run(argv) {
    const docs = Number(flag(argv, "docs") ?? 5);
    const tokenizer = await Tokenizer.bundled();
    const start = performance.now();
    const vocab = TokenVocabulary.of(tokenizer, VOCAB);
    const buildMs = performance.now() - start;
    console.log(`\nToken trie of the Llama 3 vocabulary: ${vocab.nodeCount} nodes, built in ${buildMs.toFixed(0)} ms (once per tokenizer).\n`);
    const grammars: [string, Grammar<unknown>][] = [
      ["json_schema (nested object, enums, bounded strings)", responseFormatGrammar({ type: "json_schema", schema: PERSON })!],
      ["json_schema (patterns, formats, numeric bounds)", responseFormatGrammar({ type: "json_schema", schema: CONTACT })!],
      ["json_object (any object)", responseFormatGrammar({ type: "json_object" })!],
      ["tool call (2 functions, required)", toolCallGrammar(TOOLS, "required")],
    ];
    console.log("| grammar | doc | tokens | walks (new states) | apply ms/token | slowest apply ms | accept ms/token |");
    console.log("|---|---|---|---|---|---|---|");
    for (const [name, grammar] of grammars) {
      const stats = runDocs(grammar, vocab, docs, 7);
      const warm = stats.slice(1);
      const sum = (xs: DocStats[], f: (s: DocStats) => number): number => xs.reduce((a, s) => a + f(s), 0);
      const row = (label: string, xs: DocStats[]): string => {
        const n = sum(xs, (s) => s.tokens);
        return `| ${name} | ${label} | ${n} | ${sum(xs, (s) => s.walks)} | ${(sum(xs, (s) => s.applyMs) / n).toFixed(3)} | ${Math.max(...xs.map((s) => s.maxApplyMs)).toFixed(1)} | ${(sum(xs, (s) => s.acceptMs) / n).toFixed(4)} |`;
      };
      console.log(row("1st (cold)", stats.slice(0, 1)));
      if (warm.length > 0) console.log(row(`2nd-${docs} (warm)`, warm));
    }
    const tiny = await forwardMs(defaultModelDir(), 16);
    console.log(`\nForward pass (one decode step, wasm backend, all cores): built-in model ${tiny.toFixed(2)} ms`);
    const model = flag(argv, "model");
    const dtype = flag(argv, "dtype");
    if (model !== undefined) console.log(`Forward pass (one decode step) of ${model}${dtype === undefined ? "" : ` as ${dtype}`}: ${(await forwardMs(model, 4, dtype)).toFixed(1)} ms`);
  },
};
