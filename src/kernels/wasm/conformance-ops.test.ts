// Conformance of the WebAssembly normalisation, element-wise and attention kernels with their
// reference twins (src/kernels/reference/elementwise.ts, rope.ts, softmax.ts, attention.ts), for
// every build this runtime validates, on seeded random inputs with sizes that are not multiples of
// the vector width. Tolerances are derived from the float32 operations each kernel does (u = 2^-24).

import { test } from "node:test";
import assert from "node:assert/strict";
import { attention as referenceAttention } from "../reference/attention.js";
import { addInPlace, rmsNorm, swiglu } from "../reference/elementwise.js";
import { rope } from "../reference/rope.js";
import { softmax } from "../reference/softmax.js";
import { type KvRows } from "../reference/attention.js";
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from "../../tensor/float16.js";
import { Rng } from "../../tensor/rng.js";
import { U, arenas, assertBitExact, assertClose, describeBuilds, normals } from "./harness.test-support.js";
import { KERNEL_RESERVED_BYTES } from "./module.js";

const ARENAS = await arenas();

test(`wasm element-wise kernels: ${describeBuilds(ARENAS)}`, () => {
  assert.ok(ARENAS.length >= 1);
});

test("rmsnorm matches the reference", () => {
  const rng = new Rng(101);
  for (const [nTokens, dim] of [[1, 37], [3, 64], [2, 2051], [5, 7]] as const) {
    const x = normals(rng, nTokens * dim, 3);
    const weight = normals(rng, dim);
    const expected = new Float32Array(nTokens * dim);
    rmsNorm(expected, x, weight, nTokens, 1e-5);
    // The sum of squares (all terms positive) in float32 chains about dim/8 + 10 roundings: relative
    // error k u; the scale (its inverse square root) inherits half of it plus a few roundings; the
    // output two more multiplies. So |error| <= (k/2 + 6) u |out| with k = dim/8 + 10.
    const rel = ((dim / 8 + 10) / 2 + 6) * U;
    for (const arena of ARENAS) {
      arena.reset();
      const xPtr = arena.put(x);
      const wPtr = arena.put(weight);
      const out = arena.alloc(x.byteLength);
      arena.kernels.rmsnorm(out, xPtr, wPtr, nTokens, dim, 1e-5);
      assertClose(arena.f32(out, x.length), expected, (i) => rel * Math.abs(expected[i]!), `${arena.build} rmsnorm ${nTokens}x${dim}`);
      arena.kernels.rmsnorm(xPtr, xPtr, wPtr, nTokens, dim, 1e-5); // in place
      assertClose(arena.f32(xPtr, x.length), expected, (i) => rel * Math.abs(expected[i]!), `${arena.build} rmsnorm in place`);
    }
  }
});

test("rope matches the reference (halves layout, odd half widths)", () => {
  const rng = new Rng(202);
  for (const [nTokens, nHeads, headDim] of [[1, 3, 64], [4, 2, 10], [3, 5, 6], [2, 1, 130]] as const) {
    const half = headDim / 2;
    const x = normals(rng, nTokens * nHeads * headDim);
    const angles = Float64Array.from({ length: nTokens * half }, () => rng.uniform() * 2 * Math.PI);
    const cos = Float32Array.from(angles, Math.cos);
    const sin = Float32Array.from(angles, Math.sin);
    const expected = x.slice();
    rope(expected, nTokens, nHeads, headDim, cos, sin);
    // Each output is a*c -+ b*s: the reference rounds once (float64 then float32), the kernel three
    // times in float32: |error| <= 3 u (|a c| + |b s|) <= 3 u (|a| + |b|) since |c|, |s| <= 1.
    const partner = (i: number): number => {
      const j = i % headDim;
      return j < half ? i + half : i - half;
    };
    for (const arena of ARENAS) {
      arena.reset();
      const xPtr = arena.put(x);
      arena.kernels.rope(xPtr, nTokens, nHeads, headDim, arena.put(cos), arena.put(sin));
      assertClose(arena.f32(xPtr, x.length), expected, (i) => 3 * U * (Math.abs(x[i]!) + Math.abs(x[partner(i)]!)), `${arena.build} rope ${nTokens}x${nHeads}x${headDim}`);
    }
  }
});

