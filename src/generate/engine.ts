// The generation engine: continuous batching of many sequences over one model. Each step runs one
// batched forward (model.forwardBatch) over every active sequence, a new prompt's prefill beside
// the others' single decode tokens, then processes each sequence's logits (logits-processors.ts,
// transformers' order), picks its token, streams its text (text-output.ts) and checks its stops.
// Sequences join between steps up to maxBatch and leave as soon as they finish or are cancelled,
// freeing their KV cache. A sequence with a constraint (responseFormat or a Grammar) carries its own
// grammar state (token-constraint.ts): its mask is applied before the other processors, and it
// ends as soon as its document is complete. Everything else (pipeline, CLI, server) is a client of submit().
// After vLLM's scheduler idea (iteration-level batching, Orca, OSDI '22), kept minimal: no
// chunked prefill, no paged cache.

import { ArgumentError, NumericalError } from "../errors.js";
import type { GenerationDefaults } from "../model/generation-config.js";
import { type KvCache, type KvDType, KV_DTYPES } from "../model/kv-cache.js";
import type { LlamaModel } from "../model/llama.js";
import { Rng } from "../tensor/rng.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { type LogitsProcessor, buildProcessors, logSoftmaxNormalizer } from "./logits-processors.js";
import { type ResolvedGeneration, resolveGeneration } from "./options.js";
import { argmax, firstNonFinite, sampleFromScores, topKIds } from "./sampling.js";
import { TextOutput } from "./text-output.js";
import { TokenConstraint, TokenGrammar, TokenVocabulary } from "./token-constraint.js";
import type { DoneEvent, GenerationEvent, GenerationOptions, SequenceOutput, TokenEvent, TokenLogprob } from "./types.js";

/** Sequences advanced together when the caller sets no limit. */
export const DEFAULT_MAX_BATCH = 8;

export interface GenerationEngineOptions {
  /** Most sequences in one batched step (default 8); more wait in a queue. 1 = one at a time. */
  readonly maxBatch?: number;
  /** Turns tokens into text deltas and enables stopStrings; without it, events carry no text. */
  readonly tokenizer?: Tokenizer;
  /** generation_config.json's defaults (sampling parameters, max_new_tokens). */
  readonly defaults?: GenerationDefaults;
  /** How each sequence's KV cache stores keys/values: "f32" (default), or "f16" / "bf16" (half the memory). */
  readonly kvCacheDType?: KvDType;
}

/** A generation in progress: an async iterable of its events and a promise of its result. */
export class GenerationRun<R> implements AsyncIterable<GenerationEvent>, PromiseLike<R> {
  private readonly buffered: GenerationEvent[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private iterating = false;
  private resolveResult!: (value: R) => void;
  private rejectResult!: (error: unknown) => void;
  /** Resolves with the result when every sequence is done; rejects on abort or error. */
  readonly result: Promise<R>;

  /** @param cancel stops the run's sequences (an iterator left early calls it) */
  constructor(private readonly cancel: () => void) {
    this.result = new Promise<R>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.result.catch(() => {}); // a consumer that only iterates sees the error there instead
  }

  /** @internal */ emit(event: GenerationEvent): void {
    this.buffered.push(event);
    this.wake?.();
  }

  /** @internal */ finish(result: R): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveResult(result);
    this.wake?.();
  }

  /** @internal */ fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = { error };
    this.rejectResult(error);
    this.wake?.();
  }

  then<A = R, B = never>(onFulfilled?: ((value: R) => A | PromiseLike<A>) | null, onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.result.then(onFulfilled, onRejected);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GenerationEvent, void, undefined> {
    if (this.iterating) throw new ArgumentError("a generation's events can be iterated only once");
    this.iterating = true;
    let completed = false;
    try {
      for (;;) {
        const event = this.buffered.shift();
        if (event !== undefined) {
          yield event;
          continue;
        }
        if (this.failure !== undefined) throw this.failure.error;
        if (this.ended) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
      completed = true;
    } finally {
      if (!completed && !this.ended) this.cancel(); // the consumer stopped early: free the slots
    }
  }
}

/** One sequence being generated. */
interface Sequence {
  readonly run: GenerationRun<unknown>;
  readonly index: number;
  readonly promptIds: readonly number[];
  readonly options: ResolvedGeneration;
  readonly processors: readonly LogitsProcessor[];
  /** The grammar state of a constrained sequence. */
  readonly constraint: TokenConstraint | undefined;
  readonly rng: Rng;
  readonly text: TextOutput;
  readonly stop: ReadonlySet<number>;
  readonly generated: number[];
  readonly logprobs: { tokenId: number; logprob: number; topLogprobs?: readonly TokenLogprob[] }[];
  cache: KvCache | undefined;
  /** Tokens for the next forward: the prompt, then each newly chosen token. */
  pending: readonly number[];
  /** Set when the run was cancelled (a broken-off iterator). */
  cancelled: boolean;
  readonly onDone: (output: SequenceOutput) => void;
}

/** Yield to the event loop between steps so I/O (HTTP, stdin, signals) keeps flowing. */
function nextMacrotask(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate !== undefined ? immediate(resolve) : setTimeout(resolve, 0)));
}

