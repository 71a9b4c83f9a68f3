// transformers' Auto classes for the one architecture we implement: `AutoTokenizer` and
// `AutoModelForCausalLM` read a checkpoint folder and return the Llama 3 tokenizer and model, so
// code ported from Python reads the same. The model's config must describe a Llama (parseHfConfig
// refuses other architectures with an UnsupportedError).

import { type FromPretrainedOptions, LlamaForCausalLM } from "../loader/pretrained.js";
import { Tokenizer } from "../tokenizer/index.js";

/** Loads the tokenizer of a checkpoint folder (tokenizer.json or Meta's tokenizer.model). */
export const AutoTokenizer = {
  /**
   * @throws FormatError / TokenizerError for a missing or malformed tokenizer
   * @example const tokenizer = await AutoTokenizer.fromPretrained("models/Llama-3.2-1B-Instruct");
   */
  fromPretrained(dir: string): Promise<Tokenizer> {
    return Tokenizer.fromPretrained(dir);
  },
} as const;

/** Loads a causal language model from a checkpoint folder (Hugging Face or Meta layout). */
export const AutoModelForCausalLM = {
  /**
   * @throws as LlamaForCausalLM.fromPretrained
   * @example const model = await AutoModelForCausalLM.fromPretrained("models/Llama-3.2-1B-Instruct", { dtype: "bfloat16" });
   */
  fromPretrained(dir: string, options: FromPretrainedOptions = {}): Promise<LlamaForCausalLM> {
    return LlamaForCausalLM.fromPretrained(dir, options);
  },
} as const;
