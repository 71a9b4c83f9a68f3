// The `tokenizer.*` keys of a GGUF for a tokenizer (the inverse of load-gguf.ts), as llama.cpp's
// convert_hf_to_gguf.py writes them for Llama 3 (LlamaModel.set_vocab -> _set_vocab_gpt2 with
// pre "llama-bpe"): tokens spelled in the byte-level alphabet (added tokens as their text), token
// types (NORMAL for BPE, CONTROL for special added tokens, USER_DEFINED for others, UNUSED "[PAD{i}]"
// fillers up to the model's vocabulary size), the merges transformers derives from the ranks
// (export-hf.ts tiktokenMerges), bos/eos/eot/pad ids, add_bos/add_eos and the chat templates.

import { ArgumentError } from "../errors.js";
import type { GgufValue } from "../io/gguf/gguf-header.js";
import { bytesToByteLevel } from "./byte-level.js";
import { tiktokenMerges } from "./export-hf.js";
import { TOKEN_TYPE } from "./load-gguf.js";
import type { TokenizerData } from "./sources.js";
import { END_OF_TURN } from "./special-tokens.js";

/**
 * The tokenizer keys, in llama.cpp's order.
 * @param vocabSize rows of the model's embedding: tokens past the tokenizer's are "[PAD{i}]" UNUSED
 * @throws ArgumentError when the tokenizer has more ids than the model
 */
export function ggufTokenizerMetadata(data: TokenizerData, vocabSize: number): [string, GgufValue][] {
  const { table } = data;
  const spelled = Array.from({ length: table.size }, (_, id) => bytesToByteLevel(table.bytes(id)));
  const tokens: string[] = [...spelled];
  const types: number[] = spelled.map(() => TOKEN_TYPE.normal);
  const added = new Map(data.addedTokens.filter((t) => t.id >= table.size).map((t) => [t.id, t]));
  const size = Math.max(vocabSize, table.size, ...[...added.keys()].map((id) => id + 1));
  if (size > vocabSize) throw new ArgumentError(`the tokenizer has ${size} ids but the model's embedding only ${vocabSize} rows`);
  for (let id = table.size; id < size; id++) {
    const token = added.get(id);
    tokens.push(token?.content ?? `[PAD${id}]`);
    types.push(token === undefined ? TOKEN_TYPE.unused : token.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  const idOf = (content: string | undefined): number | undefined => (content === undefined ? undefined : tokens.indexOf(content));
  const bosId = idOf(data.bosToken)!;
  const eosId = idOf(data.eosToken)!;
  const eotId = data.addedTokens.find((t) => t.content === END_OF_TURN && t.special)?.id;
  const padId = idOf(data.padToken);
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const out: [string, GgufValue][] = [
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "llama-bpe" }],
    ["tokenizer.ggml.tokens", { type: "array", value: { itemType: "string", items: tokens } }],
    ["tokenizer.ggml.token_type", { type: "array", value: { itemType: "i32", items: types } }],
    ["tokenizer.ggml.merges", { type: "array", value: { itemType: "string", items: tiktokenMerges(table, spelled).map(([l, r]) => `${l} ${r}`) } }],
    ["tokenizer.ggml.bos_token_id", u32(bosId)],
    ["tokenizer.ggml.eos_token_id", u32(eosId)],
  ];
  if (eotId !== undefined && eotId !== eosId) out.push(["tokenizer.ggml.eot_token_id", u32(eotId)]);
  if (padId !== undefined && padId >= 0) out.push(["tokenizer.ggml.padding_token_id", u32(padId)]);
  out.push(["tokenizer.ggml.add_bos_token", { type: "bool", value: data.prefixIds.includes(bosId) }]);
  if (data.suffixIds.includes(eosId)) out.push(["tokenizer.ggml.add_eos_token", { type: "bool", value: true }]);
  for (const [name, template] of data.chatTemplates) {
    out.push([name === "default" ? "tokenizer.chat_template" : `tokenizer.chat_template.${name}`, { type: "string", value: template }]);
  }
  return out;
}
