// The training data pipeline: a JSONL file (one example a line, layouts in data-format.ts) read line
// by line, truncated to maxSeqLen, then per epoch shuffled with a seeded generator and cut into
// right-padded TrainBatch records (transformers' DataCollatorForLanguageModeling / TRL's
// DataCollatorForLanguageModeling with padding_side "right": pad id in input_ids, 0 in the mask,
// -100 in labels). Not tokenization itself (tokenizer/), not the loss (the training core).
//
// Decisions: a sequence longer than maxSeqLen is truncated to its first maxSeqLen tokens (as
// transformers' truncation_side "right"), counted and reported, not an error; an example left with
// no scored label (labels[1..] all -100, e.g. a prompt longer than maxSeqLen) is dropped, counted and
// reported; a file with no usable example is an error. Blank lines are skipped.

import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { ArgumentError } from "../errors.js";
import { isJsonObject } from "../json.js";
import { Rng } from "../tensor/rng.js";
import { IGNORE_INDEX, type TrainBatch } from "./batch.js";
import { DatasetError } from "./data-error.js";
import { type DataTokenizer, type ExampleFormat, KNOWN_KEYS, type TrainExample, parseExampleLine } from "./data-format.js";

export { DatasetError } from "./data-error.js";
export type { DataTokenizer, ExampleFormat, TrainExample } from "./data-format.js";

/** Longest line read (a pre-tokenized 128k-token line is about 1 MB; this stops absurd inputs). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Options of {@link readJsonlDataset}. */
export interface DatasetOptions {
  /** Ids must be below this (the model's vocabSize). */
  readonly vocabSize: number;
  /** Turns text, prompt/completion and messages into ids; pre-tokenized lines need none. */
  readonly tokenizer?: DataTokenizer | undefined;
  /** Truncate longer sequences to this many tokens (default: no limit). */
  readonly maxSeqLen?: number | undefined;
  /** Append EOS to `text` and `completion` when not already last (default true, as TRL's SFTTrainer). */
  readonly appendEos?: boolean;
}

/** A dataset read into memory, with what was changed on the way. */
export interface Dataset {
  readonly file: string;
  readonly examples: readonly TrainExample[];
  /** Examples per layout. */
  readonly formats: Readonly<Record<ExampleFormat, number>>;
  /** Examples cut to maxSeqLen. */
  readonly truncated: number;
  /** Examples dropped because no label was left to score. */
  readonly dropped: number;
  /** Label tokens that are scored (labels[1..] not -100), over all examples. */
  readonly labelTokens: number;
  /** Human-readable findings: truncation, dropped examples, unknown keys. */
  readonly warnings: readonly string[];
}

/**
 * Read a JSONL training file.
 * @throws DatasetError naming file, line and field for a bad line, and for a file that is missing,
 *   not UTF-8, or has no usable example
 * @example
 * const data = await readJsonlDataset("train.jsonl", { vocabSize: model.config.vocabSize, tokenizer, maxSeqLen: 1024 });
 */
