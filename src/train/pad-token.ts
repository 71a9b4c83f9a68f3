// Giving a model a padding token for batched training, as the Llama 3 documentation says
// (transformers docs, model_doc/llama3: `tokenizer.add_special_tokens({"pad_token": "<pad>"})`,
// `model.resize_token_embeddings(len(tokenizer))`, `model.config.pad_token_id = tokenizer.pad_token_id`,
// the pad row zero as nn.Embedding's padding_idx leaves it): model/resize-embeddings.ts does the
// resizing. Only when batches actually pad (data.ts needsPadding) does the caller need this.
//
// Decision for a frozen base (LoRA): resizing would change base weights the adapter does not carry,
// so an existing token is reused instead: Llama 3.1's `<|finetune_right_pad_id|>` when the vocabulary
// has it (Meta reserved it for exactly this), else EOS. Padded positions are masked keys with label
// -100, so which id they hold never changes the loss. Whatever is done is returned as one message.

import { LlamaError } from "../errors.js";
import type { LlamaModel } from "../model/llama.js";
import type { Rng } from "../tensor/rng.js";

/** The token added when a model has no padding token. */
export const PAD_TOKEN = "<pad>";
/** Llama 3.1's reserved padding token, reused when the embeddings must not change. */
export const LLAMA31_PAD_TOKEN = "<|finetune_right_pad_id|>";

/** What this needs from a tokenizer (the Tokenizer class has it). */
export interface PadTokenizer {
  readonly padTokenId: number | undefined;
  readonly eosTokenId: number;
  readonly vocabSize: number;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  addSpecialTokens(tokens: { padToken?: string }): number;
}

/** What was done. */
export interface PadTokenResult {
  readonly padTokenId: number;
  /** A new token and embedding row were added. */
  readonly added: boolean;
  /** Says what was done, for the user; undefined when the model already had a pad token. */
  readonly message: string | undefined;
}

/**
 * Make sure `model` (and `tokenizer`, when there is one) have a pad token, and return its id.
 * @param options.resize add `<pad>` and resize the embeddings (full fine-tuning); false: reuse an
 *   existing token (a frozen base, LoRA)
 * @param options.rng draws the new row of an untied output head (resizeTokenEmbeddings)
 * @throws UnsupportedError from resizeTokenEmbeddings for block-format embeddings
 * @example
 * const { padTokenId, message } = ensurePadToken(model, tokenizer, { resize: true, rng: new Rng(seed) });
 */
export function ensurePadToken(model: LlamaModel, tokenizer: PadTokenizer | undefined, options: { readonly resize: boolean; readonly rng: Rng }): PadTokenResult {
  const vocabSize = model.config.vocabSize;
  const known = tokenizer?.padTokenId ?? model.config.padTokenId;
  if (known !== undefined && known < vocabSize) {
    if (tokenizer !== undefined && tokenizer.padTokenId === undefined) {
      const content = tokenizer.idToToken(known);
      if (content !== undefined) tokenizer.addSpecialTokens({ padToken: content });
    }
    return { padTokenId: known, added: false, message: undefined };
  }
  if (!options.resize) {
    const reserved = tokenizer?.tokenToId(LLAMA31_PAD_TOKEN);
    const id = reserved !== undefined && reserved < vocabSize ? reserved : tokenizer?.eosTokenId ?? model.config.eosTokenIds[0];
    if (id === undefined) throw new LlamaError("the model has no pad token and no EOS token to pad with; give pre-tokenized rows of equal length or a tokenizer");
    const content = tokenizer?.idToToken(id);
    if (tokenizer !== undefined && content !== undefined) tokenizer.addSpecialTokens({ padToken: content });
    const name = content ?? `id ${id}`;
    return { padTokenId: id, added: false, message: `the model has no pad token; padding with ${name} (id ${id}), an existing token, because the base model is frozen (padded positions are masked and never scored)` };
  }
  let id: number;
  if (tokenizer !== undefined) {
    tokenizer.addSpecialTokens({ padToken: PAD_TOKEN });
    id = tokenizer.padTokenId!;
  } else {
    id = vocabSize;
  }
  const newVocab = Math.max(vocabSize, id + 1, tokenizer?.vocabSize ?? 0);
  model.resizeTokenEmbeddings(newVocab, { rng: options.rng, padTokenId: id });
  return {
    padTokenId: id,
    added: true,
    message: `the model had no pad token: added ${PAD_TOKEN} (id ${id}) as a special token, resized the embeddings from ${vocabSize} to ${newVocab} rows (the pad row zero) and set pad_token_id, as the Llama 3 documentation recommends`,
  };
}
