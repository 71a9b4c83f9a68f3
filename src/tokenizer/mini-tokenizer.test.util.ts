// A small, valid, Llama-3-shaped tokenizer.json for loader tests: the 256 byte tokens, "Ġa" and "ab",
// BOS/EOS added tokens, Llama 3's pre-tokenizer and a BOS template. Tests edit a fresh copy to break
// one part at a time. (Named *.test.util.ts: compiled with the tests, not run as one, not shipped.)

import { BYTE_TO_CHAR } from "./byte-level.js";
import { LLAMA3_SPLIT_PATTERN } from "./pattern.js";

export type Json = Record<string, unknown>;

/** A small valid Llama-3-shaped tokenizer.json: 256 bytes + "Ġa" + "ab", two added tokens. */
export function mini(): Json {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((ch, b) => (vocab[ch] = b));
  vocab["Ġa"] = 256;
  vocab["ab"] = 257;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 258, content: "<|begin_of_text|>", special: true, lstrip: false, rstrip: false, single_word: false, normalized: false },
      { id: 259, content: "<|end_of_text|>", special: true, lstrip: false, rstrip: false, single_word: false, normalized: false },
    ],
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_SPLIT_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "Sequence",
      processors: [
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [],
          special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [258], tokens: ["<|begin_of_text|>"] } },
        },
      ],
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, byte_fallback: false, ignore_merges: true, vocab, merges: ["Ġ a", "a b"] },
  };
}

