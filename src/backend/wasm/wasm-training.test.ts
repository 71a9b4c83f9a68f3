// The WebAssembly backend's TrainingBackend ops (wasm-training.ts) against the reference training
// backend, through the pool's splitting and staging, on both kernel providers (the WebAssembly
// kernels and their plain-JavaScript ABI twin) and 1 and 3 threads. The kernels' own rounding is
// bounded in kernels/wasm/conformance-backward.test.ts; here a wrong split, chunk offset or staged
// copy would show as errors of the size of the values, so the check is relative to each result's
// largest element: 1e-4 is ~1000 float32 roundings, far below one misplaced term.

import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceTrainingBackend } from "../training-backend.js";
import { castFloat } from "../../tensor/cast.js";
import { quantizeTensor } from "../../tensor/quant-formats.js";
import { Rng } from "../../tensor/rng.js";
import type { WeightTensor } from "../../tensor/tensor.js";
import { createWasmBackend } from "./index.js";
import { KERNEL_PROVIDERS } from "./providers.test-support.js";
import type { WasmBackend } from "./wasm-backend.js";

function randoms(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

function assertNear(actual: Float32Array, expected: Float32Array, what: string): void {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const err = actual.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
  assert.ok(err <= 1e-4 * scale, `${what}: error ${err} against values up to ${scale}`);
}

/** Run `op` on copies of `arrays` through both backends and compare every array afterwards. */
function same(b: WasmBackend, what: string, arrays: Float32Array[], op: (tb: typeof referenceTrainingBackend | WasmBackend, a: Float32Array[]) => void): void {
  const [mine, ref] = [arrays.map((a) => a.slice()), arrays.map((a) => a.slice())];
  op(b, mine);
  op(referenceTrainingBackend, ref);
  mine.forEach((a, i) => assertNear(a, ref[i]!, `${what} array ${i}`));
}

function checkOps(b: WasmBackend, rng: Rng): void {
  const [n, inF, outF] = [19, 40, 37];
  const wf: WeightTensor = { dtype: "f32", shape: [outF, inF], data: randoms(rng, outF * inF, 0.1) };
  const dy = randoms(rng, n * outF);
  const x = randoms(rng, n * inF);
  for (const w of [wf, castFloat(wf, "bf16"), castFloat(wf, "f16"), quantizeTensor({ ...wf, shape: [outF, 64], data: randoms(rng, outF * 64, 0.1) }, "q8_0")]) {
    const width = w.shape[1]!;
    same(b, `matmulBackwardInput ${w.dtype}`, [randoms(rng, n * width)], (tb, [dx]) => tb.matmulBackwardInput(dx!, dy, w, n, 0.5));
  }
  same(b, "matmulBackwardWeight", [randoms(rng, outF * inF)], (tb, [dw]) => tb.matmulBackwardWeight(dw!, dy, x, n, outF, 2));
  // matmulStaged reads its matrix as it is at each call: the same array, changed between two
  // calls (as a LoRA factor after an optimizer step), must give the second call the new values.
  const rank = 8;
  const factor = randoms(rng, outF * rank);
  same(b, "matmulStaged", [randoms(rng, n * rank)], (tb, [dx]) => {
    tb.matmulStaged(dx!, dy, factor, outF, n, 0.5);
    factor.forEach((v, i) => { factor[i] = v + (i % 3); });
    tb.matmulStaged(dx!, dy, factor, outF, n, 0.5);
    factor.forEach((v, i) => { factor[i] = v - (i % 3); });
  });

  const dim = 24;
  const [xs, dys, weight] = [randoms(rng, n * dim), randoms(rng, n * dim), randoms(rng, dim)];
  same(b, "rmsNormBackward", [randoms(rng, n * dim), randoms(rng, dim)], (tb, [dx, dw]) => tb.rmsNormBackward(dx!, dw, dys, xs, weight, n, 1e-5));
  same(b, "rmsNormBackward frozen", [randoms(rng, n * dim)], (tb, [dx]) => tb.rmsNormBackward(dx!, undefined, dys, xs, weight, n, 1e-5));
  const [gate, up, dh] = [randoms(rng, 1001, 3), randoms(rng, 1001), randoms(rng, 1001)];
  same(b, "swigluBackward", [new Float32Array(1001), new Float32Array(1001)], (tb, [dg, du]) => tb.swigluBackward(dg!, du!, dh, gate, up));
  const [heads, headDim] = [3, 10];
  const cos = randoms(rng, n * 5);
  const sin = randoms(rng, n * 5);
  same(b, "ropeBackward", [randoms(rng, n * heads * headDim)], (tb, [d]) => tb.ropeBackward(d!, n, heads, headDim, cos, sin));

  const shape = { rows: 2, seqLen: 9, nHeads: 4, nKvHeads: 2, headDim: 8 };
  const tokens = shape.rows * shape.seqLen;
  const [q, k, v, dOut] = [randoms(rng, tokens * 32), randoms(rng, tokens * 16), randoms(rng, tokens * 16), randoms(rng, tokens * 32)];
  const mask = new Uint8Array(tokens).fill(1).fill(0, 15);
  const lse = Float64Array.from({ length: tokens * 4 }, (_, i) => 2 + (i % 3)); // any finite values: P = exp(s - lse)
  const [out, lseOut] = [new Float32Array(tokens * 32), new Float64Array(tokens * 4)];
  const [outRef, lseRef] = [new Float32Array(tokens * 32), new Float64Array(tokens * 4)];
  b.attentionForward(out, lseOut, q, k, v, mask, shape);
  referenceTrainingBackend.attentionForward(outRef, lseRef, q, k, v, mask, shape);
  assertNear(out, outRef, "attentionForward out");
  assertNear(Float32Array.from(lseOut), Float32Array.from(lseRef), "attentionForward lse");
  const vocab = 301;
  const logits = randoms(rng, n * vocab, 3);
  const targets = Int32Array.from({ length: n }, (_, r) => (r % 5 === 2 ? -1 : (r * 37) % vocab));
  for (const inPlace of [false, true]) {
    const [losses, lossesRef] = [new Float64Array(n), new Float64Array(n)];
    same(b, `crossEntropy${inPlace ? " in place" : ""}`, [logits, new Float32Array(n * vocab)], (tb, [l, d]) =>
      tb.crossEntropy(tb === b ? losses : lossesRef, inPlace ? l! : d!, l!, targets, vocab, 3));
    assertNear(Float32Array.from(losses), Float32Array.from(lossesRef), "crossEntropy losses");
  }
  same(b, "attentionBackward", [randoms(rng, tokens * 32), randoms(rng, tokens * 16), randoms(rng, tokens * 16)], (tb, [dq, dk, dv]) =>
    tb.attentionBackward(dq!, dk!, dv!, dOut, q, k, v, lse, mask, shape));
}

for (const provider of KERNEL_PROVIDERS) {
  for (const threads of [1, 3]) {
    test(`${provider.name} kernels, ${threads} threads: the training ops match the reference training backend`, async () => {
      const b = await createWasmBackend({ threads, kernelProvider: provider.url });
      try {
        checkOps(b, new Rng(77 + threads));
        for (const op of ["matmulBackwardInput f32", "matmulBackwardWeight", "crossEntropy", "attentionForward", "attentionBackward", "rmsNormBackward", "swigluBackward", "ropeBackward"]) {
          assert.ok(op in b.opStats(), `${op} ran on the backend`);
        }
      } finally {
        await b.close();
      }
    });
  }
}
