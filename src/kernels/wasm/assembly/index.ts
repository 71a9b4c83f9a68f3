// Entry point of the WebAssembly kernel module (AssemblyScript): re-exports every kernel. Built twice
// by scripts/build-wasm.mjs, with SIMD and with relaxed SIMD, into one module each with the same
// exports; loaded by ../module.ts. The module imports its memory (env.memory, shared) and allocates
// nothing: every pointer is a byte offset the host chose; sizes are element counts.

export { matmul_f32, matmul_bf16, matmul_f16, matmul_f16_finite, widen_f16, widen_f16_scalar, widen_f16_scaled } from "./matmul";
export { cast_bf16_f32, cast_f16_f32 } from "./cast";
export { quantize_q8_0, matmul_q8_0 } from "./q8_0";
export { quantize_q8_1, matmul_q4_0, matmul_q5_0, matmul_q4_1, matmul_q5_1, matmul_q4_0_scratch_bytes, matmul_q5_0_scratch_bytes } from "./legacy-quants";
export { quantize_q8_k } from "./kquants";
export { matmul_q2_k, matmul_q3_k, matmul_q4_k, matmul_q5_k, matmul_q6_k, matmul_q4_k_scratch_bytes, matmul_q5_k_scratch_bytes, matmul_q6_k_scratch_bytes } from "./kquant-matmul";
export { rmsnorm, rope, rope_backward, swiglu, add, softmax } from "./elementwise";
export { attention, attention_f16, attention_bf16, attention_scratch_bytes } from "./attention";
export { matmul_backward_input_f32, matmul_backward_input_bf16, matmul_backward_input_f16, matmul_backward_weight } from "./linear-backward";
export { rmsnorm_backward, swiglu_backward } from "./elementwise-backward";
export { attention_backward, attention_backward_scratch_bytes } from "./attention-backward";
export { attention_forward_masked } from "./attention-train";
export { cross_entropy } from "./cross-entropy";
export { read_stream } from "./stream";

/** Bytes at the start of memory the module itself uses (its static data); the host allocates above. */
export function kernel_reserved_bytes(): usize {
  return __heap_base;
}
