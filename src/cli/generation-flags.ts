// Flags shared by `llama3 generate` and `llama3 chat`: generation options (HF names in kebab-case),
// the compute backend (--threads), and --stats, the run's timing and memory report.

import type { Backend } from "../backend/backend.js";
import { createWasmBackend } from "../backend/wasm/index.js";
import type { GenerationOptions } from "../generate/types.js";
import { type KvDType, KV_DTYPES } from "../model/kv-cache.js";
import { type FlagSpec, type ParsedArgs, booleanFlag, intFlag, numberFlag, stringFlag, stringListFlag } from "./args.js";
import { UsageError } from "./command.js";

export const GENERATION_FLAGS: FlagSpec = {
  "max-new-tokens": { type: "string" },
  "min-new-tokens": { type: "string" },
  greedy: { type: "boolean" },
  "do-sample": { type: "boolean" },
  temperature: { type: "string" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  "min-p": { type: "string" },
  "repetition-penalty": { type: "string" },
  seed: { type: "string" },
  stop: { type: "string", multiple: true },
  "ignore-eos": { type: "boolean" },
  threads: { type: "string" },
  backend: { type: "string" },
  "kv-dtype": { type: "string" },
  stats: { type: "boolean" },
};

export const GENERATION_FLAGS_HELP = [
  "  --max-new-tokens N  most tokens to generate (default: generation_config.json's, else 256)",
  "  --min-new-tokens N  no stop token before N new tokens",
  "  --greedy            always take the most likely token (same as --temperature 0)",
  "  --do-sample         sample even if generation_config.json says greedy",
  "  --temperature T     sampling temperature (> 0; 0 means --greedy). Default: generation_config.json's, else 1",
  "  --top-k K           sample among the K most likely tokens (0: off; default 50, as transformers)",
  "  --top-p P           nucleus sampling mass in (0, 1]",
  "  --min-p P           drop tokens below P x the top probability",
  "  --repetition-penalty R   transformers' repetition penalty (1: off)",
  "  --seed S            sampling seed (default 0: the same command gives the same text)",
  "  --stop TEXT         stop when TEXT appears (repeatable); the text ends before it",
  "  --ignore-eos        do not stop at the model's end-of-sequence tokens",
  "  --backend B         wasm (default: SIMD kernels on all cores) or reference (plain loops, slow)",
  "  --threads N         compute threads for the wasm backend (default: all cores)",
  "  --kv-dtype D        KV cache storage: f32 (default), f16 or bf16 (half the cache memory, long contexts)",
  "  --stats             report load time, prompt tokens, prefill and decode tok/s and peak RSS on stderr",
].join("\n");

/** Generation options from the flags (undefined fields fall back to generation_config.json). */
export function generationOptionsFromFlags(args: ParsedArgs): GenerationOptions {
  const options: { -readonly [K in keyof GenerationOptions]: GenerationOptions[K] } = {};
  const has = (flag: string): boolean => args.values[flag] !== undefined;
  if (has("max-new-tokens")) options.maxNewTokens = intFlag(args, "max-new-tokens", 0, 0, 10_000_000);
  if (has("min-new-tokens")) options.minNewTokens = intFlag(args, "min-new-tokens", 0, 0, 10_000_000);
  const temperature = has("temperature") ? numberFlag(args, "temperature", 1, 0, 1e6) : undefined;
  const greedy = booleanFlag(args, "greedy") || temperature === 0;
  if (greedy && booleanFlag(args, "do-sample")) throw new UsageError("--do-sample contradicts --greedy / --temperature 0");
  if (greedy) {
    const given = ["top-k", "top-p", "min-p", "seed"].filter(has);
    if (given.length > 0) throw new UsageError(`--${given[0]} applies to sampling, but --greedy / --temperature 0 asks for greedy decoding`);
    options.doSample = false;
  } else if (booleanFlag(args, "do-sample")) options.doSample = true;
  if (temperature !== undefined && temperature > 0) options.temperature = temperature;
  if (has("top-k")) options.topK = intFlag(args, "top-k", 0, 0, Number.MAX_SAFE_INTEGER);
  if (has("top-p")) options.topP = numberFlag(args, "top-p", 1, Number.MIN_VALUE, 1);
  if (has("min-p")) options.minP = numberFlag(args, "min-p", 0, 0, 1);
  if (has("repetition-penalty")) options.repetitionPenalty = numberFlag(args, "repetition-penalty", 1, Number.MIN_VALUE, 1e6);
  if (has("seed")) options.seed = intFlag(args, "seed", 0, 0, Number.MAX_SAFE_INTEGER);
  const stops = stringListFlag(args, "stop");
  if (stops.some((s) => s.length === 0)) throw new UsageError("--stop needs a non-empty text");
  if (stops.length > 0) options.stopStrings = stops;
  if (booleanFlag(args, "ignore-eos")) options.stopTokenIds = [];
  return options;
}

/** The KV cache dtype --kv-dtype asks for (default f32). */
export function kvDTypeFromFlags(args: ParsedArgs): KvDType {
  const dtype = stringFlag(args, "kv-dtype") ?? "f32";
  const known = KV_DTYPES.find((d) => d === dtype);
  if (known === undefined) throw new UsageError(`--kv-dtype must be ${KV_DTYPES.join(", ")}, got "${dtype}"`);
  return known;
}

/** The backend the flags ask for, with a close() for the end of the command. */
export async function backendFromFlags(args: ParsedArgs): Promise<{ backend: Backend | undefined; close: () => Promise<void> }> {
  const kind = stringFlag(args, "backend") ?? "wasm";
  if (kind !== "wasm" && kind !== "reference") throw new UsageError(`--backend must be wasm or reference, got "${kind}"`);
  const threads = args.values["threads"] === undefined ? undefined : intFlag(args, "threads", 1, 1, 1024);
  if (kind === "reference") {
    if (threads !== undefined) throw new UsageError("--threads applies to the wasm backend");
    return { backend: undefined, close: async () => {} };
  }
  const backend = await createWasmBackend(threads === undefined ? {} : { threads });
  return { backend, close: () => backend.close() };
}

/** Timing of one generation, for --stats. */
export class RunStats {
  private readonly start = performance.now();
  private firstTokenAt: number | undefined;
  private lastTokenAt: number | undefined;
  private tokens = 0;

  /** @param loadSeconds time spent loading the model; @param promptTokens prompt length */
  constructor(private readonly loadSeconds: number, private readonly promptTokens: number) {}

  /** Record a new token. */
  token(): void {
    const now = performance.now();
    this.firstTokenAt ??= now;
    this.lastTokenAt = now;
    this.tokens++;
  }

  /** The report, in JSON's snake_case (also printed by --json). */
  report(): Record<string, number> {
    const prefillSeconds = ((this.firstTokenAt ?? performance.now()) - this.start) / 1000;
    const decodeSeconds = ((this.lastTokenAt ?? 0) - (this.firstTokenAt ?? 0)) / 1000;
    return {
      load_seconds: round(this.loadSeconds),
      prompt_tokens: this.promptTokens,
      generated_tokens: this.tokens,
      // Prefill runs the prompt and picks the first token; decode covers each later token.
      prefill_tokens_per_second: round(this.promptTokens / prefillSeconds),
      decode_tokens_per_second: this.tokens > 1 ? round((this.tokens - 1) / decodeSeconds) : 0,
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    };
  }

  /** One line for stderr. */
  line(): string {
    const r = this.report();
    return `stats: load ${r["load_seconds"]} s, prompt ${r["prompt_tokens"]} tokens, prefill ${r["prefill_tokens_per_second"]} tok/s, decode ${r["decode_tokens_per_second"]} tok/s (${r["generated_tokens"]} tokens), peak RSS ${(r["peak_rss_bytes"]! / 2 ** 20).toFixed(0)} MiB\n`;
  }
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : 0;
}
