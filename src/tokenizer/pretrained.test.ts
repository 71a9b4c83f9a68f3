import { after, test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePath } from "../../test/support/paths.js";
import { FormatError, TokenizerError } from "../errors.js";
import { MAX_JSON_FILE_BYTES } from "../json.js";
import { mini } from "./mini-tokenizer.test.util.js";
import { Tokenizer } from "./tokenizer.js";

const root = mkdtempSync(join(tmpdir(), "llama3-tok-"));
after(() => rmSync(root, { recursive: true, force: true }));
const metaModel = fixturePath("meta", "meta-tiny-scaled", "tokenizer.model");

type FileSpec = string | Uint8Array | { copy: string } | { folder: true } | { sparseBytes: number };

/** A folder under the temp root with the given files (content, a path to copy, a folder, or a sparse file). */
function folder(name: string, files: Record<string, FileSpec>): string {
  const dir = join(root, name);
  for (const [file, content] of Object.entries(files)) {
    const path = join(dir, file);
    mkdirSync(join(path, ".."), { recursive: true });
    if (typeof content === "string" || content instanceof Uint8Array) writeFileSync(path, content);
    else if ("copy" in content) copyFileSync(content.copy, path);
    else if ("folder" in content) mkdirSync(path);
    else {
      const fd = openSync(path, "w"); // a hole: the size without the disk space
      ftruncateSync(fd, content.sparseBytes);
      closeSync(fd);
    }
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
    // Not the tokenizer's to read (src/model/generation-config.ts is): even a broken one is ignored.
    "generation_config.json": '{"eos_token_id": [259, 97], oops',
    "chat_template.jinja": "{{ messages }}",
    "tokenizer.model": { copy: metaModel },
  });
  const tok = await Tokenizer.fromPretrained(both);
  assert.ok(tok.source.endsWith("tokenizer.json"));
  assert.equal(tok.specialTokenNames, undefined);
  assert.equal(tok.chatTemplate, "{{ messages }}"); // chat_template.jinja wins, as in transformers
  assert.deepEqual(tok.eosTokenIds, [259]); // its EOS; generation_config's ids are the model config's
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

test("tokenizer files are read strictly: a folder, invalid UTF-8 or an oversized file is a FormatError naming it", async () => {
  const json = JSON.stringify(mini());
  const cases: ReadonlyArray<readonly [string, Record<string, FileSpec>, string, RegExp]> = [
    ["config is a folder", { "tokenizer.json": json, "tokenizer_config.json": { folder: true } }, "tokenizer_config.json", /not a regular file/],
    ["template not UTF-8", { "tokenizer.json": json, "chat_template.jinja": Uint8Array.of(0x7b, 0x7b, 0xff, 0x7d, 0x7d) }, "chat_template.jinja", /cannot read/],
    ["tokenizer.json not UTF-8", { "tokenizer.json": Uint8Array.of(0x7b, 0xc0, 0x80, 0x7d) }, "tokenizer.json", /cannot read/],
    ["tokenizer.json too large", { "tokenizer.json": { sparseBytes: MAX_JSON_FILE_BYTES + 1 } }, "tokenizer.json", /MAX_JSON_FILE_BYTES/],
    ["tokenizer.model not UTF-8", { "tokenizer.model": Uint8Array.of(0x49, 0x51, 0x3d, 0x3d, 0x20, 0x30, 0xff, 0x0a) }, "tokenizer.model", /cannot read/],
    ["params.json is a folder", { "tokenizer.model": { copy: metaModel }, "params.json": { folder: true } }, "params.json", /not a regular file/],
  ];
  for (const [name, files, file, message] of cases) {
    const dir = folder(`strict-${name.replaceAll(" ", "-")}`, files);
    await assert.rejects(
      Tokenizer.fromPretrained(dir),
      (e: unknown) => e instanceof FormatError && e.path === join(dir, file) && message.test(e.message),
      name,
    );
  }
});
