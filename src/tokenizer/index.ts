// The tokenizer's public API: the Tokenizer class and the types its methods take and return, plus
// the Llama 3 constants other modules (chat templates, generation) refer to by name.

export {
  type AllowedSpecial,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialToken,
  type SpecialTokensToAdd,
  Tokenizer,
} from "./tokenizer.js";
export { type DecodeStream, type DecodeStreamOptions, cleanUpTokenizationSpaces } from "./decode-stream.js";
export type { PretrainedOptions } from "./pretrained.js";
export type { HfSourceFiles } from "./sources.js";
export {
  BEGIN_OF_TEXT,
  END_OF_MESSAGE,
  END_OF_TEXT,
  END_OF_TURN,
  LLAMA3_STOP_TOKENS,
  llama3SpecialTokenNames,
  type SpecialTokenNames,
} from "./special-tokens.js";
export { LLAMA3_SPLIT_PATTERN } from "./pattern.js";
export { invalidUtf8Offset } from "./byte-level.js";
