// The independent test vectors of ../shared/fixtures/tokenizer (Meta's, HF transformers', tiktoken's
// and llama3-tokenizer-js's own tests) against every way of loading the tokenizer, and the loaders
// against each other. See ../shared/fixtures/README.md for the flags of each case.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePath } from "../../test/support/paths.js";
import { BytePairEncoder } from "./bpe.js";
import { parseTiktokenBpe } from "./load-tiktoken.js";
import { bundledTokenizerDir } from "./pretrained.js";
import { pythonStrip } from "./python-strip.test.util.js";
import { llama3SpecialTokenNames } from "./special-tokens.js";
import { Tokenizer } from "./tokenizer.js";

interface Case {
  readonly kind: string;
  readonly text?: string;
  readonly texts?: readonly string[];
  readonly chars?: readonly string[];
  readonly ids?: readonly number[];
  readonly bos?: boolean;
  readonly eos?: boolean;
  readonly special_tokens_parsed?: boolean;
  readonly requires_special_token_names?: string;
  readonly bytes_hex?: string;
  readonly first_token?: string;
  readonly message?: Message;
  readonly dialog?: readonly Message[];
}
interface Message {
  readonly role: string;
  readonly content: string;
}

const FIXTURE_FILES = [
  "meta_llama3_test_tokenizer.json",
  "transformers_tiktoken_llama.json",
  "llama3_tokenizer_js.json",
  "tiktoken_cl100k.json",
];
/** Case kinds specific to another library's API, not checked here. */
const NOT_APPLICABLE = new Set(["optimisticCount", "decode_with_offsets"]);

const cases = (file: string): Case[] =>
  (JSON.parse(readFileSync(fixturePath("tokenizer", file), "utf8")) as { cases: Case[] }).cases;

const metaDir = fixturePath("meta", "meta-tiny-scaled");
const modelText = readFileSync(join(metaDir, "tokenizer.model"), "utf8");
const metaBpe = new BytePairEncoder(parseTiktokenBpe(modelText, "tokenizer.model"));
const bundledDir = bundledTokenizerDir();
const ggufPath = fixturePath("gguf", "gguf-small-q8_0.gguf");
const bundledJson = readFileSync(join(bundledDir, "tokenizer.json"), "utf8");
const bundledConfig = readFileSync(join(bundledDir, "tokenizer_config.json"), "utf8");

/** The bundled tokenizer.json renamed to Llama 3.1's special-token names, as HF's 3.1 file has them. */
function hfWith31Names(): Tokenizer {
  // Rewrite only the added_tokens section (near the top of the file) instead of re-serialising 9 MB.
  const start = bundledJson.indexOf('"added_tokens"');
  const end = bundledJson.indexOf('"normalizer"', start);
  const section = JSON.parse(`{${bundledJson.slice(start, end).trimEnd().replace(/,$/, "")}}`) as {
    added_tokens: Array<{ id: number; content: string }>;
  };
  const names = llama3SpecialTokenNames("3.1");
  for (const t of section.added_tokens) t.content = names[t.id - 128000]!;
  const json = `${bundledJson.slice(0, start)}"added_tokens": ${JSON.stringify(section.added_tokens)},${bundledJson.slice(end)}`;
  const config = JSON.parse(bundledConfig) as { added_tokens_decoder: Record<string, { content: string }> };
  for (const [id, t] of Object.entries(config.added_tokens_decoder)) t.content = names[Number(id) - 128000]!;
  return Tokenizer.fromHuggingFace({
    tokenizerJson: json,
    tokenizerJsonPath: "tokenizer.json (3.1 names)",
    tokenizerConfig: JSON.stringify(config),
  });
}

