import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../tensor/rng.js";
import { gatherStrided, isContiguous, stridedExtent } from "./strided.js";

test("contiguity follows PyTorch: size-1 dimensions and empty tensors are free", () => {
  assert.equal(isContiguous([2, 3], [3, 1]), true);
  assert.equal(isContiguous([3, 2], [1, 3]), false);
  assert.equal(isContiguous([1, 4], [99, 1]), true);
  assert.equal(isContiguous([2, 0, 3], [7, 7, 7]), true);
  assert.equal(isContiguous([], []), true);
  assert.equal(isContiguous([4], [2]), false);
  assert.equal(isContiguous([2, 2], [0, 1]), false);
});

test("extent counts the elements a view spans", () => {
  assert.equal(stridedExtent([2, 3], [3, 1]), 6);
  assert.equal(stridedExtent([3, 2], [1, 3]), 6);
  assert.equal(stridedExtent([4], [2]), 7);
  assert.equal(stridedExtent([2, 2], [0, 1]), 2);
  assert.equal(stridedExtent([5, 0], [1, 1]), 0);
  assert.equal(stridedExtent([], []), 1);
});

test("gather equals a naive index computation on random views", () => {
  const rng = new Rng(7);
  for (let round = 0; round < 200; round++) {
    const rank = 1 + rng.int(4);
    const shape = Array.from({ length: rank }, () => 1 + rng.int(4));
    const stride = Array.from({ length: rank }, () => rng.int(6));
    const elementBytes = [1, 2, 4][rng.int(3)]!;
    const extent = stridedExtent(shape, stride);
    const span = Uint8Array.from({ length: extent * elementBytes }, () => rng.int(256));
    const count = shape.reduce((n, d) => n * d, 1);
    const out = new Uint8Array(count * elementBytes);
    gatherStrided(span, shape, stride, elementBytes, out);
    for (let i = 0; i < count; i++) {
      let rest = i;
      let offset = 0;
      for (let k = rank - 1; k >= 0; k--) {
        offset += (rest % shape[k]!) * stride[k]!;
        rest = Math.floor(rest / shape[k]!);
      }
      assert.deepEqual(out.subarray(i * elementBytes, (i + 1) * elementBytes), span.subarray(offset * elementBytes, (offset + 1) * elementBytes));
    }
  }
});
