// Loading with a backend that converts weights itself (the wasm backend's convertWeight): every
// weight byte-identical to the plain JavaScript path (castFloat / quantizeTensor on the reference
// backend), for HF and Meta folders (q/k permuted before the conversion), in one memory and spread
// over several small ones; the float32 model still matches the golden logits.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import type { LlamaWeights } from "../src/model/weights.js";
import type { WeightTensor } from "../src/tensor/tensor.js";
import { checkAgainstGolden, readGolden } from "./support/golden.js";
import { fixturePath } from "./support/paths.js";

const MATRIX_FIELDS = ["attnQ", "attnK", "attnV", "attnOutput", "ffnGate", "ffnUp", "ffnDown"] as const;
const NORM_FIELDS = ["attnNorm", "ffnNorm"] as const;

const bytes = (t: WeightTensor | Float32Array): Buffer => {
  const data = t instanceof Float32Array ? t : t.data;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
};

/** Every weight of a record (matrices with their dtype) under a readable name. */
function allWeights(w: LlamaWeights): [string, WeightTensor | Float32Array][] {
  return [
    ["token_embd", w.tokenEmbedding], ["output", w.output], ["output_norm", w.outputNorm],
    ...w.layers.flatMap((l, i) => [...MATRIX_FIELDS, ...NORM_FIELDS].map((f): [string, WeightTensor | Float32Array] => [`blk.${i}.${f}`, l[f]])),
  ];
}

const CASES = [
  ["hf", "tiny-v512-bf16-untied-llama3rope", "q8_0"], ["hf", "tiny-v512-bf16-untied-llama3rope", "float32"],
  ["hf", "tiny-v512-f32-untied-norope", "q8_0"], ["hf", "tiny-v512-f32-untied-norope", "bfloat16"],
  ["meta", "meta-tiny-1shard", "q8_0"], ["meta", "meta-tiny-1shard", "float32"],
] as const;

for (const maxMemoryBytes of [undefined, 4 * 65536]) {
  for (const [kind, name, dtype] of CASES) {
    const memories = maxMemoryBytes === undefined ? "one memory" : "small memories";
    test(`a backend's convertWeight loads the bytes of the JavaScript path: ${kind}/${name}, ${dtype}, ${memories}`, async () => {
      const dir = fixturePath(kind, name);
      const backend = await createWasmBackend({ threads: 2, ...(maxMemoryBytes === undefined ? {} : { maxMemoryBytes }) });
      try {
        const converted = await LlamaForCausalLM.fromPretrained(dir, { dtype, backend });
        const plain = await LlamaForCausalLM.fromPretrained(dir, { dtype });
        const expected = allWeights(plain.weights);
        for (const [i, [where, w]] of allWeights(converted.weights).entries()) {
          const [, e] = expected[i]!;
          if (!(w instanceof Float32Array)) {
            assert.equal(w.dtype, (e as WeightTensor).dtype, where);
            assert.notEqual(backend.arena.locate(w.data), undefined, `${where}: in the backend's memory`);
          }
          assert.ok(bytes(w).equals(bytes(e)), `${where}: bytes differ from the JavaScript path`);
        }
        if (kind === "hf" && dtype === "float32") {
          for (const [i, result] of readGolden(join(dir, "golden.json")).entries()) await checkAgainstGolden(converted, result, `${name}#${i} (${dtype}, ${memories})`);
        }
      } finally {
        await backend.close();
      }
    });
  }
}
