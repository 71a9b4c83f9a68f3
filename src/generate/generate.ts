// transformers-style `generate(inputIds, options)`: one prompt or a batch of them, the batch
// possibly left-padded with an attention mask, as a tokenizer's padded batch encoding gives it.
// Padding is a tensor-library artefact: each row's pad positions are dropped and its real tokens
// start at position 0, which is exactly what transformers computes with position ids from the mask
// (cumsum(mask) - 1) and masked attention. Rows then run through the batching engine together.
// The result has transformers' `sequences` shape: each input row (pads kept) followed by its new
// tokens, right-padded with the pad id to a common length.

import { ArgumentError } from "../errors.js";
import type { GenerationDefaults } from "../model/generation-config.js";
import type { LlamaModel } from "../model/llama.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { GenerationEngine, type GenerationRun } from "./engine.js";
import type { GenerationOptions, SequenceOutput } from "./types.js";

export interface GenerateOptions extends GenerationOptions {
  /** For a batch: 1 for real tokens, 0 for padding (left padding), same shape as inputIds. */
  readonly attentionMask?: readonly (readonly number[])[];
  /** Id written after a finished row to pad `sequences` (default: generation_config's pad id, then the model's, then its first eos id). */
  readonly padTokenId?: number;
  /** Enables text in events and outputs, and stopStrings. */
  readonly tokenizer?: Tokenizer;
  /** generation_config.json's defaults (LlamaForCausalLM passes its own). */
  readonly generationConfig?: GenerationDefaults;
}

/** What generate() resolves to. */
export interface GenerateOutput {
  /** Each input row followed by its new tokens, right-padded with the pad id. */
  readonly sequences: number[][];
  /** Per row: new ids, text, finish reason, logprobs. */
  readonly outputs: SequenceOutput[];
}

function isBatch(inputIds: readonly number[] | readonly (readonly number[])[]): inputIds is readonly (readonly number[])[] {
  return inputIds.length > 0 && Array.isArray(inputIds[0]);
}

/** The real tokens of each row: those whose mask is 1, which must come after every 0 (left padding). */
function unpad(rows: readonly (readonly number[])[], mask: readonly (readonly number[])[] | undefined): number[][] {
  if (mask === undefined) return rows.map((row) => [...row]);
  if (mask.length !== rows.length) throw new ArgumentError(`attentionMask has ${mask.length} rows; inputIds has ${rows.length}`);
  return rows.map((row, r) => {
    const m = mask[r]!;
    if (!Array.isArray(m) || m.length !== row.length) throw new ArgumentError(`attentionMask row ${r} must have ${row.length} entries like inputIds row ${r}`);
    const first = m.indexOf(1);
    if (first < 0) throw new ArgumentError(`attentionMask row ${r} masks every token`);
    m.forEach((v, i) => {
      if (v !== 0 && v !== 1) throw new ArgumentError(`attentionMask row ${r} position ${i} is ${v}; entries must be 0 or 1`);
      if (i >= first && v !== 1) throw new ArgumentError(`attentionMask row ${r}: padding must be on the left (a 0 at position ${i} after a 1); use a tokenizer with left padding`);
    });
    return row.slice(first);
  });
}

/**
 * Generate new tokens after one prompt or a batch.
 * @param model the model
 * @param inputIds a prompt's ids, or rows of ids (left-padded, with `attentionMask`)
 * @param options generation options (GenerationOptions) plus attentionMask, padTokenId, tokenizer
 * @returns a run: `await` it for { sequences, outputs }, or iterate it for events (token / done, with `sequence` = row)
 * @throws ArgumentError for bad options, ids or mask
 * @example
 * const { sequences } = await generate(model, [[pad, 791, 6864], [128000, 9906, 1917]], {
 *   attentionMask: [[0, 1, 1], [1, 1, 1]], maxNewTokens: 20, doSample: false,
 * });
 */
export function generate(model: LlamaModel, inputIds: readonly number[] | readonly (readonly number[])[], options: GenerateOptions = {}): GenerationRun<GenerateOutput> {
  const { attentionMask, padTokenId, tokenizer, generationConfig, ...generation } = options;
  const rows: readonly (readonly number[])[] = isBatch(inputIds) ? inputIds : [inputIds as readonly number[]];
  if (!isBatch(inputIds) && attentionMask !== undefined && attentionMask.length !== 1) throw new ArgumentError("attentionMask needs one row per prompt");
  const prompts = unpad(rows, attentionMask);
  const pad = padTokenId ?? generationConfig?.padTokenId ?? model.config.padTokenId ?? model.config.eosTokenIds[0] ?? 0;
  const engine = new GenerationEngine(model, {
    maxBatch: prompts.length,
    ...(tokenizer === undefined ? {} : { tokenizer }),
    ...(generationConfig === undefined ? {} : { defaults: generationConfig }),
  });
  return engine.submitBatch(prompts, generation, (outputs): GenerateOutput => {
    const length = Math.max(...outputs.map((o, r) => rows[r]!.length + o.tokenIds.length));
    const sequences = outputs.map((o, r) => {
      const row = [...rows[r]!, ...o.tokenIds];
      while (row.length < length) row.push(pad);
      return row;
    });
    return { sequences, outputs };
  });
}