test("swiglu matches the reference, including saturated gates", () => {
  const rng = new Rng(303);
  for (const n of [1, 7, 64, 1003]) {
    const gate = normals(rng, n, 4);
    const up = normals(rng, n);
    if (n > 4) gate.set([100, -100, 88.5, -88.5], 0); // e^-g underflows / overflows float32
    const expected = new Float32Array(n);
    swiglu(expected, gate, up);
    // exp within 2 ulp (Cephes expf), then 1 + e, a divide and a multiply: relative error under 8 u;
    // with the reference's own rounding, 12 u |out|. Where e^-g overflows float32 the kernel clamps
    // it at e^88.38, so g / (1 + e^-g) is 1e-37-ish instead of 1e-42-ish: an absolute 1e-36.
    for (const arena of ARENAS) {
      arena.reset();
      const out = arena.alloc(n * 4);
      arena.kernels.swiglu(out, arena.put(gate), arena.put(up), n);
      assertClose(arena.f32(out, n), expected, (i) => 12 * U * Math.abs(expected[i]!) + 1e-36, `${arena.build} swiglu n ${n}`);
    }
  }
});

test("add matches the reference exactly; softmax within its bound", () => {
  const rng = new Rng(404);
  for (const n of [1, 5, 64, 1001]) {
    const a = normals(rng, n);
    const b = normals(rng, n);
    const sum = a.slice();
    addInPlace(sum, b);
    const x = normals(rng, n, 3);
    if (n > 3) x[2] = -Infinity; // a masked entry: weight exactly 0
    const expected = x.slice();
    softmax(expected);
    let max = -Infinity;
    for (const v of x) max = Math.max(max, v);
    for (const arena of ARENAS) {
      arena.reset();
      const aPtr = arena.put(a);
      arena.kernels.add(aPtr, arena.put(b), n);
      // One float32 rounding of the same sum: bit-exact.
      assert.deepEqual(arena.f32(aPtr, n), sum, `${arena.build} add n ${n}`);
      const xPtr = arena.put(x);
      arena.kernels.softmax(xPtr, n);
      // x - max rounds (error u |x - max| in the exponent, so relative u |x - max| in e^...), exp is
      // within 2 ulp, the float32 sum of n positive terms chains about n/4 + 8 roundings, the final
      // multiply by 1/sum two more: relative (|x - max| + n/4 + 14) u. A masked (-inf) entry must be 0.
      assertClose(arena.f32(xPtr, n), expected, (i) => (expected[i] === 0 ? 0 : (Math.abs(x[i]! - max) + n / 4 + 14) * U * expected[i]!), `${arena.build} softmax n ${n}`);
    }
  }
});

/** (nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd) */
const ATTENTION_CASES: readonly (readonly [number, number, number, number, number, number, number])[] = [
  [1, 0, 4, 2, 8, 0, 4], // first token: one visible position
  [1, 200, 8, 2, 64, 0, 8], // decode with a context of four tiles
  [5, 70, 6, 3, 20, 1, 5], // prefill after a cached prefix; a slice of heads; headDim not a multiple of 16
  [130, 0, 4, 1, 16, 0, 4], // prefill past two tiles from position 0, one kv head for all
  [3, 2, 2, 2, 7, 0, 2], // odd headDim, no grouping
  [2, 63, 3, 1, 128, 2, 3], // the tile boundary: 64 and 65 visible positions
  [4, 90, 8, 2, 24, 3, 7], // groups of 4 cut by the slice at both ends (heads 3 | 4 5 6)
];

