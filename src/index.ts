// The public API of llama3-ts. Everything a user imports comes from here.

export * from "./errors.js";

// Tensors and randomness
export type { DType, FloatDType } from "./tensor/dtype.js";
export type { FloatTensor, Tensor } from "./tensor/tensor.js";
export { Rng } from "./tensor/rng.js";

// The model
export { LlamaForCausalLM, type CheckpointLayout, type DTypeOption, type FromPretrainedOptions } from "./loader/pretrained.js";
export { LlamaModel, type ForwardOptions, type LlamaModelOptions } from "./model/llama.js";
export type { LlamaConfig, RopeScaling } from "./model/config.js";
export { KvCache, type KvCacheOptions } from "./model/kv-cache.js";
export type { LayerWeights, LlamaWeights } from "./model/weights.js";
export type { ResizeEmbeddingsOptions } from "./model/resize-embeddings.js";
export { parseHfConfig, type ParsedConfig } from "./model/hf-config.js";
export { parseMetaParams } from "./model/meta-params.js";
export type { Backend } from "./backend/backend.js";
export { referenceBackend } from "./backend/reference.js";

// Generation
export { generateTokens, type GenerateTokensOptions } from "./generate/generate.js";
export { argmax, sampleToken, topKIds, type Sampler } from "./generate/sampling.js";

// Tokenizer and chat
export * from "./tokenizer/index.js";
export * from "./chat/index.js";

// Checkpoint files
export type { TensorEntry, TensorSource } from "./io/tensor-source.js";
export * from "./io/safetensors.js";
export { openPytorchCheckpoint, verifyChecklist, PytorchCheckpoint } from "./io/pytorch/index.js";
