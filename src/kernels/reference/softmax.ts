// Reference kernel for softmax over one row: e^(x - max) / sum, in float64 like the reference
// attention's score row (attention.ts), stored as float32. Plain loops; the specification that the
// WebAssembly kernel (src/kernels/wasm/) is tested against. Used on its own by samplers and tests; the
// attention kernels fold their softmax into the score loop.

/**
 * Replace x (n) by softmax(x), in place. A row of all -Infinity gives NaN (0 / 0), as PyTorch does.
 * @param x (n), n >= 1
 */
export function softmax(x: Float32Array): void {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i]! > max) max = x[i]!;
  const e = new Float64Array(x.length); // (n) exponentials before normalising
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    e[i] = Math.exp(x[i]! - max);
    sum += e[i]!;
  }
  for (let i = 0; i < x.length; i++) x[i] = e[i]! / sum;
}
