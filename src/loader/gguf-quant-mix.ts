// Which block format each matrix of a GGUF gets, as llama.cpp's quantizer chooses it for a Llama model
// (`llama_tensor_get_type` in src/llama-quant.cpp, llama.cpp 80fb11a, default parameters: no imatrix,
// not --pure, quantize_output_tensor): a file type names a base format (Q4_K_M: Q4_K) and a few
// tensors get more bits: the output projection (the embedding when tied) Q6_K unless the base is
// Q8_0; for Q4_K_M / Q5_K_M attn_v and ffn_down of the layers use_more_bits picks Q6_K; Q2_K, Q3_K_M
// and Q4_K_S lift attn_v, ffn_down and attn_output as below. Only the Llama branches are here (no
// Falcon, no experts, no IQ file types); an 80-layer model is llama.cpp's LLM_TYPE_70B. A row width
// that is not a multiple of the chosen format's block falls back as llama.cpp's does (Q4_K -> Q5_0,
// Q5_K -> Q5_1, Q6_K -> Q8_0; Q2_K / Q3_K would become IQ4_NL, which we cannot write: refused).
// The file's tensors are then bit-exact with llama.cpp's (each format's quantize_row_*_ref).

import type { WeightName } from "../convert/names.js";
import { UnsupportedError } from "../errors.js";
import { BLOCK_FORMATS, type QuantType } from "../tensor/quant-formats.js";

/** llama.cpp's quantized file types (llama-quantize's names, lower case) that we write. */
export type GgufFileType = "q8_0" | "q4_0" | "q4_1" | "q5_0" | "q5_1" | "q2_k" | "q3_k_m" | "q4_k_s" | "q4_k_m" | "q5_k_m" | "q6_k";

/** Per file type: its `enum llama_ftype` value (general.file_type, llama.h) and its base block format. */
export const GGUF_FILE_TYPES: Readonly<Record<GgufFileType, { readonly ftype: number; readonly base: QuantType }>> = {
  q8_0: { ftype: 7, base: "q8_0" },
  q4_0: { ftype: 2, base: "q4_0" },
  q4_1: { ftype: 3, base: "q4_1" },
  q5_0: { ftype: 8, base: "q5_0" },
  q5_1: { ftype: 9, base: "q5_1" },
  q2_k: { ftype: 10, base: "q2_k" },
  q3_k_m: { ftype: 12, base: "q3_k" },
  q4_k_s: { ftype: 14, base: "q4_k" },
  q4_k_m: { ftype: 15, base: "q4_k" },
  q5_k_m: { ftype: 17, base: "q5_k" },
  q6_k: { ftype: 18, base: "q6_k" },
};

/** True when `name` is one of GGUF_FILE_TYPES. */
export function isGgufFileType(name: string): name is GgufFileType {
  return Object.hasOwn(GGUF_FILE_TYPES, name);
}

/** What the choice depends on besides the tensor. */
export interface MixModel {
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly tieWordEmbeddings: boolean;
}

/** llama.cpp's use_more_bits: the first and last eighth of the layers and every third between. */
function useMoreBits(i: number, n: number): boolean {
  const eighth = Math.trunc(n / 8);
  return i < eighth || i >= Math.trunc((7 * n) / 8) || (i - eighth) % 3 === 2;
}

/** The format llama_tensor_get_type picks before the block-size check. */
function chosen(fileType: GgufFileType, weight: WeightName, rowWidth: number, model: MixModel): QuantType {
  const base = GGUF_FILE_TYPES[fileType].base;
  const isOutput = weight.canonical === "output.weight" || (model.tieWordEmbeddings && weight.canonical === "token_embd.weight");
  if (isOutput) return rowWidth % BLOCK_FORMATS[base].blockSize !== 0 ? "q8_0" : base === "q8_0" ? "q8_0" : "q6_k";
  const i = weight.layer ?? 0;
  const n = model.nLayers;
  if (weight.field === "attnV") {
    let type = base;
    if (fileType === "q2_k") type = model.nHeads / model.nKvHeads >= 4 ? "q4_k" : "q3_k";
    else if (fileType === "q3_k_m") type = i < 2 ? "q5_k" : "q4_k";
    else if ((fileType === "q4_k_m" || fileType === "q5_k_m") && useMoreBits(i, n)) type = "q6_k";
    else if (fileType === "q4_k_s" && i < 4) type = "q5_k";
    if (n === 80 && (type === "q3_k" || type === "q4_k")) type = "q5_k"; // LLM_TYPE_70B: attn_v is 8x smaller than attn_q
    return type;
  }
  if (weight.field === "ffnDown") {
    if (fileType === "q2_k") return "q3_k";
    if (fileType === "q3_k_m") return i < Math.trunc(n / 16) ? "q5_k" : "q4_k";
    if ((fileType === "q4_k_m" || fileType === "q5_k_m") && useMoreBits(i, n)) return "q6_k";
    if (fileType === "q4_k_s" && i < Math.trunc(n / 8)) return "q5_k";
    return base;
  }
  if (weight.field === "attnOutput") {
    if (fileType === "q2_k") return "q3_k";
    if (fileType === "q3_k_m") return "q4_k";
  }
  return base;
}

/** llama.cpp's fallback for a row width that is not a multiple of the format's block. */
const FALLBACK: Partial<Record<QuantType, QuantType>> = { q4_k: "q5_0", q5_k: "q5_1", q6_k: "q8_0" };

/**
 * The block format of matrix `weight` (rows `rowWidth` wide) in a `fileType` GGUF, as llama.cpp's
 * quantizer picks it for a Llama model.
 * @throws UnsupportedError when llama.cpp would fall back to a format we cannot write
 * @example
 * mixTensorType("q4_k_m", weightNames(16)[0]!, 2048, { nLayers: 16, nHeads: 32, nKvHeads: 8, tieWordEmbeddings: true }); // "q6_k"
 */
export function mixTensorType(fileType: GgufFileType, weight: WeightName, rowWidth: number, model: MixModel): QuantType {
  const type = chosen(fileType, weight, rowWidth, model);
  if (rowWidth % BLOCK_FORMATS[type].blockSize === 0) return type;
  const fallback = FALLBACK[type];
  if (fallback === undefined || rowWidth % BLOCK_FORMATS[fallback].blockSize !== 0) {
    throw new UnsupportedError(`tensor ${weight.canonical}: rows of ${rowWidth} weights cannot be ${type} (blocks of ${BLOCK_FORMATS[type].blockSize}), and llama.cpp's fallback for it is a format llama3-ts does not write`);
  }
  return fallback;
}
