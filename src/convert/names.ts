// The one table of weight names: canonical (GGUF-style, `blk.N.attn_q.weight`), Hugging Face
// (`model.layers.N.self_attn.q_proj.weight`) and Meta original (`layers.N.attention.wq.weight`), with
// what each layout implies: which rows carry rotary pairs, and how Meta's model-parallel shards split
// a tensor (meta-llama/llama3 model.py: ColumnParallelLinear and ParallelEmbedding split dim 0,
// RowParallelLinear splits dim 1, norms are replicated). Names are data; no model code here.

/** How a tensor is divided between Meta model-parallel shards. */
export type ShardSplit = "dim0" | "dim1" | "replicated";

/** Which rotary heads a weight's rows hold (they need permuting between layouts). */
export type RotaryRows = "query" | "key" | "none";

/** The names and layout facts of one weight. */
export interface WeightName {
  readonly canonical: string;
  /** The field holding it in the model's weights record (a LlamaWeights or LayerWeights key). */
  readonly field: string;
  /** The layer it belongs to, or undefined for the embedding, final norm and output head. */
  readonly layer: number | undefined;
  readonly hf: string;
  readonly meta: string;
  readonly metaSplit: ShardSplit;
  readonly rotary: RotaryRows;
}

/** Naming schemes of checkpoints. */
export type NameScheme = "hf" | "meta";

const GLOBAL_WEIGHTS: readonly WeightName[] = [
  { canonical: "token_embd.weight", field: "tokenEmbedding", layer: undefined, hf: "model.embed_tokens.weight", meta: "tok_embeddings.weight", metaSplit: "dim0", rotary: "none" },
  { canonical: "output_norm.weight", field: "outputNorm", layer: undefined, hf: "model.norm.weight", meta: "norm.weight", metaSplit: "replicated", rotary: "none" },
  { canonical: "output.weight", field: "output", layer: undefined, hf: "lm_head.weight", meta: "output.weight", metaSplit: "dim0", rotary: "none" },
];

/** Per-layer weights: [canonical suffix, record field, HF suffix, Meta suffix, Meta split, rotary rows]. */
const LAYER_WEIGHTS: readonly (readonly [string, string, string, string, ShardSplit, RotaryRows])[] = [
  ["attn_norm", "attnNorm", "input_layernorm", "attention_norm", "replicated", "none"],
  ["attn_q", "attnQ", "self_attn.q_proj", "attention.wq", "dim0", "query"],
  ["attn_k", "attnK", "self_attn.k_proj", "attention.wk", "dim0", "key"],
  ["attn_v", "attnV", "self_attn.v_proj", "attention.wv", "dim0", "none"],
  ["attn_output", "attnOutput", "self_attn.o_proj", "attention.wo", "dim1", "none"],
  ["ffn_norm", "ffnNorm", "post_attention_layernorm", "ffn_norm", "replicated", "none"],
  ["ffn_gate", "ffnGate", "mlp.gate_proj", "feed_forward.w1", "dim0", "none"],
  ["ffn_up", "ffnUp", "mlp.up_proj", "feed_forward.w3", "dim0", "none"],
  ["ffn_down", "ffnDown", "mlp.down_proj", "feed_forward.w2", "dim1", "none"],
];

/** Checkpoint tensors that carry no weights and are skipped on purpose. */
const IGNORED: Readonly<Record<NameScheme, RegExp>> = {
  // Old transformers versions saved the rotary inverse frequencies as a buffer.
  hf: /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/,
  // Meta's 3.1+ checkpoints include precomputed scaled frequencies; the model computes its own.
  meta: /^rope\.freqs$/,
};

/** The weights of a model with `nLayers` layers, in checkpoint order. */
export function weightNames(nLayers: number): WeightName[] {
  const names: WeightName[] = [GLOBAL_WEIGHTS[0]!];
  for (let i = 0; i < nLayers; i++) {
    for (const [canonical, field, hf, meta, metaSplit, rotary] of LAYER_WEIGHTS) {
      names.push({
        canonical: `blk.${i}.${canonical}.weight`,
        field,
        layer: i,
        hf: `model.layers.${i}.${hf}.weight`,
        meta: `layers.${i}.${meta}.weight`,
        metaSplit,
        rotary,
      });
    }
  }
  names.push(GLOBAL_WEIGHTS[1]!, GLOBAL_WEIGHTS[2]!);
  return names;
}

/** The name of a weight in a scheme. */
export function nameIn(scheme: NameScheme, weight: WeightName): string {
  return scheme === "hf" ? weight.hf : weight.meta;
}

/** True for checkpoint tensors that hold no weights and are skipped on purpose. */
export function isIgnoredTensor(scheme: NameScheme, name: string): boolean {
  return IGNORED[scheme].test(name);
}

