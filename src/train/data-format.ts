// One line of a JSONL training file turned into a training example (token ids, attention mask,
// labels), in the four layouts transformers / TRL users write: `{"text"}` (language modelling, loss on
// every token), `{"prompt", "completion"}` (loss on the completion only, TRL's completion_only_loss),
// `{"messages"}` (the model's chat template, loss on assistant turns only: chat-mask.ts) and
// pre-tokenized `{"input_ids", "attention_mask"?, "labels"?}` used exactly as given (transformers'
// DataCollatorForLanguageModeling would copy input_ids to labels; missing mask = all ones).
//
// Decisions: `text` and `completion` end with the tokenizer's EOS (appended when not already last),
// as TRL's SFTTrainer does so the model learns to stop; `text` and `prompt` get the tokenizer's own
// BOS (its post-processor, as tokenizing in Python would). Keys of other layouts on the same line are
// an error (which layout was meant is ambiguous); unknown extra keys are reported once by the reader.

import { LlamaError } from "../errors.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { IGNORE_INDEX } from "./batch.js";
import { assistantMaskedExample, type ChatDataTokenizer } from "./chat-mask.js";
import { DatasetError } from "./data-error.js";

/** The layouts a line may have. */
export type ExampleFormat = "text" | "prompt-completion" | "messages" | "tokens";

/** One training sequence before batching. */
export interface TrainExample {
  /** (seqLen) */
  readonly inputIds: Int32Array;
  /** (seqLen) 1 = attend, 0 = padding given in the data */
  readonly attentionMask: Uint8Array;
  /** (seqLen) unshifted as in transformers; IGNORE_INDEX is not scored */
  readonly labels: Int32Array;
  readonly format: ExampleFormat;
  /** 1-based line of the file it came from */
  readonly line: number;
}

/** What turning text into ids needs: chat formatting plus the EOS id and a token's bytes. */
export type DataTokenizer = ChatDataTokenizer;

/** Context of one line, for error messages. */
export interface LineContext {
  readonly file: string;
  readonly line: number;
  readonly vocabSize: number;
  readonly tokenizer: DataTokenizer | undefined;
  /** Append EOS to text and completion (default true). */
  readonly appendEos: boolean;
}

/** Which keys select which layout; a line must use exactly one layout. */
const LAYOUT_KEYS: Readonly<Record<ExampleFormat, readonly string[]>> = {
  text: ["text"],
  "prompt-completion": ["prompt", "completion"],
  messages: ["messages"],
  tokens: ["input_ids", "attention_mask", "labels"],
};

/** Every key some layout reads. */
export const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.values(LAYOUT_KEYS).flat());

/** The layout of a parsed line. @throws DatasetError for none or several */
export function detectFormat(object: JsonObject, ctx: LineContext): ExampleFormat {
  const found = (Object.keys(LAYOUT_KEYS) as ExampleFormat[]).filter((f) => LAYOUT_KEYS[f].some((key) => key in object));
  if (found.length === 0) {
    throw new DatasetError(ctx.file, ctx.line, undefined, `no "text", "prompt"/"completion", "messages" or "input_ids" field (keys: ${Object.keys(object).join(", ") || "none"})`);
  }
  if (found.length > 1) {
    const keys = found.flatMap((f) => LAYOUT_KEYS[f].filter((key) => key in object));
    throw new DatasetError(ctx.file, ctx.line, keys[1], `the line mixes the fields of two layouts (${keys.join(", ")}); use one of {"text"}, {"prompt","completion"}, {"messages"}, {"input_ids",...}`);
  }
  return found[0]!;
}

/**
 * Turn one JSONL line into an example.
 * @throws DatasetError naming file, line and field for bad JSON, wrong types, ids out of the
 *   vocabulary, empty values, mismatched lengths, or a text layout without a tokenizer
 */
