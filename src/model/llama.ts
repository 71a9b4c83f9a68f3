// The Llama 3 forward pass: token ids in, logits out. A config, a weights record, a run state of
// scratch buffers and one forward() readable top to bottom, after meta-llama/llama3 llama/model.py
// (Transformer.forward) and karpathy/llama2.c run.c. The model owns no infrastructure: no files, no
// tokenizer, no sampling. The KV cache is created by the caller and passed in; kernels come from a
// Backend, which dispatches on each weight's dtype, so the same code runs f32, f16 and bf16 weights.

import type { Backend } from "../backend/backend.js";
import { referenceBackend } from "../backend/reference.js";
import { ArgumentError } from "../errors.js";
import type { WeightTensor } from "../tensor/tensor.js";
import { type LlamaConfig, kvDim, qDim } from "./config.js";
import { type BatchSequence, type Piece, batchPasses } from "./batch-plan.js";
import { type Float32Allocator, KvCache, type KvCacheOptions } from "./kv-cache.js";

export type { BatchSequence } from "./batch-plan.js";
import { type ResizeEmbeddingsOptions, resizeTokenEmbeddings } from "./resize-embeddings.js";
import { RopeTable, ropeInverseFrequencies } from "./rope.js";
import { type LlamaWeights, checkWeights } from "./weights.js";
import type { LoraAdapter } from "./lora.js";
import { type LoraDelta, addLoraDelta, loraDeltas, mergeLora } from "./lora-apply.js";

/** Tokens processed per pass through the layers; longer inputs are split (results are identical). */
const MAX_CHUNK_TOKENS = 256;

export interface ForwardOptions {
  /** Return logits for every input position, (nTokens, vocabSize); default: only the last, (vocabSize). */
  readonly allLogits?: boolean;
}

export interface LlamaModelOptions {
  /** Kernels to run on; default the reference backend. */
  readonly backend?: Backend;
}

/** Scratch buffers for up to `nTokens` tokens at a time, reused across calls. */
class RunState {
  /** (nTokens, dim) the residual stream */ x: Float32Array;
  /** (nTokens, dim) normalised input of a sublayer, then its output */ xb: Float32Array;
  /** (nTokens, nHeads * headDim) */ q: Float32Array;
  /** (nTokens, nKvHeads * headDim) new keys, before they are copied into their caches */ k: Float32Array;
  /** (nTokens, nKvHeads * headDim) new values */ v: Float32Array;
  /** (nTokens, nHeads * headDim) attention output before wo */ att: Float32Array;
  /** (nTokens, hiddenDim) */ gate: Float32Array;
  /** (nTokens, hiddenDim) */ up: Float32Array;
  /** (nTokens, headDim / 2) rotary cos/sin of each row's position */ cos: Float32Array;
  /** (nTokens, headDim / 2) */ sin: Float32Array;

  /** @param allocate where the buffers live (the backend's memory when it offers allocateFloat32) */
  constructor(readonly nTokens: number, config: LlamaConfig, allocate: (length: number) => Float32Array) {
    this.x = allocate(nTokens * config.dim);
    this.xb = allocate(nTokens * config.dim);
    this.q = allocate(nTokens * qDim(config));
    this.k = allocate(nTokens * kvDim(config));
    this.v = allocate(nTokens * kvDim(config));
    this.att = allocate(nTokens * qDim(config));
    this.gate = allocate(nTokens * config.hiddenDim);
    this.up = allocate(nTokens * config.hiddenDim);
    this.cos = allocate((nTokens * config.headDim) / 2);
    this.sin = allocate((nTokens * config.headDim) / 2);
  }

  /** Give the buffers back (to the backend that allocated them). */
  release(free: (array: Float32Array) => void): void {
    for (const a of [this.x, this.xb, this.q, this.k, this.v, this.att, this.gate, this.up, this.cos, this.sin]) free(a);
  }
}

/** A Llama 3 causal language model ready to run. */
export class LlamaModel {
  readonly backend: Backend;
  private readonly rope: RopeTable;
  private state: RunState | undefined;
  private currentConfig: LlamaConfig;
  private currentWeights: LlamaWeights;
  private currentAdapter: LoraAdapter | undefined;
  /** What linear() adds per adapted weight (model/lora-apply.ts); undefined without an adapter. */
  private adapterDeltas: Map<WeightTensor, LoraDelta> | undefined;

