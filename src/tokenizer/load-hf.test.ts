import { test } from "node:test";
import assert from "node:assert/strict";
import { FormatError, UnsupportedError } from "../errors.js";
import { type Json, mini } from "./mini-tokenizer.test.util.js";
import { Tokenizer } from "./tokenizer.js";

function load(json: Json, config?: Json, extra: { chatTemplateFile?: string } = {}): Tokenizer {
  return Tokenizer.fromHuggingFace({
    tokenizerJson: JSON.stringify(json),
    tokenizerJsonPath: "m/tokenizer.json",
    tokenizerConfig: config === undefined ? undefined : JSON.stringify(config),
    tokenizerConfigPath: "m/tokenizer_config.json",
    chatTemplateFile: extra.chatTemplateFile,
  });
}

test("a minimal tokenizer.json: vocab, merges by rank, template BOS, added tokens", () => {
  const tok = load(mini());
  assert.deepEqual(tok.encode("ab a"), [258, 257, 256]);
  assert.deepEqual(tok.encode("<|end_of_text|>", { addSpecialTokens: false }), [259]);
  assert.equal(tok.vocabSize, 260);
  assert.equal(tok.bosTokenId, 258);
  assert.equal(tok.eosTokenId, 259);
  assert.deepEqual(tok.eosTokenIds, [259]);
  assert.deepEqual(tok.warnings, []);
});

test("post-processor: no template adds BOS (Llama 3 fix, with a warning); add_bos/add_eos_token override", () => {
  const noTemplate = mini();
  noTemplate["post_processor"] = { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true };
  const tok = load(noTemplate);
  assert.deepEqual(tok.encode("a"), [258, 97]);
  assert.match(tok.warnings.join("\n"), /no template/);
  const both = load(mini(), { add_bos_token: false, add_eos_token: true });
  assert.deepEqual(both.encode("a"), [97, 259]);
  assert.ok(!both.addBosToken && both.addEosToken);
  const template = mini();
  const pp = template["post_processor"] as { processors: Json[] };
  pp.processors[1]!["single"] = [
    { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } },
    { Sequence: { id: "A", type_id: 0 } },
    { SpecialToken: { id: "<|end_of_text|>", type_id: 0 } },
  ];
  assert.deepEqual(load(template).encode("a"), [258, 97, 259]);
});

test("tokenizer_config.json: special tokens as strings or objects, pad, chat templates, unknown keys", () => {
  const tok = load(mini(), {
    bos_token: { __type: "AddedToken", content: "<|begin_of_text|>", lstrip: false },
    eos_token: "<|end_of_text|>",
    pad_token: "<|end_of_text|>",
    chat_template: [
      { name: "tool_use", template: "T" },
      { name: "default", template: "D" },
    ],
    clean_up_tokenization_spaces: true,
    added_tokens_decoder: { "260": { content: "<extra>", special: true } },
    model_max_length: 8192,
    some_new_key: 1,
  });
  assert.equal(tok.padTokenId, 259);
  assert.equal(tok.chatTemplate, "D");
  assert.equal(tok.chatTemplates.get("tool_use"), "T");
  assert.equal(tok.cleanUpTokenizationSpaces, true);
  assert.equal(tok.tokenToId("<extra>"), 260);
  assert.match(tok.warnings.join("\n"), /unknown key "some_new_key"/);
  assert.equal(load(mini(), { chat_template: "S" }).chatTemplate, "S");
  assert.equal(load(mini(), { chat_template: [{ name: "x", template: "X" }] }).chatTemplate, undefined);
  assert.equal(load(mini(), { chat_template: "S" }, { chatTemplateFile: "F" }).chatTemplate, "F");
  // Stop ids are the tokenizer's own: its EOS and the Llama 3 stop tokens it has (generation_config.json
  // is the model loader's; see pretrained.test.ts).
  assert.deepEqual(load(mini(), { eos_token: "<|begin_of_text|>" }).eosTokenIds, [258, 259]);
  // split_special_tokens: special-token text stays text unless asked.
  const split = load(mini(), { split_special_tokens: true });
  assert.deepEqual(split.encode("<|end_of_text|>", { addSpecialTokens: false }).includes(259), false);
  assert.deepEqual(split.encode("<|end_of_text|>", { addSpecialTokens: false, allowedSpecial: "all" }), [259]);
});

