// Reading the golden outputs in ../shared/fixtures (computed by Meta's reference code on PyTorch;
// format in ../shared/fixtures/README.md) into typed records.

import { readFileSync } from "node:fs";

export interface GoldenPosition {
  readonly position: number;
  readonly ids: readonly number[];
  readonly logits: readonly number[];
}

export interface GoldenResult {
  readonly prompt: readonly number[];
  readonly finalLogits: Float32Array;
  readonly topPerPosition: readonly GoldenPosition[];
  readonly greedyTokens: readonly number[];
  readonly greedyMargins: readonly number[];
}

interface RawResult {
  prompt: number[];
  final_logits: { base64: string; shape: number[] };
  top_per_position: { position: number; ids: number[]; logits: number[] }[];
  greedy: { tokens: number[]; top1_minus_top2_logit_margin: number[] };
}

/** The results of a golden JSON file. */
export function readGolden(path: string): GoldenResult[] {
  const raw = JSON.parse(readFileSync(path, "utf8")) as { results: RawResult[] };
  return raw.results.map((r) => {
    const bytes = Buffer.from(r.final_logits.base64, "base64");
    const finalLogits = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (finalLogits.length !== r.final_logits.shape[0]) throw new Error(`${path}: final_logits shape mismatch`);
    return {
      prompt: r.prompt,
      finalLogits,
      topPerPosition: r.top_per_position.map((p) => ({ position: p.position, ids: p.ids, logits: p.logits })),
      greedyTokens: r.greedy.tokens,
      greedyMargins: r.greedy.top1_minus_top2_logit_margin,
    };
  });
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
