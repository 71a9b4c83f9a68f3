// The Llama 3 forward pass: token ids in, logits out. A config, a weights record, a run state of
// scratch buffers and one forward() readable top to bottom, after meta-llama/llama3 llama/model.py
// (Transformer.forward) and karpathy/llama2.c run.c. The model owns no infrastructure: no files, no
// tokenizer, no sampling. The KV cache is created by the caller and passed in; kernels come from a
// Backend, which dispatches on each weight's dtype, so the same code runs f32, f16 and bf16 weights.

import type { Backend } from "../backend/backend.js";
import { referenceBackend } from "../backend/reference.js";
import { ArgumentError } from "../errors.js";
import { type LlamaConfig, kvDim, qDim } from "./config.js";
import { KvCache, type KvCacheOptions } from "./kv-cache.js";
import { type ResizeEmbeddingsOptions, resizeTokenEmbeddings } from "./resize-embeddings.js";
import { RopeTable, ropeInverseFrequencies } from "./rope.js";
import { type LlamaWeights, checkWeights } from "./weights.js";

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
  /** (nTokens, nHeads * headDim) attention output before wo */ att: Float32Array;
  /** (nTokens, hiddenDim) */ gate: Float32Array;
  /** (nTokens, hiddenDim) */ up: Float32Array;

  constructor(readonly nTokens: number, config: LlamaConfig) {
    this.x = new Float32Array(nTokens * config.dim);
    this.xb = new Float32Array(nTokens * config.dim);
    this.q = new Float32Array(nTokens * qDim(config));
    this.att = new Float32Array(nTokens * qDim(config));
    this.gate = new Float32Array(nTokens * config.hiddenDim);
    this.up = new Float32Array(nTokens * config.hiddenDim);
  }
}

/** A Llama 3 causal language model ready to run. */
export class LlamaModel {
  readonly backend: Backend;
  private readonly rope: RopeTable;
  private state: RunState | undefined;
  private currentConfig: LlamaConfig;
  private currentWeights: LlamaWeights;

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
    this.currentWeights = resized.weights;
  }

  /**
   * A new, empty KV cache for this model (the caller owns it; one per sequence).
   * @param options.maxSeqLen most positions it may hold (default: the config's maxPositionEmbeddings)
   * @throws ArgumentError for a maxSeqLen that is not a positive integer
   */
  createKvCache(options: KvCacheOptions = {}): KvCache {
    return new KvCache(this.config, options);
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
    this.checkInput(tokens, cache);
    const vocabSize = this.config.vocabSize;
    const allLogits = options.allLogits ?? false;
    const logits = new Float32Array((allLogits ? tokens.length : 1) * vocabSize); // (nTokens or 1, vocabSize)
    for (let start = 0; start < tokens.length; start += MAX_CHUNK_TOKENS) {
      const chunk = tokens.slice(start, start + MAX_CHUNK_TOKENS);
      const isLast = start + chunk.length === tokens.length;
      if (allLogits) this.forwardChunk(chunk, cache, logits.subarray(start * vocabSize, (start + chunk.length) * vocabSize), chunk.length);
      else this.forwardChunk(chunk, cache, isLast ? logits : undefined, 1);
    }
    return logits;
  }

  /** One pass of up to MAX_CHUNK_TOKENS tokens; writes the logits of its last `nLogitRows` tokens. */
  private forwardChunk(tokens: readonly number[], cache: KvCache, logits: Float32Array | undefined, nLogitRows: number): void {
    const { config, weights, backend: b } = this;
    const { dim, hiddenDim, nHeads, nKvHeads, headDim, normEps } = config;
    const n = tokens.length;
    const startPos = cache.length;
    const s = this.runState(n);
    const x = s.x.subarray(0, n * dim); // (n, dim)
    const xb = s.xb.subarray(0, n * dim); // (n, dim)
    const q = s.q.subarray(0, n * qDim(config)); // (n, nHeads, headDim)
    const att = s.att.subarray(0, n * qDim(config)); // (n, nHeads, headDim)
    const gate = s.gate.subarray(0, n * hiddenDim); // (n, hiddenDim)
    const up = s.up.subarray(0, n * hiddenDim); // (n, hiddenDim)
    const kvWidth = kvDim(config);

    cache.reserve(startPos + n);
    this.rope.ensure(startPos + n);
    const cos = this.rope.cosRows(startPos, n); // (n, headDim / 2)
    const sin = this.rope.sinRows(startPos, n); // (n, headDim / 2)
    b.embed(x, weights.tokenEmbedding, tokens);

    weights.layers.forEach((layer, l) => {
      // Attention: new keys and values go straight into the cache rows of their positions.
      const keys = cache.keys(l); // (capacity, nKvHeads, headDim)
      const values = cache.values(l); // (capacity, nKvHeads, headDim)
      const newKeys = keys.subarray(startPos * kvWidth, (startPos + n) * kvWidth); // (n, nKvHeads, headDim)
      const newValues = values.subarray(startPos * kvWidth, (startPos + n) * kvWidth); // (n, nKvHeads, headDim)
      b.rmsNorm(xb, x, layer.attnNorm, n, normEps);
      b.matmul(q, xb, layer.attnQ, n);
      b.matmul(newKeys, xb, layer.attnK, n);
      b.matmul(newValues, xb, layer.attnV, n);
      b.rope(q, n, nHeads, headDim, cos, sin);
      b.rope(newKeys, n, nKvHeads, headDim, cos, sin);
      b.attention(att, q, keys, values, { nTokens: n, startPos, nHeads, nKvHeads, headDim });
      b.matmul(xb, att, layer.attnOutput, n);
      b.addInPlace(x, xb);

      // SwiGLU feed-forward: w2(silu(w1 x) * w3 x).
      b.rmsNorm(xb, x, layer.ffnNorm, n, normEps);
      b.matmul(gate, xb, layer.ffnGate, n);
      b.matmul(up, xb, layer.ffnUp, n);
      b.swiglu(gate, gate, up);
      b.matmul(xb, gate, layer.ffnDown, n);
      b.addInPlace(x, xb);
    });
    cache.advance(n);

    if (logits === undefined) return;
    // Final norm and output head, only for the rows whose logits were asked for.
    const firstRow = n - nLogitRows;
    const rows = x.subarray(firstRow * dim); // (nLogitRows, dim)
    const normed = xb.subarray(0, nLogitRows * dim); // (nLogitRows, dim)
    b.rmsNorm(normed, rows, weights.outputNorm, nLogitRows, normEps);
    b.matmul(logits, normed, weights.output, nLogitRows);
  }

  private runState(nTokens: number): RunState {
    if (this.state === undefined || this.state.nTokens < nTokens) {
      this.state = new RunState(Math.max(nTokens, Math.min(MAX_CHUNK_TOKENS, (this.state?.nTokens ?? 0) * 2)), this.config);
    }
    return this.state;
  }

  private checkInput(tokens: readonly number[], cache: KvCache): void {
    if (tokens.length === 0) throw new ArgumentError("forward() needs at least one token");
    const { vocabSize, nLayers } = this.config;
    tokens.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new ArgumentError(`token ${i} is ${id}: token ids must be integers in [0, ${vocabSize})`);
      }
    });
    if (cache.nLayers !== nLayers || cache.kvDim !== kvDim(this.config)) {
      throw new ArgumentError("the KV cache was made for a model of another shape");
    }
    if (cache.length + tokens.length > cache.maxSeqLen) {
      throw new ArgumentError(`cache holds ${cache.length} positions; ${tokens.length} more exceed its maxSeqLen ${cache.maxSeqLen}`);
    }
  }
}