  /**
   * @param config the model configuration
   * @param weights weights matching the config (checked)
   * @throws ShapeError when a weight's shape does not match the config
   */
  constructor(config: LlamaConfig, weights: LlamaWeights, options: LlamaModelOptions = {}) {
    checkWeights(config, weights);
    this.currentConfig = config;
    this.currentWeights = weights;
    this.backend = options.backend ?? referenceBackend;
    this.rope = new RopeTable(ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling));
  }

  /** The model configuration (vocabSize and padTokenId change with resizeTokenEmbeddings). */
  get config(): LlamaConfig {
    return this.currentConfig;
  }

  /** The weights, in the layout the kernels read. */
  get weights(): LlamaWeights {
    return this.currentWeights;
  }

  /** The LoRA adapter applied at every forward (setAdapter), if any. */
  get adapter(): LoraAdapter | undefined {
    return this.currentAdapter;
  }

  /**
   * Apply a LoRA adapter at every projection it targets (y = W x + scale * B (A x)), or remove it
   * with undefined. The base weights are unchanged; see mergeAdapter to fold it in.
   * @throws ShapeError / UnsupportedError when the adapter does not fit this model
   * @example
   * model.setAdapter(await readPeftAdapter("out/adapter"));
   */
  setAdapter(adapter: LoraAdapter | undefined): void {
    this.adapterDeltas = adapter === undefined ? undefined : loraDeltas(this.currentConfig, this.currentWeights, adapter);
    this.currentAdapter = adapter;
  }

  /**
   * Merge a LoRA adapter into the weights (W + scale * B A, in W's dtype; PEFT's merge_and_unload).
   * Any adapter set with setAdapter is removed.
   * @throws ShapeError / UnsupportedError when it does not fit, or for block-format (q8_0) weights
   */
  mergeAdapter(adapter: LoraAdapter): void {
    const merged = mergeLora(this.currentConfig, this.currentWeights, adapter);
    checkWeights(this.currentConfig, merged);
    this.currentWeights = merged;
    this.setAdapter(undefined);
  }

  /**
   * Resize the vocabulary of the embedding and the output head, e.g. after adding a pad token to
   * the tokenizer (transformers' `resize_token_embeddings`). New rows are drawn around the mean of
   * the old ones; the pad row, if given, is zero and `config.padTokenId` records it.
   * @param newVocabSize the tokenizer's new vocabSize
   * @throws ArgumentError for a bad size or pad id
   * @example
   * tokenizer.addSpecialTokens({ padToken: "<pad>" });
   * model.resizeTokenEmbeddings(tokenizer.vocabSize, { rng: new Rng(0), padTokenId: tokenizer.padTokenId });
   */
  resizeTokenEmbeddings(newVocabSize: number, options: ResizeEmbeddingsOptions): void {
    const resized = resizeTokenEmbeddings(this.currentConfig, this.currentWeights, newVocabSize, options);
    checkWeights(resized.config, resized.weights);
    this.currentConfig = resized.config;
    this.currentWeights = this.inBackendMemory(resized.weights);
  }

  /**
   * The resized embedding and head moved into the backend's memory when it has its own (as the
   * loader places every weight): a backend copies and caches arrays it is handed from outside, and
   * training updates these in place, so a cached copy would go stale.
   */
  private inBackendMemory(weights: LlamaWeights): LlamaWeights {
    const allocate = this.backend.allocateWeight?.bind(this.backend);
    if (allocate === undefined) return weights;
    const place = (w: WeightTensor): WeightTensor => {
      const placed = allocate(w.dtype, w.shape);
      new Uint8Array(placed.data.buffer, placed.data.byteOffset, placed.data.byteLength).set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
      return placed;
    };
    const tokenEmbedding = place(weights.tokenEmbedding);
    const output = weights.output === weights.tokenEmbedding ? tokenEmbedding : place(weights.output);
    return { ...weights, tokenEmbedding, output };
  }

  /**
   * A new, empty KV cache for this model (the caller owns it; one per sequence).
   * @param options.maxSeqLen most positions it may hold (default: the config's maxPositionEmbeddings)
   * @param options.dtype how keys/values are stored: "f32" (default), "f16" or "bf16" (half the memory)
   * @throws ArgumentError for a maxSeqLen that is not a positive integer, or an unknown dtype
   * @example
   * const cache = model.createKvCache({ dtype: "bf16" });
   */
  createKvCache(options: KvCacheOptions = {}): KvCache {
    // In the backend's memory when it has one, so attention reads the cache without copying it.
    const allocator = this.float32Allocator();
    return new KvCache(this.config, allocator === undefined ? options : { allocator, ...options });
  }

  /** The backend's allocateFloat32/freeFloat32, when it has them. */
  private float32Allocator(): Float32Allocator | undefined {
    const b = this.backend;
    if (b.allocateFloat32 === undefined) return undefined;
    return { allocateFloat32: (n) => b.allocateFloat32!(n), freeFloat32: (a) => b.freeFloat32?.(a) };
  }

  /**
   * Run the model on `tokens`, which continue the sequence held in `cache` (positions
   * cache.length onwards), appending their keys and values to the cache.
   *
   * @param tokens token ids, each in [0, vocabSize)
   * @param cache the sequence's KV cache (from createKvCache); it grows by tokens.length
   * @returns logits as float32: (vocabSize) for the last token, or (nTokens, vocabSize) with allLogits
   * @throws ArgumentError for an empty input, a bad token id or a cache of another shape or too small
   * @example
   * const cache = model.createKvCache();
   * const logits = await model.forward([128000, 791, 6864], cache);
   */
  async forward(tokens: readonly number[], cache: KvCache, options: ForwardOptions = {}): Promise<Float32Array> {
    const [logits] = await this.forwardBatch([{ tokens, cache }], options);
    return logits!;
  }

  /**
   * Run several sequences at once, each continuing its own KV cache: their tokens share every
   * matrix product (one read of the weights for the whole batch) and attend only to their own
   * cache. Results equal separate forward() calls. Sequences may have different lengths and
   * positions (a prompt being prefilled beside others decoding one token).
   *
   * @param sequences new tokens and the cache of each sequence (distinct caches)
   * @returns one logits array per sequence, as forward() returns them
   * @throws ArgumentError as forward(), naming the sequence; also when two sequences share a cache
   * @example
   * const [a, b] = await model.forwardBatch([{ tokens: [791], cache: cacheA }, { tokens: [12, 7], cache: cacheB }]);
   */
  async forwardBatch(sequences: readonly BatchSequence[], options: ForwardOptions = {}): Promise<Float32Array[]> {
    if (sequences.length === 0) throw new ArgumentError("forwardBatch() needs at least one sequence");
    sequences.forEach((seq, i) => this.checkInput(seq.tokens, seq.cache, sequences.length > 1 ? `sequence ${i}: ` : ""));
    if (new Set(sequences.map((seq) => seq.cache)).size !== sequences.length) throw new ArgumentError("each sequence of a batch needs its own KV cache");
    const vocabSize = this.config.vocabSize;
    const allLogits = options.allLogits ?? false;
    const results = sequences.map((seq) => new Float32Array((allLogits ? seq.tokens.length : 1) * vocabSize)); // (nTokens or 1, vocabSize)
    for (const pass of batchPasses(sequences, results, allLogits, vocabSize, MAX_CHUNK_TOKENS)) this.forwardPass(pass.pieces, pass.nRows);
    return results;
  }

  /** One pass over the layers for `nRows` tokens (<= MAX_CHUNK_TOKENS) made of `pieces`. */
  private forwardPass(pieces: readonly Piece[], nRows: number): void {
    const { config, weights, backend: b } = this;
    const { dim, hiddenDim, nHeads, nKvHeads, headDim, normEps } = config;
    const n = nRows;
    const kvWidth = kvDim(config);
    const half = headDim / 2;
    const s = this.runState(n);
    const x = s.x.subarray(0, n * dim); // (n, dim)
    const xb = s.xb.subarray(0, n * dim); // (n, dim)
    const q = s.q.subarray(0, n * qDim(config)); // (n, nHeads, headDim)
    const k = s.k.subarray(0, n * kvWidth); // (n, nKvHeads, headDim)
    const v = s.v.subarray(0, n * kvWidth); // (n, nKvHeads, headDim)
    const att = s.att.subarray(0, n * qDim(config)); // (n, nHeads, headDim)
    const gate = s.gate.subarray(0, n * hiddenDim); // (n, hiddenDim)
    const up = s.up.subarray(0, n * hiddenDim); // (n, hiddenDim)
    const cos = s.cos.subarray(0, n * half); // (n, headDim / 2) at each row's own position
    const sin = s.sin.subarray(0, n * half); // (n, headDim / 2)

    for (const p of pieces) {
      p.cache.reserve(p.startPos + p.tokens.length);
      this.rope.ensure(p.startPos + p.tokens.length);
      cos.set(this.rope.cosRows(p.startPos, p.tokens.length), p.row * half);
      sin.set(this.rope.sinRows(p.startPos, p.tokens.length), p.row * half);
    }
    b.embed(x, weights.tokenEmbedding, pieces.flatMap((p) => p.tokens));

    weights.layers.forEach((layer, l) => {
      // Attention: every row's q, k, v in one product each; each piece then attends to its own cache.
      b.rmsNorm(xb, x, layer.attnNorm, n, normEps);
      this.linear(q, xb, layer.attnQ, n);
      this.linear(k, xb, layer.attnK, n);
      this.linear(v, xb, layer.attnV, n);
      b.rope(q, n, nHeads, headDim, cos, sin);
      b.rope(k, n, nKvHeads, headDim, cos, sin);
      for (const p of pieces) {
        const rows = p.tokens.length;
        // Rounded to the cache's dtype as they are stored; attention widens them back.
        p.cache.write(l, p.startPos, k.subarray(p.row * kvWidth, (p.row + rows) * kvWidth), v.subarray(p.row * kvWidth, (p.row + rows) * kvWidth));
        const keys = p.cache.keys(l); // (capacity, nKvHeads, headDim) in the cache's dtype
        const values = p.cache.values(l); // (capacity, nKvHeads, headDim)
        const qRows = q.subarray(p.row * nHeads * headDim, (p.row + rows) * nHeads * headDim); // (rows, nHeads, headDim)
        const out = att.subarray(p.row * nHeads * headDim, (p.row + rows) * nHeads * headDim); // (rows, nHeads, headDim)
        b.attention(out, qRows, keys, values, { nTokens: rows, startPos: p.startPos, nHeads, nKvHeads, headDim });
      }
      this.linear(xb, att, layer.attnOutput, n);
      b.addInPlace(x, xb);

      // SwiGLU feed-forward: w2(silu(w1 x) * w3 x).
      b.rmsNorm(xb, x, layer.ffnNorm, n, normEps);
      this.linear(gate, xb, layer.ffnGate, n);
      this.linear(up, xb, layer.ffnUp, n);
      b.swiglu(gate, gate, up);
      this.linear(xb, gate, layer.ffnDown, n);
      b.addInPlace(x, xb);
    });
    for (const p of pieces) p.cache.advance(p.tokens.length);

    // Final norm and output head, only for the rows whose logits were asked for.
    for (const p of pieces) {
      if (p.logits === undefined) continue;
      const nLogitRows = p.allLogits ? p.tokens.length : 1;
      const firstRow = p.row + p.tokens.length - nLogitRows;
      const rows = x.subarray(firstRow * dim, (firstRow + nLogitRows) * dim); // (nLogitRows, dim)
      const normed = xb.subarray(0, nLogitRows * dim); // (nLogitRows, dim)
      b.rmsNorm(normed, rows, weights.outputNorm, nLogitRows, normEps);
      this.linear(p.logits, normed, weights.output, nLogitRows);
    }
  }

  /**
   * A projection, out (n, outFeatures) = x (n, inFeatures) @ w^T: every weight matrix of the pass
   * goes through here, the one place an adapter (LoRA's y += scale * B(Ax)) hooks in, as llama.cpp's
   * build_lora_mm and mlx-lm's LoRALinear do.
   */
  private linear(out: Float32Array, x: Float32Array, w: WeightTensor, n: number): void {
    this.backend.matmul(out, x, w, n);
    const delta = this.adapterDeltas?.get(w);
    if (delta !== undefined) addLoraDelta(this.backend, out, x, delta, n);
  }

  private runState(nTokens: number): RunState {
    if (this.state === undefined || this.state.nTokens < nTokens) {
      const allocator = this.float32Allocator();
      if (allocator !== undefined) this.state?.release((a) => allocator.freeFloat32?.(a));
      const allocate = allocator === undefined ? (n: number) => new Float32Array(n) : (n: number) => allocator.allocateFloat32(n);
      this.state = new RunState(Math.max(nTokens, Math.min(MAX_CHUNK_TOKENS, (this.state?.nTokens ?? 0) * 2)), this.config, allocate);
    }
    return this.state;
  }

  private checkInput(tokens: readonly number[], cache: KvCache, where = ""): void {
    if (tokens.length === 0) throw new ArgumentError(`${where}forward() needs at least one token`);
    const { vocabSize, nLayers } = this.config;
    tokens.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new ArgumentError(`${where}token ${i} is ${id}: token ids must be integers in [0, ${vocabSize})`);
      }
    });
    if (cache.nLayers !== nLayers || cache.kvDim !== kvDim(this.config)) {
      throw new ArgumentError(`${where}the KV cache was made for a model of another shape`);
    }
    if (cache.length + tokens.length > cache.maxSeqLen) {
      throw new ArgumentError(`${where}cache holds ${cache.length} positions; ${tokens.length} more exceed its maxSeqLen ${cache.maxSeqLen}`);
    }
  }
}