/** The KV cache dtypes: 16-bit rows are narrowed (nearest even) and the kernel widens them exactly. */
const KV_CASES: readonly { dtype: KvRows["dtype"]; rows: (x: Float32Array) => KvRows; widen: (x: Float32Array) => Float32Array }[] = [
  { dtype: "f32", rows: (x) => ({ dtype: "f32", data: x }), widen: (x) => x },
  { dtype: "f16", rows: (x) => ({ dtype: "f16", data: f32ArrayToF16(x) }), widen: (x) => f16ArrayToF32(f32ArrayToF16(x)) },
  { dtype: "bf16", rows: (x) => ({ dtype: "bf16", data: f32ArrayToBf16(x) }), widen: (x) => bf16ArrayToF32(f32ArrayToBf16(x)) },
];

for (const kv of KV_CASES) test(`attention (${kv.dtype} keys/values) matches the reference: causal, GQA, startPos > 0, contexts longer than one tile`, () => {
  const rng = new Rng(505);
  for (const [nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd] of ATTENTION_CASES) {
    const ctx = startPos + nTokens;
    const q = normals(rng, nTokens * nHeads * headDim); // (nTokens, nHeads, headDim)
    // The float32 values the cache holds: widening is exact, so the reference on them is the
    // reference on the 16-bit rows, and the float32 error budget below applies to every dtype.
    const keys = kv.widen(normals(rng, ctx * nKvHeads * headDim)); // (ctx, nKvHeads, headDim)
    const values = kv.widen(normals(rng, ctx * nKvHeads * headDim));
    const expected = new Float32Array(q.length);
    referenceAttention(expected, q, kv.rows(keys), kv.rows(values), { nTokens, startPos, nHeads, nKvHeads, headDim });
    // Error budget. A score s = (q . k) / sqrt(headDim) in float32 is off by at most
    // dScore = (headDim/8 + 10) u sum|q_i k_i| / sqrt(headDim) (summation bound, plus the scale).
    // The weights p_j = e^(s_j - m) / l then have relative error at most 2 dScore + (exp's 2 ulp,
    // the online rescaling and the float32 sum of up to ctx terms) (ctx/4 + 16) u, and the output, a
    // convex combination of values, is off by that times max|v|, plus the float32 accumulation of
    // ctx terms (ctx + 4) u max|v|. A wrong mask or head mapping moves outputs by ~max|v| / ctx.
    const kvDim = nKvHeads * headDim;
    let dScore = 0;
    for (let t = 0; t < nTokens; t++) {
      for (let h = 0; h < nHeads; h++) {
        const kvh = Math.floor(h / (nHeads / nKvHeads));
        for (let p = 0; p <= startPos + t; p++) {
          let s = 0;
          for (let i = 0; i < headDim; i++) s += Math.abs(q[(t * nHeads + h) * headDim + i]! * keys[p * kvDim + kvh * headDim + i]!);
          dScore = Math.max(dScore, ((headDim / 8 + 10) * U * s) / Math.sqrt(headDim));
        }
      }
    }
    let vMax = 0;
    for (const v of values) vMax = Math.max(vMax, Math.abs(v));
    const tol = vMax * (2 * dScore + (ctx / 4 + 16) * U + (ctx + 4) * U);
    for (const arena of ARENAS) {
      arena.reset();
      const qPtr = arena.put(q);
      const kPtr = arena.put(kv.rows(keys).data);
      const vPtr = arena.put(kv.rows(values).data);
      const out = arena.alloc(q.byteLength); // NaN-filled: heads outside the slice stay NaN
      const scratch = arena.alloc(arena.kernels.attention_scratch_bytes(headDim, nHeads / nKvHeads));
      const kernel = { f32: arena.kernels.attention, f16: arena.kernels.attention_f16, bf16: arena.kernels.attention_bf16 }[kv.dtype];
      kernel(out, qPtr, kPtr, vPtr, nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd, scratch);
      const head = (i: number): number => Math.floor(i / headDim) % nHeads;
      const sliced = expected.map((v, i) => (head(i) >= headStart && head(i) < headEnd ? v : NaN));
      assertClose(arena.f32(out, q.length), sliced, () => tol, `${arena.build} attention ${kv.dtype} ${[nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd].join(",")}`);
    }
  }
});

