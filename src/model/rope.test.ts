// Rotary tables: inverse frequencies with and without the Llama 3.1 scaling, against values
// computed independently in numpy float32, and the cos/sin table.

import { test } from "node:test";
import assert from "node:assert/strict";
import { RopeTable, ropeInverseFrequencies } from "./rope.js";

// Expected values computed independently with numpy in float32, following transformers'
// _compute_llama3_parameters step by step (headDim 128, theta 500000, factor 8, low 1, high 4,
// original 8192 = Llama 3.1 8B):
//   inv = 1 / (np.float32(5e5) ** (np.arange(0, 128, 2).astype(np.float32) / np.float32(128)))
//   wavelen = np.float32(2 * pi) / inv; ... np.where(...) as in the transformers source.
// Tolerance: a few float32 ulps (pow may round differently by one ulp between libms).
const LLAMA31_EXPECTED: readonly [number, number, number][] = [
  // [i, unscaled, scaled]
  [0, 1.0, 1.0],
  [10, 0.12868738174438477, 0.12868738174438477], // high frequency: unchanged
  [25, 0.0059407297521829605, 0.0059407297521829605],
  [30, 0.002131119603291154, 0.0013718936825171113], // medium: smooth blend
  [35, 0.0007644970319233835, 9.556212899042293e-05], // low: divided by 8
  [63, 2.4551407022954663e-06, 3.068925877869333e-07],
];
const RELATIVE_TOLERANCE = 5e-7;

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= RELATIVE_TOLERANCE * Math.abs(expected), `${what}: ${actual} != ${expected}`);
}

test("inverse frequencies without scaling are theta^(-2i/d)", () => {
  const inv = ropeInverseFrequencies(128, 500000, { kind: "none" });
  assert.equal(inv.length, 64);
  for (const [i, unscaled] of LLAMA31_EXPECTED) assertClose(inv[i]!, unscaled, `i=${i}`);
});

test("the llama3 scaling keeps high, divides low and blends medium frequencies", () => {
  const inv = ropeInverseFrequencies(128, 500000, { kind: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  for (const [i, , scaled] of LLAMA31_EXPECTED) assertClose(inv[i]!, scaled, `i=${i}`);
});

test("the rope table holds cos/sin of position x frequency and grows on demand", () => {
  const table = new RopeTable(ropeInverseFrequencies(16, 500000, { kind: "none" }));
  table.ensure(3);
  table.ensure(1000);
  const inv = table.inverseFrequencies;
  for (const pos of [0, 1, 2, 999]) {
    const cos = table.cosRows(pos, 1);
    const sin = table.sinRows(pos, 1);
    for (let i = 0; i < 8; i++) {
      assert.ok(Math.abs(cos[i]! - Math.cos(pos * inv[i]!)) < 1e-6);
      assert.ok(Math.abs(sin[i]! - Math.sin(pos * inv[i]!)) < 1e-6);
    }
  }
  assert.equal(table.cosRows(10, 4).length, 32);
});
