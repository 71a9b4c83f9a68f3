// The reference dot products of Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K and Q6_K weights (legacy-quants.ts,
// k-quants.ts) through matmulQuant, on seeded random weights and activations with odd row counts:
// (1) equal, bit for bit, to an integer re-statement of ggml's *_generic kernel written from the
// dequantized weights (whose values are checked against llama.cpp's in test/gguf-block-formats.test.ts)
// and the dequantized activations: the integer quants recovered from them, the integer block dots,
// then the C code's float32 operations in its order; (2) within a derived bound of the float64 dot
// of the dequantized operands. Also: Q8_1 is Q8_0 plus s = fp16(d * sum of the quants).

import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../tensor/rng.js";
import { loadF16, loadF32 } from "../../tensor/k-quant-math.js";
import { type QuantType, BLOCK_FORMATS, dequantizeTensor, quantRowBytes, quantizeTensor } from "../../tensor/quant-formats.js";
import { Q2_K_D, Q2_K_DMIN } from "../../tensor/q2_k.js";
import { Q3_K_D } from "../../tensor/q3_k.js";
import { Q6_K_D } from "../../tensor/q6_k.js";
import { Q4_1_M } from "../../tensor/q4_1.js";
import { Q5_1_M } from "../../tensor/q5_1.js";
import { quantizeBlocksQ8_0 } from "../../tensor/q8_0.js";
import { Q8_1_S, quantizeBlocksQ8_1 } from "../../tensor/q8_1.js";
import { QUANT_DOTS, matmulQuant } from "./quant-dot.js";

const U32 = 2 ** -24; // unit roundoff of float32
const fr = Math.fround;

function randomValues(rng: Rng, n: number, scale: number): Float32Array {
  // Heavy-ish tails (1 in 50 values x8) and a mean offset per row, so scales and mins vary.
  return new Float32Array(n).map(() => rng.normal() * scale * (rng.uniform() < 0.02 ? 8 : 1) + 0.3 * scale);
}

/** What one re-statement needs: the weight's fields at block b, the activation's, the values. */
interface Operands {
  readonly w: Uint8Array; // one weight row
  readonly a: Uint8Array; // one quantized activation row
  readonly wv: Float32Array; // the weight row dequantized
  readonly av: Float32Array; // the activation row dequantized
}

/**
 * The integer q with v = fround(q * d) (asserting there is one: dequantized values are d times
 * integers, rounded once to float32 where the product needs more than 24 bits, as Q8_K's).
 */
function ratio(v: number, d: number): number {
  const q = Math.round(v / d);
  assert.equal(fr(q * d), v, `value ${v} is not ${q} x ${d}`);
  return q;
}

/** ggml's generic kernels, re-stated from dequantized values: per type, the float32 result. */
const RESTATED: Record<"q4_0" | "q4_1" | "q5_0" | "q5_1" | "q2_k" | "q3_k" | "q6_k", (o: Operands, n: number) => number> = {
  q4_0: ({ w, a, wv, av }, n) => {
    let sumf = 0;
    for (let b = 0; b < n / 32; b++) {
      const dw = loadF16(w, 18 * b), dx = loadF16(a, 34 * b);
      let sumi = 0;
      for (let j = 32 * b; j < 32 * b + 32; j++) sumi += ratio(wv[j]!, dw) * ratio(av[j]!, dx);
      sumf = fr(sumf + fr(fr(sumi * dw) * dx));
    }
    return sumf;
  },
  q5_0: ({ w, a, wv, av }, n) => {
    let sumf = 0;
    for (let b = 0; b < n / 32; b++) {
      const dw = loadF16(w, 22 * b), dx = loadF16(a, 34 * b);
      let sumi = 0;
      for (let j = 32 * b; j < 32 * b + 32; j++) sumi += ratio(wv[j]!, dw) * ratio(av[j]!, dx);
      sumf = fr(sumf + fr(fr(dw * dx) * sumi));
    }
    return sumf;
  },
  q4_1: (o, n) => restateOffset(o, n, 20, Q4_1_M),
  q5_1: (o, n) => restateOffset(o, n, 24, Q5_1_M),
  q2_k: ({ w, a, wv, av }, n) => {
    let sumf = 0;
    for (let b = 0; b < n / 256; b++) {
      const x = 84 * b, y = 292 * b;
      const d = loadF16(w, x + Q2_K_D), dmin = loadF16(w, x + Q2_K_DMIN), dx = loadF32(a, y);
      let isum = 0, summs = 0;
      for (let g = 0; g < 16; g++) {
        const sc = w[x + g]! & 0xf, m = w[x + g]! >> 4;
        const offset = fr(dmin * m);
        for (let j = 256 * b + 16 * g; j < 256 * b + 16 * g + 16; j++) {
          const q8 = ratio(av[j]!, dx);
          summs += m * q8; // ggml: bsums[g] * m, the same integer
          if (sc === 0) continue;
          const q = Math.round((wv[j]! + offset) / fr(d * sc));
          assert.equal(fr(fr(d * sc) * q - offset), wv[j]!);
          isum += sc * q * q8;
        }
      }
      sumf = fr(sumf + fr(fr(fr(dx * d) * isum) - fr(fr(dx * dmin) * summs)));
    }
    return sumf;
  },
  q3_k: (o, n) => restateLanes(o, n, 110, Q3_K_D),
  q6_k: (o, n) => restateLanes(o, n, 210, Q6_K_D),
};

