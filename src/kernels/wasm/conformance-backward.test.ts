// Conformance of the WebAssembly training kernels (the backward's, the masked attention forward and the
// cross-entropy) with their reference twins
// (src/kernels/reference/linear-backward.ts, elementwise-backward.ts, attention-train.ts), for every
// build this runtime validates, on seeded random inputs whose sizes are not multiples of the vector
// width or the kernels' tiles, with slices split as threads split them. Tolerances come from the
// float32 operations each kernel does (u = 2^-24); the reference sums in float64.

import { test } from "node:test";
import assert from "node:assert/strict";
import { attentionBackwardMasked, attentionForwardMasked } from "../reference/attention-train.js";
import { crossEntropy } from "../reference/cross-entropy.js";
import { rmsNormBackward, ropeBackward, swigluBackward } from "../reference/elementwise-backward.js";
import { matmulBackwardInput, matmulBackwardWeight } from "../reference/linear-backward.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../../tensor/float16.js";
import { Rng } from "../../tensor/rng.js";
import type { FloatTensor } from "../../tensor/tensor.js";
import { U, arenas, assertClose, describeBuilds, normals } from "./harness.test-support.js";

const ARENAS = await arenas();

test(`wasm backward kernels: ${describeBuilds(ARENAS)}`, () => {
  assert.ok(ARENAS.some((a) => a.build === "simd"), "the SIMD build always runs");
});

/** A weight of `dtype` from float32 values, and its elementwise absolute value (sign bit cleared). */
function weightOf(dtype: FloatTensor["dtype"], values: Float32Array, shape: number[]): [FloatTensor, FloatTensor] {
  if (dtype === "f32") return [{ dtype, shape, data: values }, { dtype, shape, data: values.map(Math.abs) }];
  const bits = dtype === "bf16" ? f32ArrayToBf16(values) : f32ArrayToF16(values);
  return [{ dtype, shape, data: bits }, { dtype, shape, data: bits.map((b) => b & 0x7fff) }];
}

const abs = (a: Float32Array): Float32Array => a.map(Math.abs);

// Bound for both products: each output is c + alpha * sum of K products, which the kernel adds up in
// one float32 lane per output, in order, K_BLOCK (64) terms at a time, each block's partial times
// alpha then added to c: a chain of at most K + ceil(K / 64) + 2 roundings, so |error| <= (K + K/64
// + 3) u (|alpha| sum_k |a_k b_k| + |c|) (Higham's gamma, first order; 16-bit weights widen
// exactly), plus u |result| for the reference's own final rounding. sum_k |a_k b_k| is the
// reference kernel run on absolute values. A missing, repeated or misplaced term is far above this.
// The relaxed build's fused multiply-adds only remove roundings, so the bound covers both builds.
function bound(k: number, alpha: number, magnitude: Float32Array, initial: Float32Array, expected: Float32Array): (i: number) => number {
  const chain = k + Math.ceil(k / 64) + 3;
  return (i) => chain * U * (Math.abs(alpha) * magnitude[i]! + Math.abs(initial[i]!)) + U * Math.abs(expected[i]!);
}

/** (nTokens, inF, outF, slices): row and column tails, K past one block, several slices. */
const CASES: readonly (readonly [number, number, number, number])[] = [
  [1, 8, 3, 1], [5, 37, 13, 2], [4, 64, 70, 1], [9, 19, 130, 3], [16, 100, 7, 4], [3, 1, 1, 1],
];

/** [start, end) of slice s of n items in `slices` parts, as the backend's chunks (whole tiles of 4 but the last). */
function sliceOf(n: number, slices: number, s: number): [number, number] {
  const per = Math.max(4, Math.ceil(n / slices / 4) * 4);
  return [Math.min(n, s * per), Math.min(n, (s + 1) * per)];
}

