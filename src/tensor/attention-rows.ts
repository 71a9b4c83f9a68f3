// The data attention works on, as records: cached key/value rows with their dtype, and the
// dimensions of one attention call. Types only; they sit in tensor/ so the KV cache (model/), the
// backend contract (backend/) and the kernels (kernels/) share them without importing each other.

/** The dtypes a KV cache may store its rows in. */
export type KvDType = "f32" | "f16" | "bf16";

/** Cached key or value rows with their dtype: float32, or IEEE half / bfloat16 bits. */
export type KvRows =
  | { readonly dtype: "f32"; readonly data: Float32Array }
  | { readonly dtype: "f16" | "bf16"; readonly data: Uint16Array };

/** Dimensions of one attention call. */
export interface AttentionShape {
  readonly nTokens: number;
  /** Position of the first query token; the cache holds positions [0, startPos + nTokens). */
  readonly startPos: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
}