test("malformed or unsupported tokenizer files are errors naming the file and the part", () => {
  const broken = (edit: (j: Json) => void): Json => {
    const j = mini();
    edit(j);
    return j;
  };
  const model = (j: Json): Json => j["model"] as Json;
  const cases: ReadonlyArray<readonly [string, () => Tokenizer, new (...a: never[]) => Error, RegExp]> = [
    ["not JSON", () => Tokenizer.fromHuggingFace({ tokenizerJson: "{", tokenizerJsonPath: "m/tokenizer.json" }), FormatError, /m\/tokenizer.json: invalid JSON/],
    ["WordPiece", () => load(broken((j) => (model(j)["type"] = "WordPiece"))), UnsupportedError, /model type "WordPiece"/],
    ["merges needed", () => load(broken((j) => (model(j)["ignore_merges"] = false))), UnsupportedError, /ignore_merges/],
    ["normalizer", () => load(broken((j) => (j["normalizer"] = { type: "NFC" }))), UnsupportedError, /normalizer "NFC"/],
    ["GPT-2 pre-tokenizer", () => load(broken((j) => (j["pre_tokenizer"] = { type: "ByteLevel", use_regex: true }))), UnsupportedError, /pre_tokenizer is "ByteLevel"/],
    ["other regex", () => load(broken((j) => ((j["pre_tokenizer"] as { pretokenizers: Json[] }).pretokenizers[0]!["pattern"] = { Regex: "\\s+" }))), UnsupportedError, /splits on/],
    ["decoder", () => load(broken((j) => (j["decoder"] = { type: "Metaspace" }))), UnsupportedError, /decoder "Metaspace"/],
    ["bad vocab id", () => load(broken((j) => ((model(j)["vocab"] as Json)["ab"] = "x"))), FormatError, /model.vocab\["ab"\] must be an integer token id in 0\.\.\d+ \(MAX_TOKEN_ID\)/],
    ["id gap", () => load(broken((j) => ((model(j)["vocab"] as Json)["ab"] = 999))), FormatError, /id 999 of "ab" is out of range/],
    ["not byte-level", () => load(broken((j) => ((model(j)["vocab"] as Json)["a b"] = 258))), FormatError, /"a b" is not spelled in the byte-level alphabet/],
    ["merge order", () => load(broken((j) => (model(j)["merges"] = ["a b", "Ġ a"]))), UnsupportedError, /out of rank order/],
    ["bad merge", () => load(broken((j) => (model(j)["merges"] = ["a"]))), FormatError, /model.merges\[0\] must be/],
    ["lstrip", () => load(broken((j) => ((j["added_tokens"] as Json[])[1]!["lstrip"] = true))), UnsupportedError, /sets lstrip/],
    ["duplicate added id", () => load(broken((j) => ((j["added_tokens"] as Json[])[1]!["id"] = 258))), FormatError, /added_tokens\[1\]: id 258 is also added_tokens\[0\]/],
    ["bad added token", () => load(broken((j) => ((j["added_tokens"] as Json[])[1]!["content"] = 5))), FormatError, /added_tokens\[1\].content must be a string/],
    ["unknown template token", () => load(broken((j) => ((j["post_processor"] as { processors: Json[] }).processors[1]!["special_tokens"] = {}, (j["added_tokens"] as Json[]).shift()))), FormatError, /special token "<\|begin_of_text\|>" is not defined/],
    ["config names a missing token", () => load(mini(), { pad_token: "<pad>" }), FormatError, /m\/tokenizer_config.json: pad_token "<pad>" is not a token/],
    ["config contradicts", () => load(mini(), { added_tokens_decoder: { "259": { content: "<x>" } } }), FormatError, /id 259 is "<x>"/],
    ["config type", () => load(mini(), { add_bos_token: "yes" }), FormatError, /add_bos_token must be a boolean/],
    ["chat template type", () => load(mini(), { chat_template: [{ name: "a" }] }), FormatError, /chat_template\[0\].template must be a string/],
  ];
  for (const [name, run, type, message] of cases) {
    assert.throws(run, (e: unknown) => e instanceof type && message.test((e as Error).message), name);
  }
});