/** Q3_K / Q6_K: eight int32 lanes (weight index mod 8) of (scale * q) * q8, d_w * d_x times each, per block. */
function restateLanes({ w, a, wv, av }: Operands, n: number, blockBytes: number, dAt: number): number {
  const sums = new Float32Array(8);
  for (let b = 0; b < n / 256; b++) {
    const d = loadF16(w, blockBytes * b + dAt), dx = loadF32(a, 292 * b);
    const lanes = new Array<number>(8).fill(0);
    for (let i = 0; i < 256; i++) lanes[i & 7]! += ratio(wv[256 * b + i]!, d) * ratio(av[256 * b + i]!, dx);
    for (let l = 0; l < 8; l++) sums[l] = fr(sums[l]! + fr(fr(d * dx) * lanes[l]!));
  }
  let sumf = 0;
  for (let l = 0; l < 8; l++) sumf = fr(sumf + sums[l]!);
  return sumf;
}

/** Q4_1 / Q5_1: (d_w d_x) sumi + m_w s_x per block, q = (v - m) / d recovered by rounding and checked. */
function restateOffset({ w, a, wv, av }: Operands, n: number, blockBytes: number, mAt: number): number {
  let sumf = 0;
  for (let b = 0; b < n / 32; b++) {
    const dw = loadF16(w, blockBytes * b), mw = loadF16(w, blockBytes * b + mAt);
    const dx = loadF16(a, 36 * b), sx = loadF16(a, 36 * b + Q8_1_S);
    let sumi = 0;
    for (let j = 32 * b; j < 32 * b + 32; j++) {
      const q = Math.round((wv[j]! - mw) / dw);
      assert.equal(fr(q * dw + mw), wv[j]!);
      sumi += q * ratio(av[j]!, dx);
    }
    sumf = fr(sumf + fr(fr(fr(dw * dx) * sumi) + fr(mw * sx)));
  }
  return sumf;
}

