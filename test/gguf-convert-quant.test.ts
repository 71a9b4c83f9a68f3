// `llama3 convert --to gguf --dtype <llama.cpp file type>` against llama.cpp's quantizer on the
// gguf-small fixture (../shared/fixtures/gguf): the format of every tensor of all eleven file types
// (Q8_0 ... Q6_K, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_M) is the one llama.cpp chose (dequant/<file>.json), and
// converting the F32 folder gives the bytes of llama.cpp's stored Q4_0, Q4_K_M and Q5_K_M files for
// every tensor (on the copy with the vocabulary cut to 512 rows, to keep the test fast: the layers
// whole, the embedding's first 512 rows). Q8_0 on the whole model is in gguf-convert.test.ts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { weightNames } from "../src/convert/names.js";
import { UnsupportedError } from "../src/errors.js";
import { openGguf } from "../src/io/gguf/index.js";
import { GGUF_FILE_TYPES, type GgufFileType, mixTensorType } from "../src/loader/gguf-quant-mix.js";
import { runCliCaptured } from "./support/cli.js";
import { tempDirsRemovedAfter } from "./support/checkpoints.js";
import { CUT_VOCAB, ggufSmallCut, ggufSmallUnavailable } from "./support/gguf-small.js";
import { fixturePath } from "./support/paths.js";

const tempDir = tempDirsRemovedAfter();
/** gguf-small's shape (../shared/fixtures/gguf/README.md). */
const GGUF_SMALL = { nLayers: 2, nHeads: 4, nKvHeads: 2, tieWordEmbeddings: true };

interface Golden {
  readonly tensors: readonly { name: string; type: string; ne: number[] }[];
}

function golden(fileType: string): Golden {
  return JSON.parse(readFileSync(fixturePath("gguf", "dequant", `gguf-small-${fileType}.json`), "utf8")) as Golden;
}

test("every matrix of every llama.cpp file type gets the block format llama.cpp's quantizer chose for gguf-small", () => {
  const names = new Map(weightNames(GGUF_SMALL.nLayers).map((w) => [w.canonical, w]));
  for (const fileType of Object.keys(GGUF_FILE_TYPES) as GgufFileType[]) {
    for (const g of golden(fileType).tensors) {
      const weight = names.get(g.name);
      if (weight === undefined || weight.field.endsWith("Norm")) {
        assert.equal(g.type, "F32", `${fileType} ${g.name}`);
        continue;
      }
      assert.equal(mixTensorType(fileType, weight, g.ne[0]!, GGUF_SMALL).toUpperCase(), g.type, `${fileType} ${g.name}`);
    }
  }
});

test("llama.cpp's choices beyond gguf-small: Q4_K_M lifts attn_v and ffn_down of the use_more_bits layers, GQA and 70B rules, and the block-size fallbacks", () => {
  const w = weightNames(32);
  const byName = (name: string) => w.find((x) => x.canonical === name)!;
  const llama8b = { nLayers: 32, nHeads: 32, nKvHeads: 8, tieWordEmbeddings: false };
  // use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2.
  const lifted = Array.from({ length: 32 }, (_, i) => i).filter((i) => mixTensorType("q4_k_m", byName(`blk.${i}.ffn_down.weight`), 14336, llama8b) === "q6_k");
  assert.deepEqual(lifted, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
  assert.equal(mixTensorType("q4_k_m", byName("token_embd.weight"), 4096, llama8b), "q4_k"); // untied: the base type
  assert.equal(mixTensorType("q4_k_m", byName("output.weight"), 4096, llama8b), "q6_k");
  assert.equal(mixTensorType("q8_0", byName("output.weight"), 4096, llama8b), "q8_0");
  assert.equal(mixTensorType("q2_k", byName("blk.5.attn_v.weight"), 4096, llama8b), "q4_k"); // n_gqa 4
  assert.equal(mixTensorType("q3_k_m", byName("blk.1.attn_v.weight"), 4096, llama8b), "q5_k");
  assert.equal(mixTensorType("q3_k_m", byName("blk.2.attn_v.weight"), 4096, llama8b), "q4_k");
  const llama70b = { nLayers: 80, nHeads: 64, nKvHeads: 8, tieWordEmbeddings: false };
  assert.equal(mixTensorType("q4_k_s", byName("blk.5.attn_v.weight"), 8192, llama70b), "q5_k");
  // Rows not a multiple of 256: Q4_K -> Q5_0, Q6_K -> Q8_0 (llama.cpp's fallbacks); Q2_K's would be IQ4_NL.
  assert.equal(mixTensorType("q4_k_m", byName("blk.0.attn_q.weight"), 96, llama8b), "q5_0");
  assert.equal(mixTensorType("q4_k_m", byName("output.weight"), 96, llama8b), "q8_0");
  assert.throws(() => mixTensorType("q2_k", byName("blk.0.attn_q.weight"), 96, llama8b), UnsupportedError);
});

for (const fileType of ["q4_0", "q4_k_m", "q5_k_m"] as const) {
  test(`convert --to gguf --dtype ${fileType} of the F32 folder gives llama.cpp's ${fileType} file: every tensor's type and bytes`, async (t) => {
    const why = ggufSmallUnavailable();
    if (why !== undefined) return t.skip(why);
    const out = join(tempDir("gguf-convert-quant"), `${fileType}.gguf`);
    const result = await runCliCaptured(["convert", "--to", "gguf", "--input", (await ggufSmallCut()).hfDir, "--output", out, "--dtype", fileType]);
    assert.equal(result.code, 0, result.stderr);
    const [ours, theirs] = await Promise.all([openGguf(out), openGguf(fixturePath("gguf", `gguf-small-${fileType}.gguf`))]);
    try {
      assert.deepEqual([...ours.tensors.keys()].sort(), [...theirs.tensors.keys()].sort());
      assert.equal(ours.metadata.get("general.file_type")?.value, theirs.metadata.get("general.file_type")?.value);
      for (const [name, info] of theirs.tensors) {
        assert.equal(ours.tensor(name).ggmlType.name, info.ggmlType.name, name);
        let expected = await theirs.readBytes(name);
        if (name === "token_embd.weight") expected = expected.subarray(0, (expected.length / info.shape[0]!) * CUT_VOCAB);
        assert.ok(Buffer.from(await ours.readBytes(name)).equals(expected), `${fileType} ${name} bytes`);
      }
    } finally {
      await Promise.all([ours.close(), theirs.close()]);
    }
  });
}
