// What differs between the Llama 3 releases when Meta's original checkpoints are converted to the
// Hugging Face layout, as data: params.json does not say which release a folder is, so these facts
// come with the version the user names. Values follow transformers'
// models/llama/convert_llama_weights_to_hf.py (rope_scaling per version, CONTEXT_LENGTH_FOR_VERSION,
// DEFAULT_LLAMA_SPECIAL_TOKENS, tie_word_embeddings for 3.2, the Instruct eos ids) and the published
// HF configs: Meta-Llama-3-8B-Instruct stops on [128001, 128009] (Llama 3.0 has no <|eom_id|>, 128008
// is a reserved token there), Llama-3.1/3.2 Instruct on [128001, 128008, 128009].

import { LLAMA31_CHAT_TEMPLATE, LLAMA32_CHAT_TEMPLATE, LLAMA3_CHAT_TEMPLATE } from "./chat-templates.js";

/** A Llama 3 release whose original checkpoints can be converted. Llama 3.3 70B converts as "3.1". */
export type LlamaVersion = "3" | "3.1" | "3.2";

/** Every LlamaVersion, for validation and help texts. */
export const LLAMA_VERSIONS: readonly LlamaVersion[] = ["3", "3.1", "3.2"];

/** The release facts a conversion writes into config.json and the tokenizer files. */
export interface LlamaVersionFacts {
  /** The llama3 rope scaling factor, or undefined for unscaled rope (Llama 3.0). */
  readonly ropeFactor: number | undefined;
  /** Context length (max_position_embeddings, the tokenizer's model_max_length). */
  readonly maxPositionEmbeddings: number;
  /** Special-token naming (tokenizer/special-tokens.ts SpecialTokenNames). */
  readonly specialTokenNames: "3.0" | "3.1";
  /** The output head shares the token embedding (Llama 3.2 1B/3B). */
  readonly tieWordEmbeddings: boolean;
  /** eos_token_id of an Instruct model (a base model stops on <|end_of_text|>, 128001, only). */
  readonly instructEosTokenIds: readonly number[];
  /** The Instruct chat template. */
  readonly chatTemplate: string;
}

/** <|begin_of_text|> and <|end_of_text|> of the 128256-token Llama 3 vocabulary. */
export const LLAMA3_BOS_TOKEN_ID = 128000;
export const LLAMA3_EOS_TOKEN_ID = 128001;

/** The facts of each release. */
export const LLAMA_VERSION_FACTS: Readonly<Record<LlamaVersion, LlamaVersionFacts>> = {
  "3": {
    ropeFactor: undefined,
    maxPositionEmbeddings: 8192,
    specialTokenNames: "3.0",
    tieWordEmbeddings: false,
    instructEosTokenIds: [128001, 128009],
    chatTemplate: LLAMA3_CHAT_TEMPLATE,
  },
  "3.1": {
    ropeFactor: 8,
    maxPositionEmbeddings: 131072,
    specialTokenNames: "3.1",
    tieWordEmbeddings: false,
    instructEosTokenIds: [128001, 128008, 128009],
    chatTemplate: LLAMA31_CHAT_TEMPLATE,
  },
  "3.2": {
    ropeFactor: 32,
    maxPositionEmbeddings: 131072,
    specialTokenNames: "3.1",
    tieWordEmbeddings: true,
    instructEosTokenIds: [128001, 128008, 128009],
    chatTemplate: LLAMA32_CHAT_TEMPLATE,
  },
};

/** True for a string naming a LlamaVersion. */
export function isLlamaVersion(value: string): value is LlamaVersion {
  return (LLAMA_VERSIONS as readonly string[]).includes(value);
}