const RESTATED_TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q6_k"] as const satisfies readonly QuantType[];
for (const [index, type] of RESTATED_TYPES.entries()) {
  test(`${type} matmul: equals ggml's generic kernel re-stated from the dequantized operands, and the float64 dot within its rounding bound`, () => {
    const rng = new Rng(100 + index);
    const [nTokens, inFeatures, outFeatures] = [3, 512, 7];
    const w = quantizeTensor({ dtype: "f32", shape: [outFeatures, inFeatures], data: randomValues(rng, outFeatures * inFeatures, 0.05) }, type);
    const x = randomValues(rng, nTokens * inFeatures, 2);
    const out = new Float32Array(nTokens * outFeatures);
    matmulQuant(out, x, w, nTokens);
    const activation = QUANT_DOTS[type].activation;
    const act = BLOCK_FORMATS[activation];
    const wv = dequantizeTensor(w);
    const rowBytes = quantRowBytes(type, inFeatures);
    for (let t = 0; t < nTokens; t++) {
      const a = new Uint8Array(quantRowBytes(activation, inFeatures));
      act.quantizeBlocks!(x, t * inFeatures, inFeatures / act.blockSize, a, 0);
      const av = new Float32Array(inFeatures);
      act.dequantizeBlocks(a, 0, inFeatures / act.blockSize, av, 0);
      for (let o = 0; o < outFeatures; o++) {
        const row = { w: w.data.subarray(o * rowBytes, (o + 1) * rowBytes), a, wv: wv.subarray(o * inFeatures, (o + 1) * inFeatures), av };
        const got = out[t * outFeatures + o]!;
        assert.equal(got, RESTATED[type](row, inFeatures), `${type} out[${t}, ${o}]`);
        // Against float64: every term of the C code is a product of exact integers and scales
        // rounded a few times to float32, then at most nBlocks + 8 float32 additions, so |error| <=
        // (nBlocks + 12) u M with M = sum |w_i x_i| plus the offsets' share sum |o_i x_i| (the mins
        // terms are added and subtracted separately). Q8_1's s is float16: 2^-11 |m_w s_x| per block.
        let exact = 0, magnitude = 0, f16Terms = 0;
        for (let i = 0; i < inFeatures; i++) {
          exact += row.wv[i]! * av[i]!;
          magnitude += (Math.abs(row.wv[i]!) + offsetMagnitude(type, row.w, i)) * Math.abs(av[i]!);
        }
        if (activation === "q8_1") {
          for (let b = 0; b < inFeatures / 32; b++) f16Terms += 2 ** -11 * Math.abs(offsetMagnitude(type, row.w, 32 * b) * loadF16(a, 36 * b + Q8_1_S));
        }
        const blocks = inFeatures / act.blockSize;
        const tolerance = (blocks + 12) * U32 * magnitude + f16Terms;
        assert.ok(Math.abs(got - exact) <= tolerance, `${type} out[${t}, ${o}] = ${got}, float64 ${exact}, tolerance ${tolerance}`);
      }
    }
  });
}

/** |offset| of weight i (its min term) for the formats that have one, else 0. */
function offsetMagnitude(type: QuantType, w: Uint8Array, i: number): number {
  if (type === "q4_1") return Math.abs(loadF16(w, 20 * (i >> 5) + Q4_1_M));
  if (type === "q5_1") return Math.abs(loadF16(w, 24 * (i >> 5) + Q5_1_M));
  if (type === "q2_k") {
    const x = 84 * (i >> 8);
    return Math.abs(loadF16(w, x + Q2_K_DMIN) * (w[x + ((i & 255) >> 4)]! >> 4));
  }
  return 0;
}

test("Q8_1 is Q8_0 with s = fp16(d * sum of the quants) inserted (quantize_row_q8_1_ref)", () => {
  const rng = new Rng(81);
  const x = randomValues(rng, 32 * 9, 1.5);
  x.fill(0, 64, 96); // an all-zero block: d = 0, quants 0, s = 0
  const q81 = new Uint8Array(36 * 9);
  const q80 = new Uint8Array(34 * 9);
  quantizeBlocksQ8_1(x, 0, 9, q81, 0);
  quantizeBlocksQ8_0(x, 0, 9, q80, 0);
  for (let b = 0; b < 9; b++) {
    assert.deepEqual(q81.subarray(36 * b, 36 * b + 2), q80.subarray(34 * b, 34 * b + 2), `d of block ${b}`);
    assert.deepEqual(q81.subarray(36 * b + 4, 36 * b + 36), q80.subarray(34 * b + 2, 34 * b + 34), `qs of block ${b}`);
    let amax = 0, sum = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]!));
    for (let j = 0; j < 32; j++) sum += (q81[36 * b + 4 + j]! << 24) >> 24;
    const s = loadF16(q81, 36 * b + Q8_1_S);
    // float16 rounding of the float32 d * sum: within half a float16 ulp (relative 2^-11), or exact 0.
    const expected = fr(sum * fr(amax / 127));
    assert.ok(Math.abs(s - expected) <= 2 ** -11 * Math.abs(expected) + 2 ** -25, `s of block ${b}: ${s} vs ${expected}`);
  }
});
