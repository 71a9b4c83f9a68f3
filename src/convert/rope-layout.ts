// Permuting q/k weight rows between the two rotary layouts. Meta's original weights (and GGUF) pair
// element 2i with 2i+1 of each head ("interleaved"); Hugging Face checkpoints pair i with i + headDim/2
// ("halves"), because transformers' convert_llama_weights_to_hf.py permutes the rows:
//   w.view(nHeads, headDim / 2, 2, dim).transpose(1, 2).reshape(nHeads * headDim, dim)
// i.e. halves row h*headDim + j*headDim/2 + i = interleaved row h*headDim + 2i + j (j in {0, 1}).
// llama3-ts computes in the halves layout; these move whole rows, any element type.
// interleavedToHalvesInPlace is the twin of interleavedToHalves for a tensor already where it is to
// stay (the backend's memory): it needs one head's rows of scratch instead of a second tensor.

/** Row-major data whose rows can be moved: any typed array. */
type Rows = Float32Array | Uint16Array | Float64Array | Uint8Array | Int8Array | Int16Array | Int32Array | Uint32Array;

function permuteRows<T extends Rows>(src: T, nHeads: number, headDim: number, toHalves: boolean): T {
  const nRows = nHeads * headDim;
  if (src.length % nRows !== 0 || headDim % 2 !== 0) {
    throw new RangeError(`cannot permute ${src.length} elements as ${nHeads} heads of ${headDim} rows`);
  }
  const rowLength = src.length / nRows;
  const dst = new (src.constructor as new (n: number) => T)(src.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const halvesRow = h * headDim + j * half + i;
        const interleavedRow = h * headDim + 2 * i + j;
        const [from, to] = toHalves ? [interleavedRow, halvesRow] : [halvesRow, interleavedRow];
        dst.set(src.subarray(from * rowLength, (from + 1) * rowLength), to * rowLength);
      }
    }
  }
  return dst;
}

/**
 * Meta/GGUF interleaved q or k rows to the halves layout (what HF's converter does).
 * @param src (nHeads * headDim, dim) row-major
 * @returns a new array, (nHeads * headDim, dim)
 */
export function interleavedToHalves<T extends Rows>(src: T, nHeads: number, headDim: number): T {
  return permuteRows(src, nHeads, headDim, true);
}

/**
 * interleavedToHalves in place: `rows` ends up holding what interleavedToHalves(rows) returns.
 * Moves one head at a time through a scratch copy of that head's rows.
 * @param rows (nHeads * headDim, dim) row-major, interleaved; halves when this returns
 * @throws RangeError when `rows` is not nHeads * headDim whole rows or headDim is odd
 */
export function interleavedToHalvesInPlace<T extends Rows>(rows: T, nHeads: number, headDim: number): void {
  const nRows = nHeads * headDim;
  if (rows.length % nRows !== 0 || headDim % 2 !== 0) {
    throw new RangeError(`cannot permute ${rows.length} elements as ${nHeads} heads of ${headDim} rows`);
  }
  const rowLength = rows.length / nRows;
  const headLength = headDim * rowLength;
  const head = new (rows.constructor as new (n: number) => T)(headLength); // (headDim, dim), interleaved
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    const base = h * headLength;
    head.set(rows.subarray(base, base + headLength));
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (2 * i + j) * rowLength;
        rows.set(head.subarray(from, from + rowLength), base + (j * half + i) * rowLength);
      }
    }
  }
}

/** The inverse of interleavedToHalves: halves rows back to Meta's interleaved order. */
export function halvesToInterleaved<T extends Rows>(src: T, nHeads: number, headDim: number): T {
  return permuteRows(src, nHeads, headDim, false);
}
