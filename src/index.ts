// The public API of llama3-ts. Everything a user imports comes from here.

export * from "./errors.js";

// Tensors and randomness
export type { DType, FloatDType } from "./tensor/dtype.js";
export type { FloatTensor, Tensor, WeightTensor } from "./tensor/tensor.js";
export {
  type BlockFormat, type QuantTensor, type QuantType, BLOCK_FORMATS, QUANT_TYPES, dequantizeTensor, quantizeTensor,
} from "./tensor/quant-formats.js";
export { Rng } from "./tensor/rng.js";

// The model
export { LlamaForCausalLM, type CheckpointLayout, type DTypeOption, type FromPretrainedOptions } from "./loader/pretrained.js";
export { LlamaModel, type BatchSequence, type ForwardOptions, type LlamaModelOptions } from "./model/llama.js";
export type { LlamaConfig, RopeScaling } from "./model/config.js";
export { KvCache, type KvCacheOptions } from "./model/kv-cache.js";
export type { LayerWeights, LlamaWeights } from "./model/weights.js";
export type { ResizeEmbeddingsOptions } from "./model/resize-embeddings.js";
export { parseHfConfig, type ParsedConfig } from "./model/hf-config.js";
export { parseMetaParams } from "./model/meta-params.js";
export type { Backend } from "./backend/backend.js";
export { referenceBackend } from "./backend/reference.js";
export { createWasmBackend, WasmBackend, type WasmBackendOptions } from "./backend/wasm/index.js";

// Generation
export { generate, type GenerateOptions, type GenerateOutput } from "./generate/generate.js";
export { GenerationEngine, GenerationRun, DEFAULT_MAX_BATCH, type GenerationEngineOptions } from "./generate/engine.js";
export type { DoneEvent, FinishReason, GenerationEvent, GenerationOptions, SequenceOutput, TokenEvent, TokenLogprob } from "./generate/types.js";
export { DEFAULT_MAX_NEW_TOKENS, MAX_TOP_LOGPROBS } from "./generate/options.js";
export { argmax, sampleFromScores, topKIds } from "./generate/sampling.js";
// Constrained decoding (structured output, tool calls, any byte-level Grammar)
export { type Grammar, stepBytes } from "./generate/constraint.js";
export { type ResponseFormat, responseFormatGrammar } from "./generate/response-format.js";
export { SchemaError, compileJsonSchema } from "./generate/json-schema.js";
export { JsonGrammar } from "./generate/json-grammar.js";
export { RegexGrammar } from "./generate/regex-grammar.js";
export { TokenConstraint, TokenGrammar, TokenVocabulary } from "./generate/token-constraint.js";
export { type ToolCallChoice, type ToolFunction, toolCallGrammar, toolCallSchema } from "./generate/tool-call-grammar.js";
// Tool calls in chat replies (text deltas and tool calls from a run's events)
export { type ChatFinishReason, type ChatReply, type ChatReplyEvent, type ChatReplyOptions, chatReplyEvents, chatReplyOf } from "./generate/chat-reply.js";
export type { GenerationDefaults } from "./model/generation-config.js";

// Pipelines and Auto classes (transformers' entry points)
export { pipeline, textGenerationPipeline, type PipelineTask, type TextGenerationCallOptions, type TextGenerationInput, type TextGenerationPipeline, type TextGenerationPipelineOptions, type TextGenerationResult } from "./pipelines/text-generation.js";
export { AutoModelForCausalLM, AutoTokenizer } from "./pipelines/auto.js";
export { defaultModelDir } from "./loader/default-model.js";

// Conversion of Meta checkpoints
export * from "./loader/convert-meta.js";
export { type GgufConvertOptions, type GgufOutType, convertToGguf } from "./loader/convert-gguf.js";

// Tokenizer and chat
export * from "./tokenizer/index.js";
export * from "./chat/index.js";

// Checkpoint files
export type { TensorEntry, TensorSource } from "./io/tensor-source.js";
export * from "./io/safetensors.js";
export { openPytorchCheckpoint, verifyChecklist, PytorchCheckpoint } from "./io/pytorch/index.js";
export {
  type GgufArray, type GgufItem, type GgufScalar, type GgufTensorInfo, type GgufTensorToWrite, type GgufValue, type GgufValueType,
  GgufFile, GgufMetadataReader, openGguf, writeGguf,
} from "./io/gguf/index.js";