interface Variant {
  readonly name: string;
  readonly names31: boolean;
  readonly tokenizer: Tokenizer;
}
const variants: readonly Variant[] = [
  { name: "tokenizer.model via fromPretrained (3.1 from params.json)", names31: true, tokenizer: await Tokenizer.fromPretrained(metaDir) },
  { name: "tokenizer.model with 3.0 names", names31: false, tokenizer: Tokenizer.fromTiktoken(modelText, { specialTokenNames: "3.0" }) },
  { name: "bundled tokenizer.json (3.0 names)", names31: false, tokenizer: await Tokenizer.bundled() },
  { name: "tokenizer.json with 3.1 names", names31: true, tokenizer: hfWith31Names() },
  // llama.cpp's converter wrote this file's tokenizer.ggml.* keys from the bundled tokenizer.json.
  { name: "GGUF tokenizer.ggml.* (gguf-small-q8_0.gguf, 3.0 names)", names31: false, tokenizer: await Tokenizer.fromPretrained(ggufPath) },
];

function encodeCase(tok: Tokenizer, c: Case): number[] {
  const ids = tok.encode(c.text!, {
    addSpecialTokens: c.bos === true,
    allowedSpecial: c.special_tokens_parsed === true ? "all" : "none",
  });
  if (c.eos === true) ids.push(tok.eosTokenId);
  return ids;
}

/** Meta's ChatFormat (llama/tokenizer.py), built from encode calls with Meta's defaults (Python's strip). */
function encodeMessage(tok: Tokenizer, m: Message): number[] {
  const plain = (s: string): number[] => tok.encode(s, { addSpecialTokens: false, allowedSpecial: "none" });
  return [
    tok.tokenToId("<|start_header_id|>")!,
    ...plain(m.role),
    tok.tokenToId("<|end_header_id|>")!,
    ...plain("\n\n"),
    ...plain(pythonStrip(m.content)),
    tok.tokenToId("<|eot_id|>")!,
  ];
}

function checkCase(tok: Tokenizer, c: Case, where: string): void {
  switch (c.kind) {
    case "encode":
      assert.deepEqual(encodeCase(tok, c), c.ids, where);
      break;
    case "decode":
      assert.equal(tok.decode(c.ids!), c.text, where);
      break;
    case "special_token":
      assert.deepEqual([tok.tokenToId(c.text!)], c.ids, where);
      assert.deepEqual(tok.encode(c.text!, { addSpecialTokens: false }), c.ids, where);
      break;
    case "encode_message":
      assert.deepEqual(encodeMessage(tok, c.message!), c.ids, where);
      break;
    case "encode_dialog_prompt": {
      const ids = [tok.bosTokenId, ...c.dialog!.flatMap((m) => encodeMessage(tok, m))];
      ids.push(...encodeMessage(tok, { role: "assistant", content: "" }).slice(0, -1)); // header, no eot
      assert.deepEqual(ids, c.ids, where);
      break;
    }
    case "tokenize_first_piece":
      assert.equal(tok.idToToken(tok.encode(c.text!, { addSpecialTokens: false })[0]!), c.first_token, where);
      break;
    case "encode_bytes": {
      // Raw (non-UTF-8) bytes have no string form; check the BPE step they exercise directly.
      // The ranks are the same for every variant (checked by the cross-loader test).
      const out: number[] = [];
      const bytes = new Uint8Array(Buffer.from(c.bytes_hex!, "hex"));
      metaBpe.encode(bytes, bytes.length, out);
      assert.deepEqual(out, c.ids, where);
      break;
    }
    case "roundtrip":
      for (const text of c.texts!) assert.equal(tok.decode(tok.encode(text, { addSpecialTokens: false })), text, where);
      break;
    case "roundtrip_repetitive":
      for (const ch of c.chars!) {
        const s = ch.repeat(10000);
        for (const text of [s, ` ${s}`, ` ${s}\n`]) {
          assert.equal(tok.decode(tok.encode(text, { addSpecialTokens: false })), text, `${where} ${JSON.stringify(ch)}`);
        }
      }
      break;
    default:
      assert.ok(NOT_APPLICABLE.has(c.kind), `${where}: unknown case kind ${c.kind}`);
  }
}