for (const dtype of ["f32", "bf16", "f16"] as const) {
  test(`matmul_backward_input_${dtype} matches matmulBackwardInput within the float32 summation bound`, () => {
    const rng = new Rng(0xb4c + dtype.length);
    for (const [nTokens, inF, outF, slices] of CASES) {
      const [w, wAbs] = weightOf(dtype, normals(rng, outF * inF, 0.1), [outF, inF]); // (outF, inF)
      const dy = normals(rng, nTokens * outF); // (nTokens, outF)
      const initial = normals(rng, nTokens * inF); // (nTokens, inF) dx before: the kernel accumulates
      const alpha = 0.75;
      const expected = initial.slice();
      matmulBackwardInput(expected, dy, w, nTokens, alpha);
      const magnitude = new Float32Array(nTokens * inF);
      matmulBackwardInput(magnitude, abs(dy), wAbs, nTokens);
      const kernel = `matmul_backward_input_${dtype}` as const;
      for (const arena of ARENAS) {
        arena.reset();
        const dx = arena.put(initial);
        const [dyPtr, wPtr] = [arena.put(dy), arena.put(w.data)];
        for (let s = 0; s < slices; s++) arena.kernels[kernel](dx, dyPtr, wPtr, nTokens, inF, outF, alpha, ...sliceOf(nTokens, slices, s));
        assertClose(arena.f32(dx, nTokens * inF), expected, bound(outF, alpha, magnitude, initial, expected), `${arena.build} ${kernel} ${nTokens}x${inF}x${outF}`);
      }
    }
  });
}

test("matmul_backward_weight matches matmulBackwardWeight within the float32 summation bound", () => {
  const rng = new Rng(0xdeb);
  for (const [nTokens, inF, outF, slices] of [...CASES, [130, 21, 9, 2] as const]) {
    const x = normals(rng, nTokens * inF); // (nTokens, inF)
    const dy = normals(rng, nTokens * outF); // (nTokens, outF)
    const initial = normals(rng, outF * inF); // (outF, inF)
    const alpha = -1.5;
    const expected = initial.slice();
    matmulBackwardWeight(expected, dy, x, nTokens, outF, alpha);
    const magnitude = new Float32Array(outF * inF);
    matmulBackwardWeight(magnitude, abs(dy), abs(x), nTokens, outF);
    for (const arena of ARENAS) {
      arena.reset();
      const dw = arena.put(initial);
      const [dyPtr, xPtr] = [arena.put(dy), arena.put(x)];
      for (let s = 0; s < slices; s++) arena.kernels.matmul_backward_weight(dw, dyPtr, xPtr, nTokens, inF, outF, alpha, ...sliceOf(outF, slices, s));
      assertClose(arena.f32(dw, outF * inF), expected, bound(nTokens, alpha, magnitude, initial, expected), `${arena.build} matmul_backward_weight ${nTokens}x${inF}x${outF}`);
    }
  }
});