export async function readJsonlDataset(file: string, options: DatasetOptions): Promise<Dataset> {
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new DatasetError(file, 0, undefined, "not a regular file");
  } catch (error) {
    if (error instanceof DatasetError) throw error;
    throw new DatasetError(file, 0, undefined, `cannot read: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const builder = new DatasetBuilder(file, options);
  for await (const { text, line } of fileLines(file)) builder.add(text, line);
  return builder.finish();
}

/** The same from text already in memory (tests, the library API). */
export function parseJsonlDataset(text: string, file: string, options: DatasetOptions): Dataset {
  const builder = new DatasetBuilder(file, options);
  text.split("\n").forEach((line, i) => builder.add(line, i + 1));
  return builder.finish();
}

class DatasetBuilder {
  private readonly examples: TrainExample[] = [];
  private readonly formats: Record<ExampleFormat, number> = { text: 0, "prompt-completion": 0, messages: 0, tokens: 0 };
  private readonly unknownKeys = new Map<string, number>();
  private truncated = 0;
  private dropped = 0;
  private labelTokens = 0;
  private lines = 0;

  constructor(private readonly file: string, private readonly options: DatasetOptions) {
    const { vocabSize, maxSeqLen } = options;
    if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new ArgumentError(`vocabSize must be a positive integer, got ${vocabSize}`);
    if (maxSeqLen !== undefined && (!Number.isInteger(maxSeqLen) || maxSeqLen < 2)) throw new ArgumentError(`maxSeqLen must be an integer >= 2, got ${maxSeqLen}`);
  }

  add(raw: string, line: number): void {
    let text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === 1 && text.startsWith("\uFEFF")) text = text.slice(1); // a UTF-8 byte order mark
    if (text.trim() === "") return;
    this.lines++;
    const example = parseExampleLine(text, { file: this.file, line, vocabSize: this.options.vocabSize, tokenizer: this.options.tokenizer, appendEos: this.options.appendEos ?? true });
    this.noteUnknownKeys(text, line);
    this.formats[example.format]++;
    const kept = this.truncate(example);
    const scored = scoredLabels(kept.labels);
    if (scored === 0) {
      this.dropped++;
      return;
    }
    this.labelTokens += scored;
    this.examples.push(kept);
  }

  finish(): Dataset {
    if (this.lines === 0) throw new DatasetError(this.file, 0, undefined, "has no examples (no non-blank line)");
    if (this.examples.length === 0) throw new DatasetError(this.file, 0, undefined, `none of its ${this.lines} examples has a label token to train on${this.truncated > 0 ? ` after truncation to ${this.options.maxSeqLen} tokens` : ""}`);
    const warnings: string[] = [];
    if (this.truncated > 0) warnings.push(`${this.truncated} of ${this.lines} examples were longer than ${this.options.maxSeqLen} tokens and were truncated to their first ${this.options.maxSeqLen}`);
    if (this.dropped > 0) warnings.push(`${this.dropped} of ${this.lines} examples have no label token to train on${this.truncated > 0 ? " (after truncation)" : ""} and were skipped`);
    for (const [key, line] of this.unknownKeys) warnings.push(`field "${key}" (first on line ${line}) is not a training field and was ignored`);
    return { file: this.file, examples: this.examples, formats: { ...this.formats }, truncated: this.truncated, dropped: this.dropped, labelTokens: this.labelTokens, warnings };
  }

  private truncate(example: TrainExample): TrainExample {
    const max = this.options.maxSeqLen;
    if (max === undefined || example.inputIds.length <= max) return example;
    this.truncated++;
    return { ...example, inputIds: example.inputIds.slice(0, max), attentionMask: example.attentionMask.slice(0, max), labels: example.labels.slice(0, max) };
  }

  private noteUnknownKeys(text: string, line: number): void {
    const object = JSON.parse(text) as unknown; // parsed once already without error
    if (!isJsonObject(object)) return;
    for (const key of Object.keys(object)) if (!KNOWN_KEYS.has(key) && !this.unknownKeys.has(key)) this.unknownKeys.set(key, line);
  }
}

/** Labels the loss scores: position t predicts labels[t + 1], so labels[0] never counts. */
export function scoredLabels(labels: Int32Array): number {
  let n = 0;
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) n++;
  return n;
}

/** The file's lines as strict UTF-8, 1-based, without reading the file whole. */
async function* fileLines(file: string): AsyncGenerator<{ text: string; line: number }> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  const decode = (bytes: Buffer): string => {
    try {
      return decoder.decode(bytes);
    } catch (error) {
      throw new DatasetError(file, line, undefined, "is not valid UTF-8", { cause: error });
    }
  };
  let stream;
  try {
    stream = createReadStream(file);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        line++;
        pending.push(chunk.subarray(start, nl));
        yield { text: decode(Buffer.concat(pending)), line };
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
      }
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
      if (pendingBytes > MAX_LINE_BYTES) throw new DatasetError(file, line + 1, undefined, `line is over ${MAX_LINE_BYTES} bytes (MAX_LINE_BYTES)`);
    }
  } catch (error) {
    if (error instanceof DatasetError) throw error;
    throw new DatasetError(file, line, undefined, `cannot read: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    stream?.destroy();
  }
  if (pendingBytes > 0) yield { text: decode(Buffer.concat(pending)), line: line + 1 };
}

