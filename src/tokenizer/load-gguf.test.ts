// The GGUF tokenizer reader's refusals: another tokenizer model or pre-tokenizer, missing or
// mismatched token types, merges out of rank order, unknown token types; and the writer's keys read
// back to the same tokenizer. (Equality with tokenizer.json on every fixture vector: fixtures.test.ts.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { fixturePath } from "../../test/support/paths.js";
import { ConfigError, FormatError, UnsupportedError } from "../errors.js";
import type { GgufValue } from "../io/gguf/gguf-header.js";
import { GgufMetadataReader } from "../io/gguf/gguf-metadata.js";
import { openGguf } from "../io/gguf/gguf-reader.js";
import { ggufTokenizerMetadata } from "./export-gguf.js";
import { dataFromGguf } from "./load-gguf.js";
import { bundledTokenizerDir, readPretrained } from "./pretrained.js";

const file = await openGguf(fixturePath("gguf", "gguf-small-q8_0.gguf"));
const metadata = new Map(file.metadata);
await file.close();

function read(edit: (m: Map<string, GgufValue>) => void): ReturnType<typeof dataFromGguf> {
  const m = new Map(metadata);
  edit(m);
  return dataFromGguf(new GgufMetadataReader(m, "edited.gguf"));
}

const strings = (items: string[]): GgufValue => ({ type: "array", value: { itemType: "string", items } });
const ints = (items: number[]): GgufValue => ({ type: "array", value: { itemType: "i32", items } });
const list = (key: string): unknown[] => [...(metadata.get(key)!.value as { readonly items: readonly unknown[] }).items];

test("GGUF tokenizer: other models and pre-tokenizers are UnsupportedError", () => {
  assert.throws(() => read((m) => m.set("tokenizer.ggml.model", { type: "string", value: "llama" })), UnsupportedError);
  assert.throws(() => read((m) => m.set("tokenizer.ggml.pre", { type: "string", value: "qwen2" })), /tokenizer.ggml.pre "qwen2" is not supported/);
  assert.ok(read((m) => m.delete("tokenizer.ggml.pre")).warnings.some((w) => w.includes("tokenizer.ggml.pre is missing")));
});

test("GGUF tokenizer: token types missing, of the wrong length or of an unknown kind are refused", () => {
  assert.throws(() => read((m) => m.delete("tokenizer.ggml.token_type")), ConfigError);
  assert.throws(() => read((m) => m.set("tokenizer.ggml.token_type", ints([1, 1]))), /has 2 entries for 128256 tokens/);
  const types = list("tokenizer.ggml.token_type") as number[];
  types[128005] = 6;
  assert.throws(() => read((m) => m.set("tokenizer.ggml.token_type", ints(types))), (e: unknown) => e instanceof FormatError && /token_type\[128005\] is 6/.test(e.message));
});

test("GGUF tokenizer: merges out of rank order or naming unknown tokens are refused; a bos id past the vocabulary too", () => {
  const merges = list("tokenizer.ggml.merges") as string[];
  assert.throws(() => read((m) => m.set("tokenizer.ggml.merges", strings([merges[5]!, merges[0]!]))), /out of rank order/);
  assert.throws(() => read((m) => m.set("tokenizer.ggml.merges", strings(["qzqzqzq ĠzqzqzqzĠ"]))), /is not a BPE token/);
  assert.throws(() => read((m) => m.set("tokenizer.ggml.bos_token_id", { type: "u32", value: 999999 })), ConfigError);
});

test("GGUF tokenizer keys written from the bundled tokenizer.json equal llama.cpp converter's (the fixture file's)", async () => {
  const written = new Map(ggufTokenizerMetadata(await readPretrained(bundledTokenizerDir()), 128256));
  for (const key of ["tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.chat_template"]) {
    assert.deepEqual(written.get(key), metadata.get(key), key);
  }
});
