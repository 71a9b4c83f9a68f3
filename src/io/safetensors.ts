// The public safetensors API of llama3-ts in one import: open a file or a Hugging Face checkpoint
// folder as a TensorSource, write a file or a sharded checkpoint. The pieces live in
// safetensors-format.ts (header bytes), safetensors-reader.ts, safetensors-checkpoint.ts,
// safetensors-index.ts, safetensors-writer.ts and safetensors-sharded-writer.ts.

export type { TensorEntry, TensorSource } from "./tensor-source.js";
export { MAX_HEADER_SIZE } from "./safetensors-format.js";
export { MAX_TENSOR_ELEMENTS, SafetensorsFile, openSafetensors, type ReadStats } from "./safetensors-reader.js";
export { SafetensorsCheckpoint, openSafetensorsCheckpoint } from "./safetensors-checkpoint.js";
export {
  DEFAULT_MAX_SHARD_BYTES, INDEX_FILE_NAME, MAX_INDEX_BYTES, SINGLE_FILE_NAME, type SafetensorsIndex,
} from "./safetensors-index.js";
export {
  lazyTensors, writeSafetensors,
  type SafetensorsMetadata, type TensorData, type TensorToWrite, type TensorsToWrite, type WriteSafetensorsOptions,
} from "./safetensors-writer.js";
export { writeShardedSafetensors, type ShardedWriteResult, type WriteShardedOptions } from "./safetensors-sharded-writer.js";