/**
 * mini()'s tokenizer.json text with its post-processor wrapped in Sequences to `depth` levels
 * (Llama 3's file: depth 2). Built as text: JSON.stringify itself recurses.
 */
function nestedPostProcessor(depth: number): Tokenizer {
  const j = mini();
  const inner = JSON.stringify(j["post_processor"]);
  j["post_processor"] = "@post_processor@";
  const wrapped = '{"type":"Sequence","processors":['.repeat(depth - 1) + inner + "]}".repeat(depth - 1);
  return Tokenizer.fromHuggingFace({ tokenizerJson: JSON.stringify(j).replace('"@post_processor@"', wrapped), tokenizerJsonPath: "m/tokenizer.json" });
}

test("loader limits: post-processor depth, template ids, added-token ids and contents are checked", () => {
  const broken = (edit: (j: Json) => void): Json => {
    const j = mini();
    edit(j);
    return j;
  };
  const templateIds = (ids: unknown[]) => (j: Json): void => {
    const processors = (j["post_processor"] as { processors: Json[] }).processors;
    (processors[1]!["special_tokens"] as Record<string, Json>)["<|begin_of_text|>"]!["ids"] = ids;
  };
  const addedId = (id: number) => (j: Json): void => void ((j["added_tokens"] as Json[])[1]!["id"] = id);
  const cases: ReadonlyArray<readonly [string, () => Tokenizer, RegExp]> = [
    // A deep nesting used to overflow the stack with an untyped RangeError.
    ["deep Sequence", () => nestedPostProcessor(100_000), /deeper than MAX_POST_PROCESSOR_DEPTH = 8/],
    ["template id past the vocabulary", () => load(broken(templateIds([1000]))), /ids\[0\] = 1000 is not a token/],
    ["template id absurd", () => load(broken(templateIds([1e9]))), /ids\[0\] must be an integer token id in 0\.\./],
    ["added id 2^53", () => load(broken(addedId(2 ** 53))), /added_tokens\[1\]\.id must be an integer token id/],
    ["added id far past the vocabulary", () => load(broken(addedId(258 + 100_000))), /more than MAX_ADDED_TOKENS = 65536 past the 258 BPE tokens/],
    ["added token shadows a BPE token", () => load(broken((j) => (j["added_tokens"] as Json[]).push({ id: 65, content: "<x>", special: false }))),
      /added_tokens\[2\]: added token "<x>" has id 65, which is the BPE token "A"/],
    ["decoder key past every id", () => load(mini(), { added_tokens_decoder: { "99999999999999999999": { content: "<big>" } } }), /id 99999999999999999999 is over MAX_TOKEN_ID/],
    ["decoder id far past the vocabulary", () => load(mini(), { added_tokens_decoder: { "1000000": { content: "<big>" } } }), /more than MAX_ADDED_TOKENS/],
    ["decoder empty content", () => load(mini(), { added_tokens_decoder: { "260": { content: "" } } }), /added_tokens_decoder\["260"\]\.content is empty/],
    ["decoder shadows a BPE token", () => load(mini(), { added_tokens_decoder: { "65": { content: "<x>" } } }),
      /m\/tokenizer_config.json: added_tokens_decoder\["65"\]: added token "<x>" has id 65, which is the BPE token "A"/],
  ];
  for (const [name, run, message] of cases) {
    assert.throws(run, (e: unknown) => e instanceof FormatError && message.test(e.message), name);
  }
  // Within the limits: Llama 3's depth, a nesting of 8, and an added token that names a BPE token
  // by its own text (HF allows that; the id keeps one meaning).
  assert.deepEqual(nestedPostProcessor(8).encode("a"), [258, 97]);
  const sameText = load(broken((j) => (j["added_tokens"] as Json[]).push({ id: 65, content: "A", special: false })));
  assert.deepEqual(sameText.encode("xA", { addSpecialTokens: false }), [120, 65]);
  assert.equal(sameText.decode([65]), "A");
});
