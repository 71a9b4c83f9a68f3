// What the server needs from a generation engine and from the served model, as structural types: the
// server holds no tensors and imports no model code, so src/generate's GenerationEngine fits
// `ServerEngine` as it is, and tests can serve a small fake. Not an engine: see src/generate/engine.ts.

import type { GenerationEvent, GenerationOptions, SequenceOutput } from "../generate/types.js";
import type { Tokenizer } from "../tokenizer/index.js";

/** One submitted sequence: its events as they happen, or its outcome when awaited. */
export interface ServerRun extends AsyncIterable<GenerationEvent>, PromiseLike<SequenceOutput> {}

/** A generation engine that batches the sequences submitted to it. */
export interface ServerEngine {
  /**
   * Start generating after `promptIds`. Throws synchronously for invalid options or a prompt that
   * does not fit the context; aborting `options.signal` ends the sequence and rejects the run.
   */
  submit(promptIds: readonly number[], options: GenerationOptions): ServerRun;
  /** Sequences advancing in the batch now. */
  readonly activeCount: number;
  /** Sequences waiting for a place in the batch. */
  readonly queuedCount: number;
}

/** The model the server answers for. */
export interface ServedModel {
  /** The id clients name in `model` and that `/v1/models` lists (by default the folder's name). */
  readonly id: string;
  /** Most tokens of prompt and completion together (the config's max_position_embeddings). */
  readonly contextLength: number;
  /** The tokenizer that encodes prompts, formats chats and spells tokens for logprobs. */
  readonly tokenizer: Tokenizer;
  /** Ids that end a completion (the model's and the tokenizer's end-of-turn/end-of-text ids). */
  readonly stopTokenIds: readonly number[];
  /** Unix time (seconds) the model was loaded, reported as `created` by /v1/models. */
  readonly created: number;
}
