// Llama 3's 256 special tokens (ids 128000-128255 after the 128000 BPE ranks). Meta's tokenizer.model
// does not contain them: Meta's code appends them by name, and the names changed between Llama 3.0
// and 3.1. We follow the names Hugging Face's converter writes (transformers
// `convert_llama_weights_to_hf.py` DEFAULT_LLAMA_SPECIAL_TOKENS "3" and "3.1"/"3.2"), which are the
// names in every HF Llama 3.x tokenizer.json. Meta's own llama-models code (3.1+) calls id 128005
// `<|step_id|>` where HF keeps `<|reserved_special_token_2|>`; nothing uses that id.

/** Which generation of special-token names: "3.0" (Llama 3) or "3.1" (Llama 3.1, 3.2, 3.3). */
export type SpecialTokenNames = "3.0" | "3.1";

/** Number of special tokens Llama 3 reserves after the BPE ranks (`num_reserved_special_tokens`). */
export const LLAMA3_NUM_SPECIAL_TOKENS = 256;

export const BEGIN_OF_TEXT = "<|begin_of_text|>";
export const END_OF_TEXT = "<|end_of_text|>";
export const END_OF_TURN = "<|eot_id|>";
export const END_OF_MESSAGE = "<|eom_id|>";

/** Tokens that end generation when present: 3.0 has end_of_text and eot; 3.1+ adds eom. */
export const LLAMA3_STOP_TOKENS: readonly string[] = [END_OF_TEXT, END_OF_MESSAGE, END_OF_TURN];

const NAMED_3_0 = [
  BEGIN_OF_TEXT,
  END_OF_TEXT,
  "<|reserved_special_token_0|>",
  "<|reserved_special_token_1|>",
  "<|reserved_special_token_2|>",
  "<|reserved_special_token_3|>",
  "<|start_header_id|>",
  "<|end_header_id|>",
  "<|reserved_special_token_4|>",
  END_OF_TURN,
];

const NAMED_3_1 = [
  BEGIN_OF_TEXT,
  END_OF_TEXT,
  "<|reserved_special_token_0|>",
  "<|reserved_special_token_1|>",
  "<|finetune_right_pad_id|>",
  "<|reserved_special_token_2|>",
  "<|start_header_id|>",
  "<|end_header_id|>",
  END_OF_MESSAGE,
  END_OF_TURN,
  "<|python_tag|>",
];

/**
 * The 256 special-token strings in id order (the first is id `nBpeTokens`, 128000 for Llama 3).
 *
 * @example llama3SpecialTokenNames("3.1")[8] // "<|eom_id|>" (id 128008)
 */
export function llama3SpecialTokenNames(names: SpecialTokenNames): string[] {
  const named = names === "3.0" ? NAMED_3_0 : NAMED_3_1;
  // The reserved numbering continues after the last reserved name used in the named block.
  const firstReserved = names === "3.0" ? 5 : 3;
  const out = [...named];
  for (let n = firstReserved; out.length < LLAMA3_NUM_SPECIAL_TOKENS; n++) out.push(`<|reserved_special_token_${n}|>`);
  return out;
}
