// `npm run bench -- tokenizer [--mb N] [--rounds R]`: encode throughput of our Llama 3 tokenizer
// against `tiktoken` (OpenAI's Rust implementation compiled to WASM) and `js-tiktoken` (its pure-JS
// port) on the same deterministic mixed corpus (bench/tokenizer-corpus.ts), all three configured
// with the Llama 3 ranks, pattern and special tokens. Every round checks that the three produce
// identical ids for every document. Reports MB/s (UTF-8 input bytes) for the first, cold round (on a
// fresh instance: it includes building our lazy BPE tables and filling our piece cache) and the
// median of the others, as a markdown table. The machine is noisy: run it a few times.

import { Tiktoken as JsTiktoken } from "js-tiktoken/lite";
import { Tiktoken as WasmTiktoken } from "tiktoken";
import { LLAMA3_SPLIT_PATTERN_JS } from "../src/tokenizer/pattern.js";
import { LLAMA3_SPLIT_PATTERN, Tokenizer } from "../src/tokenizer/index.js";
import type { Bench } from "./bench.js";
import { buildCorpus } from "./tokenizer-corpus.js";

interface Encoder {
  readonly name: string;
  readonly loadMs: number;
  /** Rounds to run (the pure-JS port is slow enough that one warm round is plenty). */
  readonly maxRounds: number;
  encode(text: string): ArrayLike<number>;
}

function flag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

function timed<T>(make: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = make();
  return { value, ms: performance.now() - start };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Our tokenizer (two fresh instances, so each row's cold round is really cold) and the two others,
 * all with Llama 3's ranks (taken from the bundled tokenizer). */
async function encoders(): Promise<{ ours: Tokenizer; list: Encoder[] }> {
  const start = performance.now();
  const ours = await Tokenizer.bundled();
  const oursMs = performance.now() - start;
  const ours2 = await Tokenizer.bundled();
  const nBpe = ours.bosTokenId; // ids below BOS are the BPE ranks
  const ranks: string[] = [];
  for (let id = 0; id < nBpe; id++) ranks.push(Buffer.from(ours.idToBytes(id)!).toString("base64"));
  const specials = Object.fromEntries(ours.specialTokens.map((t) => [t.content, t.id]));
  const wasm = timed(() => new WasmTiktoken(ranks.map((r, id) => `${r} ${id}`).join("\n"), specials, LLAMA3_SPLIT_PATTERN));
  // js-tiktoken runs the pattern as a JS regex: give it our exact JS translation (pattern.ts).
  const js = timed(() => new JsTiktoken({ pat_str: LLAMA3_SPLIT_PATTERN_JS, special_tokens: specials, bpe_ranks: `! 0 ${ranks.join(" ")}` }));
  const plain = { addSpecialTokens: false, allowedSpecial: "none" } as const;
  const withSpecials = { addSpecialTokens: false } as const;
  return {
    ours,
    list: [
      { name: "llama3-ts, ordinary (allowedSpecial none)", loadMs: oursMs, maxRounds: Infinity, encode: (text) => ours.encode(text, plain) },
      { name: "llama3-ts, special tokens recognised (default)", loadMs: oursMs, maxRounds: Infinity, encode: (text) => ours2.encode(text, withSpecials) },
      { name: "tiktoken 1.0.22 (WASM), encode_ordinary", loadMs: wasm.ms, maxRounds: Infinity, encode: (text) => wasm.value.encode_ordinary(text) },
      { name: "js-tiktoken 1.0.21 (pure JS), encode", loadMs: js.ms, maxRounds: 2, encode: (text) => js.value.encode(text, [], []) },
    ],
  };
}

function sameIds(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const tokenizerBench: Bench = {
  name: "tokenizer",
  summary: "Llama 3 encode throughput vs tiktoken (WASM) and js-tiktoken on a mixed >= 10 MB corpus",
  async run(argv) {
    const targetMb = flag(argv, "mb", 12);
    const rounds = Math.max(2, Math.floor(flag(argv, "rounds", 3)));
    const { ours, list } = await encoders();
    const corpus = buildCorpus(targetMb * 1e6, ours);
    const mb = corpus.byteLength / 1e6;
    console.log(`corpus: ${mb.toFixed(2)} MB in ${corpus.documents.length} documents`);
    for (const [kind, bytes] of corpus.bytesByKind) console.log(`  ${kind.padEnd(30)} ${(bytes / 1e6).toFixed(2)} MB`);

    const reference: Array<ArrayLike<number>> = [];
    const results: Array<{ encoder: Encoder; cold: number; warm: number[]; tokens: number }> = [];
    for (const encoder of list) {
      const speeds: number[] = [];
      let tokens = 0;
      for (let round = 0; round < Math.min(rounds, encoder.maxRounds); round++) {
        tokens = 0;
        let ms = 0;
        corpus.documents.forEach((doc, i) => {
          const start = performance.now();
          const ids = encoder.encode(doc);
          ms += performance.now() - start;
          tokens += ids.length;
          if (round > 0) return;
          if (reference[i] === undefined) reference[i] = Array.from(ids);
          else if (!sameIds(ids, reference[i]!)) throw new Error(`${encoder.name}: ids differ from ${list[0]!.name} on document ${i}`);
        });
        speeds.push(mb / (ms / 1000));
      }
      results.push({ encoder, cold: speeds[0]!, warm: speeds.slice(1), tokens });
    }
    console.log(`\nall encoders produced identical ids on every document (${results[0]!.tokens} tokens)\n`);
    const base = median(results.find((r) => r.encoder.name.startsWith("tiktoken"))!.warm);
    const coldBase = results.find((r) => r.encoder.name.startsWith("tiktoken"))!.cold;
    console.log("| encoder | load (ms) | cold MB/s | warm MB/s (median) | warm best | cold vs tiktoken | warm vs tiktoken |");
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    for (const r of results) {
      const warm = median(r.warm);
      console.log(
        `| ${r.encoder.name} | ${r.encoder.loadMs.toFixed(0)} | ${r.cold.toFixed(1)} | ${warm.toFixed(1)} | ${Math.max(...r.warm).toFixed(1)} | ${(r.cold / coldBase).toFixed(2)}x | ${(warm / base).toFixed(2)}x |`,
      );
    }
  },
};