test("rmsnorm_backward matches rmsNormBackward (dx and dWeight accumulated, frozen weight)", () => {
  const rng = new Rng(0x4e5);
  for (const [nTokens, dim] of [[1, 37], [3, 64], [5, 7], [2, 515]] as const) {
    const [x, dy, weight] = [normals(rng, nTokens * dim, 2), normals(rng, nTokens * dim), normals(rng, dim)];
    const [dx0, dw0] = [normals(rng, nTokens * dim), normals(rng, dim)];
    const [dx, dw] = [dx0.slice(), dw0.slice()];
    rmsNormBackward(dx, dw, dy, x, weight, nTokens, 1e-5);
    // Per token the kernel takes sum x^2 and sum dy w x in float32 lanes (chains of about dim/4 + 4
    // roundings), the scale r as the forward (half the sum's relative error plus a few roundings),
    // then dx += r (dy w - n mean) in four or five more. So |error dx| <= k u (|dx0| + r |dy w| +
    // r |n| r sum|dy w x| / dim) with k = dim/4 + 20, and dWeight, a chain of nTokens adds of dy n
    // (each carrying r's error), |error| <= (nTokens + k) u (|dw0| + sum_t |dy n|).
    const k = dim / 4 + 20;
    const dxTol = new Float64Array(nTokens * dim);
    const dwMag = Float64Array.from(dw0, Math.abs);
    for (let t = 0; t < nTokens; t++) {
      let [ss, dotAbs] = [0, 0];
      for (let i = 0; i < dim; i++) {
        ss += x[t * dim + i]! ** 2;
        dotAbs += Math.abs(dy[t * dim + i]! * weight[i]! * x[t * dim + i]!);
      }
      const r = 1 / Math.sqrt(ss / dim + 1e-5);
      for (let i = 0; i < dim; i++) {
        const j = t * dim + i;
        const n = Math.abs(x[j]! * r);
        dxTol[j] = k * U * (Math.abs(dx0[j]!) + r * Math.abs(dy[j]! * weight[i]!) + (r * n * r * dotAbs) / dim);
        dwMag[i] = dwMag[i]! + Math.abs(dy[j]! * n);
      }
    }
    for (const arena of ARENAS) {
      arena.reset();
      const [dxPtr, dwPtr] = [arena.put(dx0), arena.put(dw0)];
      const args = [arena.put(dy), arena.put(x), arena.put(weight), nTokens, dim, 1e-5] as const;
      arena.kernels.rmsnorm_backward(dxPtr, dwPtr, ...args);
      assertClose(arena.f32(dxPtr, nTokens * dim), dx, (i) => dxTol[i]!, `${arena.build} rmsnorm_backward dx ${nTokens}x${dim}`);
      assertClose(arena.f32(dwPtr, dim), dw, (i) => (nTokens + k) * U * dwMag[i]!, `${arena.build} rmsnorm_backward dWeight ${nTokens}x${dim}`);
      const frozen = arena.put(dx0);
      arena.kernels.rmsnorm_backward(frozen, 0, ...args); // dWeight 0: frozen, dx alone
      assertClose(arena.f32(frozen, nTokens * dim), dx, (i) => dxTol[i]!, `${arena.build} rmsnorm_backward frozen`);
    }
  }
});

test("swiglu_backward matches swigluBackward, including saturated gates", () => {
  const rng = new Rng(0x5a1);
  for (const n of [1, 7, 64, 1003]) {
    const [gate, up, dh] = [normals(rng, n, 4), normals(rng, n), normals(rng, n)];
    if (n > 4) gate.set([100, -100, 88.5, -88.5], 0);
    const [dGate, dUp] = [new Float32Array(n), new Float32Array(n)];
    swigluBackward(dGate, dUp, dh, gate, up);
    // s = 1 / (1 + e^-g): exp within 2 ulp and two roundings, about 4 u relative. dUp = dh (g s):
    // 7 u, with the reference's rounding 8 u. dGate = dh up s (1 + g (1 - s)): 1 - s rounds with an
    // absolute error of a few u, which g magnifies: |error| <= 12 u |dh up| s (1 + |g|). Where e^-g
    // overflows float32 the kernel clamps it at e^88.38 (s ~ 1e-39 instead of 1e-44): 1e-35 absolute.
    for (const arena of ARENAS) {
      arena.reset();
      const [gPtr, uPtr] = [arena.alloc(n * 4), arena.alloc(n * 4)];
      arena.kernels.swiglu_backward(gPtr, uPtr, arena.put(dh), arena.put(gate), arena.put(up), n);
      const s = (i: number): number => 1 / (1 + Math.exp(-gate[i]!));
      assertClose(arena.f32(uPtr, n), dUp, (i) => 8 * U * Math.abs(dUp[i]!) + 1e-35, `${arena.build} swiglu_backward dUp n ${n}`);
      assertClose(arena.f32(gPtr, n), dGate, (i) => 12 * U * Math.abs(dh[i]! * up[i]!) * s(i) * (1 + Math.abs(gate[i]!)) + 1e-35, `${arena.build} swiglu_backward dGate n ${n}`);
    }
  }
});

