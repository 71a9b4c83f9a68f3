// The shape of a quantized block format, as data: what ggml's `type_traits` (ggml/src/ggml.c) holds
// per type (block size, bytes per block, the reference row quantizer and dequantizer), and the
// QuantTensor record every block format's weights live in. Types only: the formats themselves are
// one file each (q8_0.ts, ...), gathered into one table in quant-formats.ts.

/** Block formats weights may be stored in (GGUF's names, lower case: "q4_k" is GGML_TYPE_Q4_K). */
export type QuantType = "q8_0" | "q4_0" | "q4_1" | "q5_0" | "q5_1" | "q2_k" | "q3_k" | "q4_k" | "q5_k" | "q6_k";

/**
 * Block formats activations are quantized to before an integer dot product with a weight row
 * (ggml's `vec_dot_type`): Q8_0, Q8_1 (Q8_0 with a block sum, for Q4_1 and Q5_1) and Q8_K (256-wide,
 * for the K-quants).
 */
export type ActivationType = "q8_0" | "q8_1" | "q8_k";

/** Every block format: weight formats and activation formats. */
export type BlockType = QuantType | ActivationType;

/**
 * A matrix of quantized blocks: `shape` is [rows, cols] in weights (cols a multiple of the
 * format's block size), `data` holds rows x cols / blockSize blocks, row after row, byte for byte
 * ggml's layout (so a row here is a row of the GGUF tensor).
 */
export interface QuantTensor {
  readonly dtype: QuantType;
  readonly shape: readonly [rows: number, cols: number];
  readonly data: Uint8Array;
}

/** One block format: ggml's type_traits row for it. */
export interface BlockFormat {
  /** Our name of the type (lower case). */
  readonly type: BlockType;
  /** GGML's name, as GGUF tools print it ("Q8_0"). */
  readonly ggmlName: string;
  /** GGML's `enum ggml_type` value: the tensor type id in GGUF files. */
  readonly ggmlType: number;
  /** Weights per block (QK8_0 = 32, QK_K = 256). */
  readonly blockSize: number;
  /** Bytes per block (`sizeof(block_q8_0)` = 34). */
  readonly blockBytes: number;
  /**
   * ggml's dequantize_row_*: `nBlocks` blocks from byte `byteOffset` of `data` into `out` from
   * element `outOffset`, bit-exact with the C code.
   */
  dequantizeBlocks(data: Uint8Array, byteOffset: number, nBlocks: number, out: Float32Array, outOffset: number): void;
  /**
   * ggml's reference quantizer quantize_row_*_ref: `nBlocks` blocks of float32 from element
   * `srcOffset` of `src` into `dst` from byte `dstOffset`, bit-exact with the C code. Absent for a
   * format we only read. Does not check its input (quantizeTensor checks finiteness first).
   */
  readonly quantizeBlocks?: (src: Float32Array, srcOffset: number, nBlocks: number, dst: Uint8Array, dstOffset: number) => void;
}