/**
 * Right-pad examples into one batch: input_ids with `padTokenId`, attention_mask 0, labels -100.
 * @param padTokenId needed only when the examples differ in length
 * @throws ArgumentError for no examples, or padding needed and no pad id given
 */
export function collate(examples: readonly TrainExample[], padTokenId: number | undefined): TrainBatch {
  if (examples.length === 0) throw new ArgumentError("collate: no examples");
  const seqLen = Math.max(...examples.map((e) => e.inputIds.length));
  const rows = examples.length;
  const inputIds = new Int32Array(rows * seqLen); // (rows, seqLen)
  const attentionMask = new Uint8Array(rows * seqLen); // (rows, seqLen)
  const labels = new Int32Array(rows * seqLen).fill(IGNORE_INDEX); // (rows, seqLen)
  examples.forEach((e, r) => {
    const n = e.inputIds.length;
    if (n < seqLen) {
      if (padTokenId === undefined) throw new ArgumentError("collate: rows of different lengths need a pad token id (see train/pad-token.ts)");
      inputIds.fill(padTokenId, r * seqLen + n, (r + 1) * seqLen);
    }
    inputIds.set(e.inputIds, r * seqLen);
    attentionMask.set(e.attentionMask, r * seqLen);
    labels.set(e.labels, r * seqLen);
  });
  return { rows, seqLen, inputIds, attentionMask, labels };
}

/** Whether batching `examples` ever pads (some lengths differ), i.e. a pad token is needed. */
export function needsPadding(examples: readonly TrainExample[], batchSize: number): boolean {
  if (batchSize < 2) return false;
  return new Set(examples.map((e) => e.inputIds.length)).size > 1;
}

/**
 * The order of `n` examples in an epoch: a Fisher-Yates shuffle drawn from (seed, epoch), the same
 * on every run and platform, different per epoch (as Trainer reshuffles each epoch from its seed;
 * the permutation itself differs from torch.randperm's).
 */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Options of {@link epochBatches}. */
export interface BatchOptions {
  readonly batchSize: number;
  readonly padTokenId: number | undefined;
  /** Shuffle each epoch (default true, as Trainer's RandomSampler); false keeps file order. */
  readonly shuffle?: boolean;
  readonly seed?: number;
}

/**
 * The batches of one epoch (0-based), in order; the last may be smaller (Trainer's default
 * dataloader_drop_last = false).
 * @throws ArgumentError for a bad batch size
 */
export function epochBatches(dataset: Pick<Dataset, "examples">, epoch: number, options: BatchOptions): TrainBatch[] {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ArgumentError(`batchSize must be a positive integer, got ${batchSize}`);
  const n = dataset.examples.length;
  const order = (options.shuffle ?? true) ? epochOrder(n, options.seed ?? 0, epoch) : Array.from({ length: n }, (_, i) => i);
  const batches: TrainBatch[] = [];
  for (let i = 0; i < n; i += batchSize) batches.push(collate(order.slice(i, i + batchSize).map((k) => dataset.examples[k]!), options.padTokenId));
  return batches;
}

/**
 * Micro-batches across epochs without end, from micro-batch `start` (0-based over the whole run), as
 * Trainer's dataloader yields them; a resumed run passes the number already consumed and gets the
 * very batches the uninterrupted run would have had.
 * @throws ArgumentError for a bad batch size or start
 */
export function* microBatches(dataset: Pick<Dataset, "examples">, options: BatchOptions & { readonly start?: number }): Generator<{ batch: TrainBatch; epoch: number; index: number }> {
  const perEpoch = Math.ceil(dataset.examples.length / options.batchSize);
  const start = options.start ?? 0;
  if (!Number.isInteger(start) || start < 0) throw new ArgumentError(`start must be an integer >= 0, got ${start}`);
  for (let epoch = Math.floor(start / perEpoch), index = start; ; epoch++) {
    const batches = epochBatches(dataset, epoch, options);
    for (let k = index - epoch * perEpoch; k < batches.length; k++, index++) yield { batch: batches[k]!, epoch, index };
  }
}

/** Micro-batches in one epoch (the last one may be smaller). */
export function batchesPerEpoch(dataset: Pick<Dataset, "examples">, batchSize: number): number {
  return Math.ceil(dataset.examples.length / batchSize);
}