test("rope_backward matches ropeBackward (halves layout, odd half widths)", () => {
  const rng = new Rng(0x40e);
  for (const [nTokens, nHeads, headDim] of [[1, 3, 64], [4, 2, 10], [3, 5, 6], [2, 1, 130]] as const) {
    const half = headDim / 2;
    const d = normals(rng, nTokens * nHeads * headDim);
    const angles = Float64Array.from({ length: nTokens * half }, () => rng.uniform() * 2 * Math.PI);
    const [cos, sin] = [Float32Array.from(angles, Math.cos), Float32Array.from(angles, Math.sin)];
    const expected = d.slice();
    ropeBackward(expected, nTokens, nHeads, headDim, cos, sin);
    // a c +- b s: the reference rounds once, the kernel three times: |error| <= 3 u (|a| + |b|).
    const partner = (i: number): number => (i % headDim < half ? i + half : i - half);
    for (const arena of ARENAS) {
      arena.reset();
      const ptr = arena.put(d);
      arena.kernels.rope_backward(ptr, nTokens, nHeads, headDim, arena.put(cos), arena.put(sin));
      assertClose(arena.f32(ptr, d.length), expected, (i) => 3 * U * (Math.abs(d[i]!) + Math.abs(d[partner(i)]!)), `${arena.build} rope_backward ${nTokens}x${nHeads}x${headDim}`);
    }
  }
});

test("cross_entropy matches crossEntropy (unscored rows, a vocabulary off the vector width, in place, row slices)", () => {
  const rng = new Rng(0xce);
  for (const [nRows, vocab] of [[5, 1003], [3, 37], [2, 4096]] as const) {
    const logits = normals(rng, nRows * vocab).map((x) => 3 * x);
    const targets = Int32Array.from({ length: nRows }, (_, r) => (r === 1 ? -1 : Math.floor(rng.uniform() * vocab)));
    const norm = 7;
    const [losses, dLogits] = [new Float64Array(nRows), new Float32Array(nRows * vocab)];
    crossEntropy(losses, dLogits, logits, targets, vocab, norm);
    // Each exponent x - max rounds to float32 (relative error u R in e^..., R the row's max - min)
    // and exp is within 2 ulp: each e^(x - max), and their float64 sum, within (R + 2) u; p = e *
    // float32(1 / sum) * float32(1 / norm) adds four roundings, so |error| <= (2 R + 8) u (p +
    // onehot) / norm, and u |d| for the reference's own rounding. The loss max + log(sum) - x_t is
    // off by log(1 + (R + 2) u) plus float64 roundings: (R + 4) u absolutely. A wrong row, target
    // or normaliser is far above both.
    for (const arena of ARENAS) {
      for (const inPlace of [false, true]) {
        arena.reset();
        const [maxP, sumP, logitsP, targetsP] = [arena.alloc(nRows * 8), arena.alloc(nRows * 8), arena.put(logits), arena.put(new Uint8Array(targets.buffer))];
        const dP = inPlace ? logitsP : arena.alloc(dLogits.byteLength);
        for (let r = 0; r < nRows; r++) arena.kernels.cross_entropy(maxP, sumP, dP, logitsP, targetsP, vocab, 1 / norm, r, r + 1);
        const [maxes, sums, d] = [arena.f64(maxP, nRows), arena.f64(sumP, nRows), arena.f32(dP, nRows * vocab)];
        const what = `${arena.build} cross_entropy ${nRows}x${vocab}${inPlace ? " in place" : ""}`;
        for (let r = 0; r < nRows; r++) {
          const row = logits.subarray(r * vocab, (r + 1) * vocab);
          const spread = row.reduce((m, x) => Math.max(m, x), -Infinity) - row.reduce((m, x) => Math.min(m, x), Infinity);
          const t = targets[r]!;
          const rowBound = (j: number): number => ((2 * spread + 8) * U * (Math.abs(dLogits[r * vocab + j]!) + (j === t ? 2 / norm : 0))) + U * Math.abs(dLogits[r * vocab + j]!);
          assertClose(d.subarray(r * vocab, (r + 1) * vocab), dLogits.subarray(r * vocab, (r + 1) * vocab), t < 0 ? () => 0 : rowBound, `${what} row ${r} dLogits`);
          if (t < 0) continue;
          const loss = maxes[r]! + Math.log(sums[r]!) - row[t]!;
          assert.ok(Math.abs(loss - losses[r]!) <= (spread + 4) * U + U * losses[r]!, `${what} row ${r} loss ${loss} against ${losses[r]}`);
        }
      }
    }
  }
});

