// GGUF files (llama.cpp's single-file checkpoints): the bounded header parser, the positional
// tensor reader, typed metadata access and the writer. Bytes <-> named tensors only; what the keys
// mean is model/gguf-config.ts and tokenizer/load-gguf.ts, what the tensor types mean loader/gguf.ts.

export * from "./gguf-constants.js";
export { type GgufArray, type GgufHeader, type GgufItem, type GgufScalar, type GgufTensorInfo, type GgufValue, parseGgufHeader } from "./gguf-header.js";
export { GgufMetadataReader } from "./gguf-metadata.js";
export { GgufFile, openGguf } from "./gguf-reader.js";
export { type GgufTensorToWrite, ggufTensorByteLength, writeGguf } from "./gguf-writer.js";
export { GGUF_SUFFIX, findGgufFile } from "./gguf-path.js";
