import { after, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePath } from "../../test/support/paths.js";
import { FormatError, TokenizerError } from "../errors.js";
import { mini } from "./mini-tokenizer.test.util.js";
import { Tokenizer } from "./tokenizer.js";

const root = mkdtempSync(join(tmpdir(), "llama3-tok-"));
after(() => rmSync(root, { recursive: true, force: true }));
const metaModel = fixturePath("meta", "meta-tiny-scaled", "tokenizer.model");

/** A folder under the temp root with the given files (content string, or a path to copy). */
function folder(name: string, files: Record<string, string | { copy: string }>): string {
  const dir = join(root, name);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    if (typeof content === "string") writeFileSync(join(dir, file), content);
    else copyFileSync(content.copy, join(dir, file));
  }
  return dir;
}

test("a Meta folder: 3.0 vs 3.1 names guessed from params.json, or chosen explicitly", async () => {
  const v31 = folder("m31", { "tokenizer.model": { copy: metaModel }, "params.json": '{"dim": 8, "use_scaled_rope": true}' });
  const v30 = folder("m30", { "tokenizer.model": { copy: metaModel }, "params.json": '{"dim": 8}' });
  const bare = folder("bare", { "tokenizer.model": { copy: metaModel } });
  assert.equal((await Tokenizer.fromPretrained(v31)).specialTokenNames, "3.1");
  assert.equal((await Tokenizer.fromPretrained(v30)).specialTokenNames, "3.0");
  assert.deepEqual((await Tokenizer.fromPretrained(v30)).eosTokenIds, [128001, 128009]);
  assert.equal((await Tokenizer.fromPretrained(bare)).specialTokenNames, "3.1");
  const forced = await Tokenizer.fromPretrained(v31, { specialTokenNames: "3.0" });
  assert.equal(forced.idToToken(128008), "<|reserved_special_token_4|>");
});

test("tokenizer.json is preferred; Meta files are also found under original/", async () => {
  const both = folder("both", {
    "tokenizer.json": JSON.stringify(mini()),
    "tokenizer_config.json": '{"eos_token": "<|end_of_text|>", "chat_template": "from the config"}',
    "generation_config.json": '{"eos_token_id": [259, 97], "bos_token_id": 258}',
    "chat_template.jinja": "{{ messages }}",
    "tokenizer.model": { copy: metaModel },
  });
  const tok = await Tokenizer.fromPretrained(both);
  assert.ok(tok.source.endsWith("tokenizer.json"));
  assert.equal(tok.specialTokenNames, undefined);
  assert.equal(tok.chatTemplate, "{{ messages }}"); // chat_template.jinja wins, as in transformers
  assert.deepEqual(tok.eosTokenIds, [97, 259]);
  const nested = folder("nested", { "original/tokenizer.model": { copy: metaModel }, "original/params.json": '{"use_scaled_rope": false}' });
  const fromOriginal = await Tokenizer.fromPretrained(nested);
  assert.ok(fromOriginal.source.endsWith(join("original", "tokenizer.model")));
  assert.equal(fromOriginal.specialTokenNames, "3.0");
});

test("missing or malformed folders are clear errors", async () => {
  await assert.rejects(Tokenizer.fromPretrained(join(root, "nope")), (e: unknown) => e instanceof TokenizerError && /does not exist/.test(e.message));
  const empty = folder("empty", { "README.md": "hi" });
  await assert.rejects(Tokenizer.fromPretrained(empty), (e: unknown) => e instanceof TokenizerError && /no tokenizer.json or tokenizer.model/.test(e.message));
  const badParams = folder("badparams", { "tokenizer.model": { copy: metaModel }, "params.json": "{oops" });
  await assert.rejects(Tokenizer.fromPretrained(badParams), (e: unknown) => e instanceof FormatError && e.path.endsWith("params.json"));
  const badModel = folder("badmodel", { "tokenizer.model": "IQ== 0\nnot a line\n" });
  await assert.rejects(Tokenizer.fromPretrained(badModel), (e: unknown) => e instanceof FormatError && /line 2/.test(e.message));
});