for (const kv of KV_CASES) test(`attention (${kv.dtype} keys/values): a prefill's query tiles give each token exactly its one-token result`, () => {
  // Query tiles share key tiles between tokens but must not change any query's arithmetic: nTokens
  // at startPos equal, bit for bit, nTokens calls of one token each at startPos + t.
  const rng = new Rng(0x0a77 + kv.dtype.length);
  const [nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd] = [11, 70, 8, 2, 24, 1, 7];
  const ctx = startPos + nTokens;
  const q = normals(rng, nTokens * nHeads * headDim); // (nTokens, nHeads, headDim)
  const keys = normals(rng, ctx * nKvHeads * headDim); // (ctx, nKvHeads, headDim)
  const values = normals(rng, ctx * nKvHeads * headDim);
  const tokenFloats = nHeads * headDim;
  for (const arena of ARENAS) {
    arena.reset();
    const kernel = { f32: arena.kernels.attention, f16: arena.kernels.attention_f16, bf16: arena.kernels.attention_bf16 }[kv.dtype];
    const qPtr = arena.put(q);
    const kPtr = arena.put(kv.rows(keys).data);
    const vPtr = arena.put(kv.rows(values).data);
    const scratch = arena.alloc(arena.kernels.attention_scratch_bytes(headDim, nHeads / nKvHeads));
    const prefill = arena.alloc(q.byteLength);
    const steps = arena.alloc(q.byteLength);
    kernel(prefill, qPtr, kPtr, vPtr, nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd, scratch);
    for (let t = 0; t < nTokens; t++) {
      kernel(steps + t * tokenFloats * 4, qPtr + t * tokenFloats * 4, kPtr, vPtr, 1, startPos + t, nHeads, nKvHeads, headDim, headStart, headEnd, scratch);
    }
    // Heads outside the slice hold the allocator's 0xff fill in both.
    assertBitExact(arena.f32(prefill, q.length), arena.f32(steps, q.length), `${arena.build} attention ${kv.dtype} prefill vs one token at a time`);
  }
});

test("attention scratch is O(tile x headDim x group x query tile), independent of the context", () => {
  for (const arena of ARENAS) {
    // A tile of scores, accumulators and (m, l) pairs for 4 tokens x the group, two widened tiles of 64 rows.
    assert.ok(arena.kernels.attention_scratch_bytes(128, 8) <= 4 * (64 + 4 * 8 * 128 + 64 + 2 * 64 * 128));
    assert.equal(arena.kernels.attention_scratch_bytes(7, 3) % 16, 0);
  }
});

test("read_stream (the benchmarks' bandwidth probe) reads every byte it is given, and only those", () => {
  const rng = new Rng(0x57ea);
  for (const arena of ARENAS) {
    arena.reset();
    const bytes = new Uint8Array(64 * 37 + 16); // 37 64-byte steps, then 16 bytes it must not read
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.nextU32() & 0xff;
    const words = new Uint32Array(bytes.buffer, 0, (64 * 37) / 4);
    let expected = 0;
    for (const word of words) expected ^= word;
    const ptr = arena.put(bytes);
    assert.equal(arena.kernels.read_stream(ptr, 64 * 37 + 16) >>> 0, expected >>> 0, `${arena.build} read_stream`);
  }
});

test("the module's static data (its vector constants) ends within KERNEL_RESERVED_BYTES", () => {
  for (const arena of ARENAS) {
    const end = arena.kernels.kernel_reserved_bytes();
    assert.ok(end > 256 && end <= KERNEL_RESERVED_BYTES, `${arena.build}: static data ends at ${end}`);
  }
});
