// Strided views of a storage, as PyTorch lays them out: element i of a tensor with shape s and
// stride t sits at storageOffset + sum(index_k * t_k). Contiguity follows PyTorch's
// `is_contiguous` (c10/core/TensorImpl.cpp `compute_contiguous`): strides of size-1 dimensions do
// not matter, and an empty tensor is contiguous. Byte-level only, no dtype knowledge.

/** True when a tensor of `shape` with `stride` is laid out row-major without gaps. */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  if (shape.some((d) => d === 0)) return true;
  let expected = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    const size = shape[k]!;
    if (size !== 1 && stride[k] !== expected) return false;
    expected *= size;
  }
  return true;
}

/** Elements spanned in the storage from the first element: 1 + sum((shape_k - 1) * stride_k), or 0 when empty. */
export function stridedExtent(shape: readonly number[], stride: readonly number[]): number {
  if (shape.some((d) => d === 0)) return 0;
  return 1 + shape.reduce((sum, size, k) => sum + (size - 1) * stride[k]!, 0);
}

/**
 * Copy a strided view into a dense row-major buffer.
 * @param span The storage bytes from the view's first element (at least stridedExtent elements).
 * @param out Receives numel(shape) * elementBytes bytes.
 */
export function gatherStrided(span: Uint8Array, shape: readonly number[], stride: readonly number[], elementBytes: number, out: Uint8Array): void {
  const rank = shape.length;
  const numel = shape.reduce((n, d) => n * d, 1);
  if (numel === 0) return;
  const index = new Array<number>(rank).fill(0);
  let source = 0; // element offset of `index` in the span
  for (let i = 0; i < numel; i++) {
    const from = source * elementBytes;
    out.set(span.subarray(from, from + elementBytes), i * elementBytes);
    // Advance the multi-index like an odometer, keeping `source` in step.
    for (let k = rank - 1; k >= 0; k--) {
      const next = index[k]! + 1;
      source += stride[k]!;
      if (next < shape[k]!) {
        index[k] = next;
        break;
      }
      source -= next * stride[k]!;
      index[k] = 0;
    }
  }
}
