// The constants of the GGUF file format (ggml/docs/gguf.md; ggml/src/gguf.cpp; gguf-py
// gguf/constants.py): the magic, the versions we read, the metadata value types, every ggml tensor
// type with its block size and bytes per block (gguf-py GGML_QUANT_SIZES, ggml's type_traits), and
// the named limits the reader holds an untrusted file to. Data only; no reading here.

/** "GGUF" read as a little-endian uint32 (`GGUF_MAGIC` in gguf.cpp). */
export const GGUF_MAGIC = 0x46554747;

/** Versions read: v2 (64-bit counts) and v3 (v2 plus big-endian files, which we refuse). v1 had 32-bit counts. */
export const GGUF_VERSIONS: readonly number[] = [2, 3];

/** The version written. */
export const GGUF_WRITE_VERSION = 3;

/** Default alignment of the data section and of every tensor (`GGUF_DEFAULT_ALIGNMENT` in gguf.h). */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** The metadata key holding the alignment (a uint32 power of two). */
export const GGUF_ALIGNMENT_KEY = "general.alignment";

/** Metadata value types by their `enum gguf_type` id (gguf.h). */
export const GGUF_VALUE_TYPES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"] as const;

/** A metadata value type. */
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];

/** Bytes of a scalar value of each fixed-width type. */
export const GGUF_SCALAR_BYTES: Readonly<Record<Exclude<GgufValueType, "string" | "array">, number>> = {
  u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8,
};

/** One ggml tensor type: name, id, weights per block and bytes per block. */
export interface GgmlTypeInfo {
  readonly name: string;
  readonly id: number;
  readonly blockSize: number;
  readonly blockBytes: number;
}

/**
 * Every tensor type ggml defines (`enum ggml_type` in ggml.h; ids 4, 5, 31-33 and 36-38 were removed
 * from ggml), with gguf-py's GGML_QUANT_SIZES. Knowing every size lets the reader check every
 * tensor's extent, even of a type we cannot compute with.
 */
export const GGML_TYPES: readonly GgmlTypeInfo[] = [
  ["F32", 0, 1, 4], ["F16", 1, 1, 2], ["Q4_0", 2, 32, 18], ["Q4_1", 3, 32, 20], ["Q5_0", 6, 32, 22],
  ["Q5_1", 7, 32, 24], ["Q8_0", 8, 32, 34], ["Q8_1", 9, 32, 40], ["Q2_K", 10, 256, 84], ["Q3_K", 11, 256, 110],
  ["Q4_K", 12, 256, 144], ["Q5_K", 13, 256, 176], ["Q6_K", 14, 256, 210], ["Q8_K", 15, 256, 292],
  ["IQ2_XXS", 16, 256, 66], ["IQ2_XS", 17, 256, 74], ["IQ3_XXS", 18, 256, 98], ["IQ1_S", 19, 256, 50],
  ["IQ4_NL", 20, 32, 18], ["IQ3_S", 21, 256, 110], ["IQ2_S", 22, 256, 82], ["IQ4_XS", 23, 256, 136],
  ["I8", 24, 1, 1], ["I16", 25, 1, 2], ["I32", 26, 1, 4], ["I64", 27, 1, 8], ["F64", 28, 1, 8],
  ["IQ1_M", 29, 256, 56], ["BF16", 30, 1, 2], ["TQ1_0", 34, 256, 54], ["TQ2_0", 35, 256, 66], ["MXFP4", 39, 32, 17],
].map(([name, id, blockSize, blockBytes]) => ({ name: name as string, id: id as number, blockSize: blockSize as number, blockBytes: blockBytes as number }));

const TYPE_BY_ID: ReadonlyMap<number, GgmlTypeInfo> = new Map(GGML_TYPES.map((t) => [t.id, t]));

/** The ggml type with id `id`, or undefined for an id ggml does not define. */
export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return TYPE_BY_ID.get(id);
}

/** The ids of the float types (GGML_TYPE_F32, F16, BF16). */
export const GGML_TYPE_F32 = 0;
export const GGML_TYPE_F16 = 1;
export const GGML_TYPE_BF16 = 30;

// Limits on untrusted files. Each is far above any released Llama GGUF (Llama 3.1 8B: 292 tensors,
// 29 keys, a 128256-token vocabulary, 280147 merges, a header of about 8 MB) and far below sizes that
// would exhaust memory; the reader also checks every length against the bytes the file has left.

/** Most bytes of header (key/values and tensor infos) read: 512 MiB. */
export const MAX_HEADER_BYTES = 512 * 2 ** 20;
/** First window of the header read; doubled while the header runs past it. */
export const INITIAL_HEADER_WINDOW_BYTES = 4 * 2 ** 20;
/** Most tensors (a 405B Llama has 1138). */
export const MAX_TENSORS = 65536;
/** Most metadata key/value pairs. */
export const MAX_METADATA_KVS = 65536;
/** Most bytes of one key (gguf.cpp has no limit; real keys are under 64). */
export const MAX_KEY_BYTES = 65536;
/** Most bytes of one string value (a chat template is a few KiB). */
export const MAX_STRING_BYTES = 64 * 2 ** 20;
/** Most elements of one array (vocabularies and merges are a few hundred thousand). */
export const MAX_ARRAY_LENGTH = 2 ** 26;
/** Deepest nesting of arrays in arrays (an array of scalars is depth 1). */
export const MAX_ARRAY_DEPTH = 8;
/** Most bytes of a tensor name: GGML_MAX_NAME (64) less the terminating NUL, as gguf.cpp checks. */
export const MAX_TENSOR_NAME_BYTES = 63;
/** Most dimensions of a tensor: GGML_MAX_DIMS. */
export const MAX_TENSOR_DIMS = 4;
/** Largest alignment accepted (a power of two; 32 is the default, writers use up to 4096). */
export const MAX_ALIGNMENT = 2 ** 20;
