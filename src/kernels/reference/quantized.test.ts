// The Q8_0 reference kernels: a hand-computed product, the multiply against a float64 computation on
// the same quantized operands (only float32 summation may differ), the quantization error against the
// float product within a bound derived from the block scales, the embedding lookup, and dispatch
// through linear.ts and the reference backend.

import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceBackend } from "../../backend/reference.js";
import { Rng } from "../../tensor/rng.js";
import { q8_0Scale } from "../../tensor/q8_0.js";
import { type QuantTensor, dequantizeTensor, quantizeTensor } from "../../tensor/quant-formats.js";
import { embed, matmul } from "./linear.js";
import { embedQuant, matmulQuant } from "./quant-dot.js";

const U32 = 2 ** -24; // unit roundoff of float32

function randomMatrix(rng: Rng, rows: number, cols: number, scale = 1): Float32Array {
  // Heavy-ish tails (1 in 50 values x8) so block scales vary, as in real weights and activations.
  return new Float32Array(rows * cols).map(() => rng.normal() * scale * (rng.uniform() < 0.02 ? 8 : 1));
}

function q8(rows: number, cols: number, data: Float32Array): QuantTensor {
  return quantizeTensor({ dtype: "f32", shape: [rows, cols], data }, "q8_0");
}

test("a hand-computed product: integer dot of the quants times d_w * d_x", () => {
  // w = [127, -127, 0...]: d_w = 1. x = [1, 2, 0...]: d_x = fround(2/127), id = 63.5 exactly, so
  // x -> [64 (63.5, a tie, away from zero), 127]. sumi = 127 * 64 - 127 * 127 = -8001;
  // d_x as float16 = 2 * 0.00787353515625. The float product would be 127 - 254 = -127.
  const w = q8(1, 32, new Float32Array(32).fill(0).map((_, i) => (i === 0 ? 127 : i === 1 ? -127 : 0)));
  const x = new Float32Array(32).map((_, i) => (i === 0 ? 1 : i === 1 ? 2 : 0));
  const out = new Float32Array(1);
  matmulQuant(out, x, w, 1);
  assert.equal(out[0], Math.fround(-8001 * 0.0157470703125));
});

test("matmul equals a float64 computation on the dequantized weights and quantized activations", () => {
  const rng = new Rng(11);
  const [nTokens, inFeatures, outFeatures] = [3, 256, 40];
  const w = q8(outFeatures, inFeatures, randomMatrix(rng, outFeatures, inFeatures, 0.05));
  const x = randomMatrix(rng, nTokens, inFeatures, 2);
  const out = new Float32Array(nTokens * outFeatures);
  matmulQuant(out, x, w, nTokens);
  // The same operands, independently: x quantized by the same quantizer, both dequantized (exact).
  const wv = dequantizeTensor(w);
  const xv = dequantizeTensor(q8(nTokens, inFeatures, x));
  const nBlocks = inFeatures / 32;
  for (let t = 0; t < nTokens; t++) {
    for (let o = 0; o < outFeatures; o++) {
      let exact = 0;
      let magnitude = 0; // sum over blocks of |block dot|
      for (let b = 0; b < nBlocks; b++) {
        let blockDot = 0;
        for (let j = b * 32; j < (b + 1) * 32; j++) blockDot += wv[o * inFeatures + j]! * xv[t * inFeatures + j]!;
        exact += blockDot;
        magnitude += Math.abs(blockDot);
      }
      // Each block term is exact up to one float32 rounding of sumi * (d_w d_x), and nBlocks float32
      // additions follow: |error| <= (nBlocks + 1) u sum|terms| (Higham, recursive summation, first order).
      const tolerance = (nBlocks + 1) * U32 * magnitude;
      const got = out[t * outFeatures + o]!;
      assert.ok(Math.abs(got - exact) <= tolerance, `out[${t}, ${o}] = ${got}, float64 ${exact}, tolerance ${tolerance}`);
    }
  }
});