export function parseExampleLine(text: string, ctx: LineContext): TrainExample {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new DatasetError(ctx.file, ctx.line, undefined, `not valid JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!isJsonObject(value)) throw new DatasetError(ctx.file, ctx.line, undefined, `each line must be a JSON object, got ${describe(value)}`);
  const format = detectFormat(value, ctx);
  if (format === "tokens") return tokensExample(value, ctx);
  const tokenizer = ctx.tokenizer;
  if (tokenizer === undefined) {
    throw new DatasetError(ctx.file, ctx.line, LAYOUT_KEYS[format][0], "text needs a tokenizer, and the model folder has none (give --tokenizer DIR, or pre-tokenized input_ids)");
  }
  const built = wrapLibraryErrors(ctx, () => {
    if (format === "text") return textExample(requiredString(value, "text", ctx), tokenizer, ctx);
    if (format === "prompt-completion") return promptCompletionExample(value, tokenizer, ctx);
    return assistantMaskedExample(value["messages"], tokenizer, (field, message) => new DatasetError(ctx.file, ctx.line, field, message));
  });
  checkIds(built.inputIds, LAYOUT_KEYS[format][0]!, ctx);
  return { ...built, attentionMask: new Uint8Array(built.inputIds.length).fill(1), format, line: ctx.line };
}

/** Library errors (chat template failures, bad messages) become DatasetErrors naming the line. */
function wrapLibraryErrors<T>(ctx: LineContext, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof DatasetError || !(error instanceof LlamaError)) throw error;
    // Chat validation messages start with the path of the field: "messages[1].role: ...".
    const match = /^(messages(?:\[\d+\])?(?:\.\w+)?): (.*)$/s.exec(error.message);
    throw new DatasetError(ctx.file, ctx.line, match?.[1] ?? "messages", match?.[2] ?? error.message, { cause: error });
  }
}

function textExample(text: string, tokenizer: DataTokenizer, ctx: LineContext): { inputIds: Int32Array; labels: Int32Array } {
  const ids = withEos(tokenizer.encode(text), tokenizer, ctx.appendEos);
  return { inputIds: Int32Array.from(ids), labels: Int32Array.from(ids) };
}

function promptCompletionExample(object: JsonObject, tokenizer: DataTokenizer, ctx: LineContext): { inputIds: Int32Array; labels: Int32Array } {
  const prompt = requiredString(object, "prompt", ctx);
  const completion = requiredString(object, "completion", ctx);
  // Tokenized apart and joined (TRL tokenizes prompt and prompt + completion; joining keeps the
  // boundary exact: no token spans it).
  const promptIds = tokenizer.encode(prompt);
  const completionIds = withEos(tokenizer.encode(completion, { addSpecialTokens: false }), tokenizer, ctx.appendEos);
  const ids = [...promptIds, ...completionIds];
  const labels = Int32Array.from(ids);
  labels.fill(IGNORE_INDEX, 0, promptIds.length);
  return { inputIds: Int32Array.from(ids), labels };
}

function withEos(ids: number[], tokenizer: DataTokenizer, appendEos: boolean): number[] {
  if (appendEos && ids[ids.length - 1] !== tokenizer.eosTokenId) ids.push(tokenizer.eosTokenId);
  return ids;
}

/** A pre-tokenized line, checked and used exactly. */
function tokensExample(object: JsonObject, ctx: LineContext): TrainExample {
  if (!("input_ids" in object)) throw new DatasetError(ctx.file, ctx.line, "input_ids", "missing (attention_mask and labels need input_ids)");
  const inputIds = intArray(object["input_ids"], "input_ids", ctx);
  if (inputIds.length === 0) throw new DatasetError(ctx.file, ctx.line, "input_ids", "is empty");
  checkIds(inputIds, "input_ids", ctx);
  const n = inputIds.length;
  let attentionMask = new Uint8Array(n).fill(1);
  if (object["attention_mask"] !== undefined) {
    const mask = intArray(object["attention_mask"], "attention_mask", ctx);
    sameLength(mask.length, n, "attention_mask", ctx);
    mask.forEach((m, i) => {
      if (m !== 0 && m !== 1) throw new DatasetError(ctx.file, ctx.line, `attention_mask[${i}]`, `is ${m}; a mask holds 0 or 1`);
    });
    if (mask[0] === 0) throw new DatasetError(ctx.file, ctx.line, "attention_mask[0]", "is 0: rows are right-padded, so the first token must be attended to");
    attentionMask = Uint8Array.from(mask);
  }
  let labels: Int32Array = Int32Array.from(inputIds);
  if (object["labels"] !== undefined) {
    labels = intArray(object["labels"], "labels", ctx);
    sameLength(labels.length, n, "labels", ctx);
    labels.forEach((label, i) => {
      if (label !== IGNORE_INDEX && (label < 0 || label >= ctx.vocabSize)) {
        throw new DatasetError(ctx.file, ctx.line, `labels[${i}]`, `is ${label}; labels are token ids in [0, ${ctx.vocabSize}) or ${IGNORE_INDEX} (ignored)`);
      }
    });
  }
  return { inputIds, attentionMask, labels, format: "tokens", line: ctx.line };
}

function checkIds(ids: Int32Array, field: string, ctx: LineContext): void {
  ids.forEach((id, i) => {
    if (id < 0 || id >= ctx.vocabSize) throw new DatasetError(ctx.file, ctx.line, `${field}[${i}]`, `token id ${id} is outside the model's vocabulary [0, ${ctx.vocabSize})`);
  });
}

function sameLength(actual: number, expected: number, field: string, ctx: LineContext): void {
  if (actual !== expected) throw new DatasetError(ctx.file, ctx.line, field, `has ${actual} entries; input_ids has ${expected}`);
}

/** A JSON array of 32-bit integers. */
function intArray(value: unknown, field: string, ctx: LineContext): Int32Array<ArrayBuffer> {
  if (!Array.isArray(value)) throw new DatasetError(ctx.file, ctx.line, field, `must be an array of integers, got ${describe(value)}`);
  const out = new Int32Array(value.length);
  value.forEach((v: unknown, i) => {
    if (typeof v !== "number" || !Number.isInteger(v) || Math.abs(v) > 0x7fffffff) throw new DatasetError(ctx.file, ctx.line, `${field}[${i}]`, `must be an integer, got ${describe(v)}`);
    out[i] = v;
  });
  return out;
}

function requiredString(object: JsonObject, key: string, ctx: LineContext): string {
  const value = object[key];
  if (value === undefined) throw new DatasetError(ctx.file, ctx.line, key, "missing");
  if (typeof value !== "string") throw new DatasetError(ctx.file, ctx.line, key, `must be a string, got ${describe(value)}`);
  if (value.length === 0) throw new DatasetError(ctx.file, ctx.line, key, "is empty");
  return value;
}

/** A short description of a JSON value for messages. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}...` : value)}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