test("attention_forward_masked matches attentionForwardMasked (GQA, padding, a query that sees no key, unit slices)", () => {
  const rng = new Rng(0xa78);
  for (const [rows, seqLen, nHeads, nKvHeads, headDim] of [[2, 13, 4, 2, 10], [1, 33, 4, 1, 64], [3, 5, 2, 2, 7]] as const) {
    const shape = { rows, seqLen, nHeads, nKvHeads, headDim };
    const n = rows * seqLen;
    const [qW, kvW] = [nHeads * headDim, nKvHeads * headDim];
    const [q, k, v] = [normals(rng, n * qW), normals(rng, n * kvW), normals(rng, n * kvW)];
    const mask = new Uint8Array(n).fill(1);
    if (rows > 1) {
      mask.fill(0, 2 * seqLen - 3, 2 * seqLen); // right padding of row 1
      mask[seqLen] = 0; // row 1, position 0: its query sees no key
    }
    const out = new Float32Array(n * qW);
    const lse = new Float64Array(n * nHeads);
    attentionForwardMasked(out, lse, q, k, v, mask, shape);
    // A score is a float32 dot of headDim products (|error| <= (headDim + 2) u sum |q k|, the
    // reference's fround one u more), times the scale; A bounds sum |q k| / sqrt(headDim) over every
    // pair. The kernel then rounds s - max to float32 (u |s - max| <= 2 u A) and takes exp within 2
    // ulp, so each weight e^(s - max) has relative error at most delta = 2 (headDim + 3) u A + 2 u A
    // + 3 u (the max's error cancels between numerator and denominator of out, twice the scores').
    // out is a convex combination of values, summed in float32 in key order: |error| <= (2 delta +
    // (seqLen + 3) u) max |v|; lse = max + log(sum) is off by the max's error plus log(1 + delta).
    // A wrong key, head or mask is of the size of the values.
    const maxAbs = (a: Float32Array): number => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    const bigA = (headDim * maxAbs(q) * maxAbs(k)) / Math.sqrt(headDim);
    const delta = 2 * (headDim + 3) * U * bigA + 2 * U * bigA + 3 * U;
    for (const arena of ARENAS) {
      arena.reset();
      const [outP, maxP, sumP] = [arena.alloc(out.byteLength), arena.alloc(lse.byteLength), arena.alloc(lse.byteLength)];
      const scratch = arena.alloc(arena.kernels.attention_backward_scratch_bytes(seqLen, headDim));
      const ins = [arena.put(q), arena.put(k), arena.put(v), arena.put(mask)] as const;
      for (let u = 0; u < rows * nKvHeads; u++) arena.kernels.attention_forward_masked(outP, maxP, sumP, ...ins, seqLen, nHeads, nKvHeads, headDim, u, u + 1, scratch);
      const what = `${arena.build} attention_forward_masked ${rows}x${seqLen}x${nHeads}/${nKvHeads}x${headDim}`;
      assertClose(arena.f32(outP, out.length), out, () => (2 * delta + (seqLen + 3) * U) * maxAbs(v), `${what} out`);
      const [maxes, sums] = [arena.f64(maxP, lse.length), arena.f64(sumP, lse.length)];
      for (let i = 0; i < lse.length; i++) {
        const got = maxes[i]! + Math.log(sums[i]!);
        if (lse[i] === -Infinity) assert.equal(got, -Infinity, `${what} lse ${i}`);
        else assert.ok(Math.abs(got - lse[i]!) <= (headDim + 3) * U * bigA + 2 * delta, `${what} lse ${i}: ${got} against ${lse[i]}`);
      }
      // The query that sees no key gets zeros.
      if (rows > 1) assert.deepEqual(arena.f32(outP + seqLen * qW * 4, qW), new Float32Array(qW));
    }
  }
});