/** Per-block bound on |value - dequantized value| (see q8_0.test.ts): d/2 plus the float16 rounding of d. */
function blockErrorBounds(values: Float32Array, t: QuantTensor): Float64Array {
  const bounds = new Float64Array(values.length / 32);
  for (let b = 0; b < bounds.length; b++) {
    let amax = 0;
    for (let j = b * 32; j < (b + 1) * 32; j++) amax = Math.max(amax, Math.abs(values[j]!));
    const d = Math.fround(amax / 127);
    bounds[b] = d * (0.5 + 2 ** -15) + 127 * Math.abs(d - q8_0Scale(t.data, b * 34));
  }
  return bounds;
}

test("quantization error against the float product stays within the bound the block scales give", () => {
  const rng = new Rng(12);
  const [nTokens, inFeatures, outFeatures] = [2, 512, 24];
  const wf = randomMatrix(rng, outFeatures, inFeatures, 0.05);
  const x = randomMatrix(rng, nTokens, inFeatures, 3);
  const w = q8(outFeatures, inFeatures, wf);
  const out = new Float32Array(nTokens * outFeatures);
  matmulQuant(out, x, w, nTokens);
  const wq = dequantizeTensor(w);
  const ew = blockErrorBounds(wf, w); // (outFeatures * inFeatures / 32)
  const ex = blockErrorBounds(x, q8(nTokens, inFeatures, x)); // (nTokens * inFeatures / 32)
  const nBlocks = inFeatures / 32;
  let worstRatio = 0;
  for (let t = 0; t < nTokens; t++) {
    for (let o = 0; o < outFeatures; o++) {
      // w~x~ - wx = (w~ - w) x + w~ (x~ - x), so |error| <= sum_i e_w |x_i| + |w~_i| e_x, per block;
      // plus the kernel's float32 summation, (nBlocks + 1) u sum |w~_i x~_i| as above.
      let float = 0;
      let bound = 0;
      let magnitude = 0;
      for (let i = 0; i < inFeatures; i++) {
        const wi = wf[o * inFeatures + i]!;
        const wqi = wq[o * inFeatures + i]!;
        const xi = x[t * inFeatures + i]!;
        const b = Math.floor(i / 32);
        float += wi * xi;
        bound += ew[o * nBlocks + b]! * Math.abs(xi) + Math.abs(wqi) * ex[t * nBlocks + b]!;
        magnitude += Math.abs(wqi) * (Math.abs(xi) + ex[t * nBlocks + b]!);
      }
      bound += (nBlocks + 1) * U32 * magnitude;
      const error = Math.abs(out[t * outFeatures + o]! - float);
      assert.ok(error <= bound, `out[${t}, ${o}]: error ${error} > bound ${bound}`);
      worstRatio = Math.max(worstRatio, error / bound);
    }
  }
  // The bound is worst case (every rounding error aligned); independent errors cancel to a few
  // times 1/sqrt(inFeatures) of it (0.1 measured here), but quantization does change the result.
  assert.ok(worstRatio > 0 && worstRatio < 0.5, `worst error / bound = ${worstRatio}`);
});

test("embed from a q8_0 table returns the dequantized rows", () => {
  const rng = new Rng(13);
  const [vocab, dim] = [10, 64];
  const table = q8(vocab, dim, randomMatrix(rng, vocab, dim));
  const all = dequantizeTensor(table);
  const ids = [3, 0, 9, 3];
  const out = new Float32Array(ids.length * dim);
  embedQuant(out, table, ids);
  ids.forEach((id, t) => assert.deepEqual(out.subarray(t * dim, (t + 1) * dim), all.subarray(id * dim, (id + 1) * dim)));
});

test("linear.ts and the reference backend dispatch q8_0 weights to the q8_0 kernels", () => {
  const rng = new Rng(14);
  const w = q8(8, 64, randomMatrix(rng, 8, 64));
  const x = randomMatrix(rng, 2, 64);
  const [direct, viaLinear, viaBackend] = [new Float32Array(16), new Float32Array(16), new Float32Array(16)];
  matmulQuant(direct, x, w, 2);
  matmul(viaLinear, x, w, 2);
  referenceBackend.matmul(viaBackend, x, w, 2);
  assert.deepEqual(viaLinear, direct);
  assert.deepEqual(viaBackend, direct);
  const [e1, e2] = [new Float32Array(128), new Float32Array(128)];
  embedQuant(e1, w, [7, 1]);
  embed(e2, w, [7, 1]);
  assert.deepEqual(e2, e1);
});