/** Continuous batching over one model. */
export class GenerationEngine {
  readonly maxBatch: number;
  private readonly queue: Sequence[] = [];
  private readonly active: Sequence[] = [];
  private running = false;

  /**
   * @param model the model every sequence runs on
   * @throws ArgumentError for a bad maxBatch
   * @example
   * const engine = new GenerationEngine(model, { tokenizer, maxBatch: 8 });
   * for await (const event of engine.submit(tokenizer.encode("Hello"), { maxNewTokens: 20 })) {
   *   if (event.type === "token") process.stdout.write(event.text);
   * }
   */
  constructor(readonly model: LlamaModel, private readonly options: GenerationEngineOptions = {}) {
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1) throw new ArgumentError(`maxBatch must be a positive integer, got ${this.maxBatch}`);
    if (options.kvCacheDType !== undefined && !KV_DTYPES.includes(options.kvCacheDType)) throw new ArgumentError(`kvCacheDType must be one of ${KV_DTYPES.join(", ")}, got ${String(options.kvCacheDType)}`);
  }

  /** Sequences in the running batch. */
  get activeCount(): number {
    return this.active.length;
  }

  /** Sequences waiting for a slot. */
  get queuedCount(): number {
    return this.queue.length;
  }

  /**
   * Queue one prompt for generation.
   * @returns a run: iterate it for events, or await it for the SequenceOutput
   * @throws ArgumentError (synchronously) for bad options or a prompt that does not fit the context
   */
  submit(promptIds: readonly number[], options: GenerationOptions = {}): GenerationRun<SequenceOutput> {
    return this.submitMany([promptIds], options, (outputs) => outputs[0]!);
  }

  /**
   * Queue several prompts as one run (events carry each one's `sequence` index).
   * @param collect turns the outputs into the run's result (default: the outputs themselves)
   * @returns a run resolving to one SequenceOutput per prompt, in order (or what collect makes of them)
   * @throws ArgumentError for bad options or prompts
   */
  submitBatch(prompts: readonly (readonly number[])[], options?: GenerationOptions): GenerationRun<SequenceOutput[]>;
  submitBatch<R>(prompts: readonly (readonly number[])[], options: GenerationOptions, collect: (outputs: SequenceOutput[]) => R): GenerationRun<R>;
  submitBatch<R>(prompts: readonly (readonly number[])[], options: GenerationOptions = {}, collect?: (outputs: SequenceOutput[]) => R): GenerationRun<R | SequenceOutput[]> {
    return this.submitMany<R | SequenceOutput[]>(prompts, options, collect ?? ((outputs) => outputs));
  }

  private submitMany<R>(prompts: readonly (readonly number[])[], options: GenerationOptions, result: (outputs: SequenceOutput[]) => R): GenerationRun<R> {
    if (prompts.length === 0) throw new ArgumentError("no prompts to generate from");
    const resolved = prompts.map((ids, i) => this.resolve(ids, options, prompts.length > 1 ? `prompt ${i}: ` : ""));
    if (resolved.some((r) => r.stopStrings.length > 0) && this.options.tokenizer === undefined) throw new ArgumentError("stopStrings need a tokenizer (give the engine one)");
    if (resolved.some((r) => r.constraint !== undefined) && this.options.tokenizer === undefined) throw new ArgumentError("responseFormat and constraint need a tokenizer, for its token bytes (pass `tokenizer` to the engine or to generate())");
    const outputs: SequenceOutput[] = [];
    let remaining = prompts.length;
    const sequences: Sequence[] = [];
    const run = new GenerationRun<R>(() => {
      for (const seq of sequences) seq.cancelled = true;
      void this.ensureRunning();
    });
    prompts.forEach((promptIds, index) => {
      const opts = resolved[index]!;
      const tokenizer = this.options.tokenizer;
      sequences.push({
        run: run as GenerationRun<unknown>,
        index,
        promptIds: [...promptIds],
        options: opts,
        // Under a constraint the grammar decides where the output ends: minNewTokens would fight it.
        processors: buildProcessors(opts.constraint === undefined ? opts : { ...opts, minNewTokens: 0 }),
        constraint: this.constraintFor(opts),
        rng: new Rng(opts.seed),
        text: new TextOutput(tokenizer?.createDecodeStream({ skipSpecialTokens: true }), opts.stopStrings),
        stop: new Set(opts.stopTokenIds),
        generated: [],
        logprobs: [],
        cache: undefined,
        pending: [...promptIds],
        cancelled: false,
        onDone: (output) => {
          outputs[index] = output;
          if (--remaining === 0) run.finish(result(outputs));
        },
      });
    });
    const signal = resolved[0]!.signal;
    if (signal?.aborted === true) {
      run.fail(signal.reason);
      return run;
    }
    for (const seq of sequences) {
      if (seq.options.maxNewTokens === 0) this.complete(seq, "length");
      else this.queue.push(seq);
    }
    void this.ensureRunning();
    return run;
  }

  private constraintFor(opts: ResolvedGeneration): TokenConstraint | undefined {
    if (opts.constraint === undefined) return undefined;
    const vocabulary = TokenVocabulary.of(this.options.tokenizer!, this.model.config.vocabSize);
    return new TokenConstraint(TokenGrammar.of(opts.constraint, vocabulary), opts.stopTokenIds);
  }

  private resolve(promptIds: readonly number[], options: GenerationOptions, where: string): ResolvedGeneration {
    const { vocabSize, maxPositionEmbeddings, eosTokenIds } = this.model.config;
    if (!Array.isArray(promptIds) || promptIds.length === 0) throw new ArgumentError(`${where}the prompt needs at least one token`);
    const bad = promptIds.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
    if (bad >= 0) throw new ArgumentError(`${where}prompt token ${bad} is ${promptIds[bad]}: token ids must be integers in [0, ${vocabSize})`);
    if (promptIds.length >= maxPositionEmbeddings) {
      throw new ArgumentError(`${where}the prompt has ${promptIds.length} tokens; the model's context is ${maxPositionEmbeddings} (room is needed for at least one new token)`);
    }
    const defaults = this.options.defaults;
    const resolved = resolveGeneration(options, { eosTokenIds, vocabSize, promptLength: promptIds.length, ...(defaults === undefined ? {} : { defaults }) });
    // Generation ends at the end of the context, as finishReason "length".
    return { ...resolved, maxNewTokens: Math.min(resolved.maxNewTokens, maxPositionEmbeddings - promptIds.length) };
  }

  private async ensureRunning(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 || this.active.length > 0) {
        await this.step();
        await nextMacrotask();
      }
    } finally {
      this.running = false;
    }
  }

  /** Drop cancelled and aborted sequences, admit queued ones, run one batched forward, pick tokens. */
  private async step(): Promise<void> {
    for (const list of [this.queue, this.active]) {
      for (let i = list.length - 1; i >= 0; i--) {
        const seq = list[i]!;
        const signal = seq.options.signal;
        if (seq.cancelled || signal?.aborted === true) {
          list.splice(i, 1);
          seq.cache?.release();
          seq.cache = undefined;
          seq.run.fail(signal?.aborted === true ? signal.reason : new ArgumentError("generation cancelled"));
        }
      }
    }
    while (this.active.length < this.maxBatch && this.queue.length > 0) {
      const seq = this.queue.shift()!;
      seq.cache = this.model.createKvCache({ maxSeqLen: seq.promptIds.length + seq.options.maxNewTokens, dtype: this.options.kvCacheDType ?? "f32" });
      this.active.push(seq);
      try {
        seq.options.onStart?.();
      } catch (error) {
        this.remove(seq).run.fail(error); // a throwing callback fails its own sequence only
      }
    }
    if (this.active.length === 0) return;
    const batch = [...this.active];
    let logits: Float32Array[];
    try {
      logits = await this.model.forwardBatch(batch.map((seq) => ({ tokens: seq.pending, cache: seq.cache! })));
    } catch (error) {
      for (const seq of batch) this.remove(seq).run.fail(error);
      return;
    }
    batch.forEach((seq, i) => {
      if (seq.cancelled) return; // handled at the next step
      try {
        this.advance(seq, logits[i]!);
      } catch (error) {
        this.remove(seq).run.fail(error);
      }
    });
  }

  /** Choose a sequence's next token from its logits (vocabSize), stream it, check its stops. */
  private advance(seq: Sequence, logits: Float32Array): void {
    const o = seq.options;
    const bad = firstNonFinite(logits);
    if (bad >= 0) throw new NumericalError(`step ${seq.generated.length}: logit of token ${bad} is ${logits[bad]}; the model produced non-finite values (float16 overflow or a degenerate config?)`);
    const scores = seq.processors.length > 0 || seq.constraint !== undefined ? Float32Array.from(logits) : logits;
    const context = { promptIds: seq.promptIds, generatedIds: seq.generated };
    // The mask first, so top-k / top-p choose among allowed tokens (llama.cpp applies its grammar first too).
    seq.constraint?.apply(scores);
    for (const process of seq.processors) process(scores, context);
    const tokenId = o.doSample ? sampleFromScores(scores, seq.rng) : argmax(scores);
    seq.constraint?.accept(tokenId);
    seq.generated.push(tokenId);

    let logprob: number | undefined;
    let topLogprobs: TokenLogprob[] | undefined;
    if (o.logprobs) {
      // Log-probabilities under the model's raw distribution (before penalties and warpers), as
      // vLLM reports them by default.
      const normalizer = logSoftmaxNormalizer(logits);
      logprob = logits[tokenId]! - normalizer;
      if (o.topLogprobs > 0) topLogprobs = topKIds(logits, o.topLogprobs).map((id) => ({ tokenId: id, logprob: logits[id]! - normalizer }));
      seq.logprobs.push({ tokenId, logprob, ...(topLogprobs === undefined ? {} : { topLogprobs }) });
    }

    let { delta, stopString } = seq.text.push(tokenId);
    let finish: { reason: "stop" | "length"; by?: number | string } | undefined;
    if (stopString !== undefined) finish = { reason: "stop", by: stopString };
    else if (seq.stop.has(tokenId)) finish = { reason: "stop", by: tokenId };
    else if (seq.constraint?.finished === true) finish = { reason: "stop" };
    else if (seq.generated.length >= o.maxNewTokens) finish = { reason: "length" };
    if (finish !== undefined && stopString === undefined) delta += seq.text.finish();

    const event: TokenEvent = {
      type: "token",
      sequence: seq.index,
      tokenId,
      text: delta,
      ...(logprob === undefined ? {} : { logprob }),
      ...(topLogprobs === undefined ? {} : { topLogprobs }),
    };
    seq.run.emit(event);
    if (finish === undefined) {
      seq.pending = [tokenId];
      return;
    }
    this.remove(seq);
    this.complete(seq, finish.reason, finish.by);
  }

  private remove(seq: Sequence): Sequence {
    const at = this.active.indexOf(seq);
    if (at >= 0) this.active.splice(at, 1);
    seq.cache?.release(); // the backend's memory is not garbage-collected promptly: give it back now
    seq.cache = undefined;
    return seq;
  }

  private complete(seq: Sequence, finishReason: "stop" | "length", stoppedBy?: number | string): void {
    const output: SequenceOutput = {
      tokenIds: [...seq.generated],
      text: seq.text.text,
      finishReason,
      ...(stoppedBy === undefined ? {} : { stoppedBy }),
      promptTokens: seq.promptIds.length,
      ...(seq.options.logprobs ? { logprobs: seq.logprobs } : {}),
    };
    const done: DoneEvent = {
      type: "done",
      sequence: seq.index,
      finishReason,
      ...(stoppedBy === undefined ? {} : { stoppedBy }),
      tokenIds: output.tokenIds,
      text: output.text,
      promptTokens: output.promptTokens,
    };
    seq.run.emit(done);
    seq.onDone(output);
  }
}
