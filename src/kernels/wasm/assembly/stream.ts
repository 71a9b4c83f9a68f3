// The plain streaming read the benchmarks measure memory bandwidth with (bench/bandwidth-child.ts):
// every byte of a range loaded once as 128-bit vectors into a few independent accumulators, with the
// least arithmetic that keeps the loads alive. Not used by the model; a kernel that reads weights at
// this rate is bound by memory, not by its arithmetic.

/**
 * Read [p, p + byteLength) once (byteLength a multiple of 64) and return an XOR of it, so the loads
 * cannot be dropped.
 */
export function read_stream(p: usize, byteLength: usize): u32 {
  let a = i32x4.splat(0), b = i32x4.splat(0), c = i32x4.splat(0), d = i32x4.splat(0);
  const end = p + (byteLength & ~(<usize>63));
  for (let q = p; q < end; q += 64) {
    a = v128.xor(a, v128.load(q));
    b = v128.xor(b, v128.load(q, 16));
    c = v128.xor(c, v128.load(q, 32));
    d = v128.xor(d, v128.load(q, 48));
  }
  const s = v128.xor(v128.xor(a, b), v128.xor(c, d));
  return i32x4.extract_lane(s, 0) ^ i32x4.extract_lane(s, 1) ^ i32x4.extract_lane(s, 2) ^ i32x4.extract_lane(s, 3);
}