for (const file of FIXTURE_FILES) {
  test(`fixture vectors ${file}`, async (t) => {
    for (const variant of variants) {
      await t.test(variant.name, () => {
        let checked = 0;
        cases(file).forEach((c, index) => {
          if (c.requires_special_token_names !== undefined && !variant.names31) return;
          checkCase(variant.tokenizer, c, `${file} case ${index} (${c.kind})`);
          checked++;
        });
        assert.ok(checked > 0);
      });
    }
  });
}

test("all loaders give identical ids on every fixture text", () => {
  const texts = FIXTURE_FILES.flatMap((f) => cases(f)).flatMap((c) => [c.text ?? "", ...(c.texts ?? [])]);
  const [first, ...others] = variants;
  for (const text of texts) {
    for (const allowedSpecial of ["all", "none"] as const) {
      if (allowedSpecial === "all" && /<\|reserved_special_token_(\d|[1-9]\d+)\|>|<\|(eom_id|python_tag|finetune_right_pad_id)\|>/.test(text)) {
        continue; // names that differ between 3.0 and 3.1 by design
      }
      const expected = first!.tokenizer.encode(text, { allowedSpecial });
      for (const v of others) assert.deepEqual(v.tokenizer.encode(text, { allowedSpecial }), expected, `${v.name}: ${JSON.stringify(text)}`);
    }
  }
});

/** Same number of ids and the same bytes for every id. */
function assertSameVocabulary(x: Tokenizer, y: Tokenizer): void {
  assert.equal(x.vocabSize, y.vocabSize);
  for (let id = 0; id < x.vocabSize; id++) {
    const a = x.idToBytes(id)!;
    const b = y.idToBytes(id)!;
    if (a.length !== b.length || a.some((v, k) => v !== b[k])) assert.fail(`id ${id} differs`);
  }
}

test("the bundled tokenizer.json and Meta's tokenizer.model hold the same vocabulary", () => {
  const hf = variants[2]!.tokenizer;
  const meta = variants[1]!.tokenizer; // tokenizer.model with 3.0 names, as the bundled file has
  assertSameVocabulary(hf, meta);
  assert.deepEqual(hf.specialTokens, meta.specialTokens);
  assert.deepEqual(hf.eosTokenIds, meta.eosTokenIds);
  assert.ok(hf.chatTemplate?.includes("<|start_header_id|>"));
});

test("the GGUF tokenizer equals the bundled tokenizer.json: vocabulary, special tokens, BOS, chat template", () => {
  const hf = variants[2]!.tokenizer;
  const gguf = variants[4]!.tokenizer;
  assertSameVocabulary(hf, gguf);
  assert.deepEqual(gguf.specialTokens, hf.specialTokens);
  assert.equal(gguf.bosTokenId, hf.bosTokenId);
  assert.equal(gguf.eosTokenId, hf.eosTokenId);
  assert.deepEqual(gguf.encode("Hello world"), hf.encode("Hello world"));
  assert.equal(gguf.chatTemplate, hf.chatTemplate);
});

test("Meta's ChatFormat strips message content with Python's str.strip(), not JavaScript's trim()", () => {
  // Python: " \x1c\x85 hi \u3000\t".strip() == "hi"; "\ufeffhi\ufeff".strip() keeps both U+FEFF.
  assert.equal(pythonStrip(" \x1c\x85 hi \u3000\t"), "hi");
  assert.equal(pythonStrip("\ufeffhi\ufeff"), "\ufeffhi\ufeff");
  assert.equal(pythonStrip("\x1f\r\n"), "");
  const tok = variants[0]!.tokenizer;
  const ids = encodeMessage(tok, { role: "user", content: "\ufeffhi\x1c" });
  const content = tok.encode("\ufeffhi", { addSpecialTokens: false, allowedSpecial: "none" });
  assert.deepEqual(ids.slice(-1 - content.length, -1), content);
});