test("attention_backward matches attentionBackwardMasked (GQA, padding, a query that sees no key, unit slices)", () => {
  const rng = new Rng(0xa77);
  for (const [rows, seqLen, nHeads, nKvHeads, headDim] of [[2, 13, 4, 2, 10], [1, 33, 4, 1, 64], [3, 5, 2, 2, 7]] as const) {
    const shape = { rows, seqLen, nHeads, nKvHeads, headDim };
    const n = rows * seqLen;
    const [qW, kvW] = [nHeads * headDim, nKvHeads * headDim];
    const [q, k, v, dOut] = [normals(rng, n * qW), normals(rng, n * kvW), normals(rng, n * kvW), normals(rng, n * qW)];
    const mask = new Uint8Array(n).fill(1);
    if (rows > 1) {
      mask.fill(0, 2 * seqLen - 3, 2 * seqLen); // right padding of row 1
      mask[seqLen] = 0; // row 1, position 0: its query sees no key (lse -Infinity, no gradient)
    }
    const out = new Float32Array(n * qW);
    const lse = new Float64Array(n * nHeads);
    attentionForwardMasked(out, lse, q, k, v, mask, shape);
    const [dq0, dk0, dv0] = [normals(rng, n * qW), normals(rng, n * kvW), normals(rng, n * kvW)];
    const [dq, dk, dv] = [dq0.slice(), dk0.slice(), dv0.slice()];
    attentionBackwardMasked(dq, dk, dv, dOut, q, k, v, lse, mask, shape);
    // Each gradient element is its initial value plus at most m = seqLen * group + 1 terms (a key's
    // dk and dv gather over every query of its group; dq over its keys), each a float32 dot of
    // headDim products (scores, dP) times float32 factors, added in order in float32: |error| <=
    // (m + headDim + 8) u times the sum of the terms' sizes. Bounded by the largest gradient of the
    // tensor times m (terms are no larger than the gradients they sum to, up to cancellation the
    // factor 4 covers), plus the initial value's share: a norm-wise bound, loose by design. A lost or
    // doubled term, or a wrong head or key, is far above it.
    const group = nHeads / nKvHeads;
    const m = seqLen * group + 1;
    const maxAbs = (a: Float32Array, b: Float32Array): number => a.reduce((x, y, i) => Math.max(x, Math.abs(y - b[i]!)), 0);
    for (const arena of ARENAS) {
      arena.reset();
      const [dqP, dkP, dvP] = [arena.put(dq0), arena.put(dk0), arena.put(dv0)];
      const scratch = arena.alloc(arena.kernels.attention_backward_scratch_bytes(seqLen, headDim));
      const ins = [arena.put(dOut), arena.put(q), arena.put(k), arena.put(v), arena.put(new Uint8Array(lse.buffer)), arena.put(mask)] as const;
      for (let u = 0; u < rows * nKvHeads; u++) arena.kernels.attention_backward(dqP, dkP, dvP, ...ins, seqLen, nHeads, nKvHeads, headDim, u, u + 1, scratch);
      for (const [name, ptr, expected, initial] of [["dq", dqP, dq, dq0], ["dk", dkP, dk, dk0], ["dv", dvP, dv, dv0]] as const) {
        const scale = 4 * m * maxAbs(expected, initial);
        assertClose(arena.f32(ptr, expected.length), expected, (i) => (m + headDim + 8) * U * (scale + Math.abs(initial[i]!)), `${arena.build} attention_backward ${name} ${rows}x${seqLen}x${nHeads}/${nKvHeads}x${headDim}`);
      }
      // The query that sees no key keeps its initial dq.
      if (rows > 1) assert.deepEqual(arena.f32(dqP + seqLen * qW * 4, qW), dq0.subarray(seqLen * qW, (seqLen + 1) * qW));
    }
  }
});
