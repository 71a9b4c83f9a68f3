// Every block format against llama.cpp on the gguf-small fixture (../shared/fixtures/gguf), for the
// quantized files that are not stored there (Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_S, Q6_K; the stored
// four are in gguf-fixtures.test.ts): the F32 original (made at test time) quantized by our
// quantize_row_*_ref ports and dequantized by our dequantize_row_* ports gives llama.cpp's dequantized
// values of llama.cpp's own quantization (dequant/<file>.json: SHA-256 of every matrix; the first 512
// values of the tied embedding, of which two rows are quantized here to keep the test fast).
//
// With LLAMA3_GGUF_QUANTIZED_DIR set to a folder holding those files made by llama.cpp
// (../shared/fixtures/gguf/README.md step 2: `python3 quantize_gguf.py gguf-small-f32.gguf
// DIR/gguf-small Q4_1 ...`), also: our quantized bytes equal llama.cpp's for every matrix (the first 8
// rows of the embedding), and our dequantization of llama.cpp's bytes equals its values.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UnsupportedError } from "../src/errors.js";
import { GGML_TYPES } from "../src/io/gguf/gguf-constants.js";
import { openGguf } from "../src/io/gguf/index.js";
import { storedTypeOf } from "../src/loader/gguf.js";
import { BLOCK_FORMATS, QUANT_TYPES, dequantizeTensor, isQuantType, makeQuantTensor, quantRowBytes, quantizeTensor } from "../src/tensor/quant-formats.js";
import type { QuantType } from "../src/tensor/quant-formats.js";
import { ggufSmall, ggufSmallUnavailable } from "./support/gguf-small.js";
import { fixturePath } from "./support/paths.js";

const NOT_STORED = ["q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m", "q4_k_s", "q6_k"];
const QUANTIZED_DIR = process.env["LLAMA3_GGUF_QUANTIZED_DIR"];
const EMBEDDING = "token_embd.weight";

interface Golden {
  readonly file_sha256: string;
  readonly tensors: readonly { name: string; type: string; ne: number[]; dequant_sha256: string; first_512_f32_base64: string }[];
}

function sha256(values: Float32Array): string {
  return createHash("sha256").update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest("hex");
}

function first512(g: Golden["tensors"][number]): Float32Array {
  const bytes = Buffer.from(g.first_512_f32_base64, "base64");
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

for (const name of NOT_STORED) {
  test(`gguf-small-${name}: the F32 weights quantized and dequantized here equal llama.cpp's dequantized ${name} file`, async (t) => {
    const why = ggufSmallUnavailable();
    if (why !== undefined) return t.skip(why);
    const golden = JSON.parse(readFileSync(fixturePath("gguf", "dequant", `gguf-small-${name}.json`), "utf8")) as Golden;
    const f32 = await openGguf(ggufSmall().f32Gguf);
    const types = new Set<string>();
    try {
      for (const g of golden.tensors) {
        const type = g.type.toLowerCase();
        if (type === "f32") continue;
        assert.ok(isQuantType(type), `${g.name}: ${g.type} is in the block-format table`);
        types.add(g.type);
        const [cols, fullRows] = g.ne as [number, number];
        const rows = g.name === EMBEDDING ? 512 / cols : fullRows;
        const bytes = await f32.readBytes(g.name);
        const data = new Float32Array(bytes.buffer, bytes.byteOffset, rows * cols); // (rows, cols), llama.cpp's stored order
        const values = dequantizeTensor(quantizeTensor({ dtype: "f32", shape: [rows, cols], data }, type as QuantType, g.name));
        if (g.name === EMBEDDING) assert.deepEqual(values, first512(g), `${g.name} (${g.type}), first 512 values`);
        else assert.equal(sha256(values), g.dequant_sha256, `${g.name} (${g.type})`);
      }
    } finally {
      await f32.close();
    }
    t.diagnostic(`types checked: ${[...types].join(", ")}`);
  });
}

for (const name of NOT_STORED) {
  const path = QUANTIZED_DIR === undefined ? undefined : join(QUANTIZED_DIR, `gguf-small-${name}.gguf`);
  test(`gguf-small-${name} made by llama.cpp (LLAMA3_GGUF_QUANTIZED_DIR): our quantized bytes and our dequantization of its bytes equal llama.cpp's`, async (t) => {
    if (path === undefined || !existsSync(path)) return t.skip(`set LLAMA3_GGUF_QUANTIZED_DIR to a folder with llama.cpp's gguf-small-${name}.gguf (README step 2)`);
    const why = ggufSmallUnavailable();
    if (why !== undefined) return t.skip(why);
    const golden = JSON.parse(readFileSync(fixturePath("gguf", "dequant", `gguf-small-${name}.json`), "utf8")) as Golden;
    assert.equal(createHash("sha256").update(readFileSync(path)).digest("hex"), golden.file_sha256, `${path} is not the file the fixtures describe`);
    const [file, f32] = [await openGguf(path), await openGguf(ggufSmall().f32Gguf)];
    try {
      for (const g of golden.tensors) {
        const info = file.tensor(g.name);
        const type = storedTypeOf(info, path);
        if (!isQuantType(type)) continue;
        const stored = await file.readBytes(g.name);
        const [rows, cols] = [g.name === EMBEDDING ? 8 : info.shape[0]!, info.shape[1]!];
        if (g.name !== EMBEDDING) assert.equal(sha256(dequantizeTensor(makeQuantTensor(type, info.shape, stored))), g.dequant_sha256, `dequantized ${g.name}`);
        const src = await f32.readBytes(g.name);
        const ours = quantizeTensor({ dtype: "f32", shape: [rows, cols], data: new Float32Array(src.buffer, src.byteOffset, rows * cols) }, type, g.name);
        assert.ok(Buffer.from(ours.data).equals(stored.subarray(0, rows * quantRowBytes(type, cols))), `quantized ${g.name} (${g.type})`);
      }
    } finally {
      await Promise.all([file.close(), f32.close()]);
    }
  });
}

test("every ggml tensor type: F32/F16/BF16 and the ten weight block formats load (their table rows match ggml's sizes); any other (IQ*, TQ*, MXFP4, Q8_1, Q8_K, I8 ...) is an UnsupportedError naming tensor and type", () => {
  const loadable = new Set(["F32", "F16", "BF16", ...QUANT_TYPES.map((q) => BLOCK_FORMATS[q].ggmlName)]);
  for (const ggmlType of GGML_TYPES) {
    const info = { name: "blk.0.attn_q.weight", ggmlType, ne: [256, 4], shape: [4, 256], byteOffset: 0, byteLength: 0 };
    if (loadable.has(ggmlType.name)) {
      const type = storedTypeOf(info, "m.gguf");
      if (isQuantType(type)) {
        const f = BLOCK_FORMATS[type];
        assert.deepEqual([f.ggmlName, f.ggmlType, f.blockSize, f.blockBytes], [ggmlType.name, ggmlType.id, ggmlType.blockSize, ggmlType.blockBytes]);
      }
    } else {
      assert.throws(() => storedTypeOf(info, "m.gguf"), (e: unknown) => e instanceof UnsupportedError && e.message.includes('"blk.0.attn_q.weight"') && e.message.includes(ggmlType.name), ggmlType.name);
    }
  }
  assert.equal(loadable.size, 13);
});
