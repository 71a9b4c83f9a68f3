import assert from "node:assert/strict";
import test from "node:test";
import { halvesToInterleaved, interleavedToHalves, interleavedToHalvesInPlace } from "./rope-layout.js";
import { Rng } from "../tensor/rng.js";

// (nHeads, headDim, row length): one head, GQA-sized k, a wide q, rows of one element.
const SHAPES: readonly [number, number, number][] = [[1, 2, 3], [2, 8, 5], [8, 64, 7], [3, 4, 1]];

test("interleavedToHalvesInPlace leaves in the array what interleavedToHalves returns, for byte rows and float rows", () => {
  const rng = new Rng(12);
  for (const [nHeads, headDim, rowLength] of SHAPES) {
    const n = nHeads * headDim * rowLength;
    const bytes = Uint8Array.from({ length: n }, () => rng.int(256));
    const floats = Float32Array.from({ length: n }, () => rng.normal());
    const original = floats.slice();
    const expectedBytes = interleavedToHalves(bytes, nHeads, headDim);
    const expectedFloats = interleavedToHalves(floats, nHeads, headDim);
    interleavedToHalvesInPlace(bytes, nHeads, headDim);
    interleavedToHalvesInPlace(floats, nHeads, headDim);
    assert.deepEqual(bytes, expectedBytes, `bytes, ${nHeads} heads of ${headDim} rows of ${rowLength}`);
    assert.deepEqual(floats, expectedFloats, `floats, ${nHeads} heads of ${headDim} rows of ${rowLength}`);
    assert.deepEqual(halvesToInterleaved(floats, nHeads, headDim), original, "halvesToInterleaved undoes it");
  }
});

test("interleavedToHalvesInPlace moves row 2i+j of each head to row j*headDim/2+i (HF's permute), in a view of a larger buffer", () => {
  // Row r of head h holds the value 10*h + r, in a view that starts one element in.
  const nHeads = 2;
  const headDim = 4;
  const buffer = new Int32Array(1 + nHeads * headDim + 1).fill(-1);
  const rows = buffer.subarray(1, 1 + nHeads * headDim);
  rows.forEach((_, k) => (rows[k] = 10 * Math.floor(k / headDim) + (k % headDim)));
  interleavedToHalvesInPlace(rows, nHeads, headDim);
  assert.deepEqual([...buffer], [-1, 0, 2, 1, 3, 10, 12, 11, 13, -1]);
});

test("interleavedToHalvesInPlace rejects an array that is not whole heads, or an odd headDim", () => {
  assert.throws(() => interleavedToHalvesInPlace(new Float32Array(10), 2, 4), /cannot permute 10 elements as 2 heads of 4 rows/);
  assert.throws(() => interleavedToHalvesInPlace(new Float32Array(6), 2, 3), /cannot permute 6 elements as 2 heads of 3 rows/);
});
