// Causal grouped-query attention in WebAssembly SIMD, memory-efficient ("flash" attention's idea,
// Dao et al. 2022): each query walks the visible key positions in tiles of ATTENTION_TILE with an
// online softmax (running max m, running denominator l, output accumulator rescaled by e^(m_old -
// m_new) whenever the max grows), so it needs O(ATTENTION_TILE + headDim) floats of scratch and never
// a (tokens x context) score matrix. The twin of src/kernels/reference/attention.ts: same causal mask
// (query t sees positions 0 ..= startPos + t), same GQA mapping (query head h reads kv head
// floor(h / (nHeads / nKvHeads))), computed in float32 where the reference uses float64, so results
// agree to rounding.

import { exp1, exp4, hsum, madd } from "./vec";

/** Key positions per tile: the scores of one tile live in scratch. A multiple of 4. */
const ATTENTION_TILE: u32 = 64;

/** Scratch bytes `attention` needs for `headDim`: one tile of scores and one output accumulator. */
export function attention_scratch_bytes(headDim: u32): u32 {
  return (ATTENTION_TILE + ((headDim + 3) & ~3)) << 2;
}

/** q . k over headDim floats. */
// @ts-ignore: decorator
@inline function dot(q: usize, k: usize, headDim: u32): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let i: u32 = 0;
  for (; i + 8 <= headDim; i += 8) {
    const p = <usize>i << 2;
    a = madd(v128.load(q + p), v128.load(k + p), a);
    b = madd(v128.load(q + p, 16), v128.load(k + p, 16), b);
  }
  let s = hsum(f32x4.add(a, b));
  for (; i < headDim; i++) s += load<f32>(q + (<usize>i << 2)) * load<f32>(k + (<usize>i << 2));
  return s;
}

/**
 * acc (headDim) = acc * corr + sum over the n tile positions j of weights[j] * v_j, where v_j is at
 * v0 + j * rowBytes. Sixteen accumulator lanes stay in registers across the whole tile.
 */
// @ts-ignore: decorator
@inline function accumulate(acc: usize, weights: usize, v0: usize, rowBytes: usize, n: u32, headDim: u32, corr: f32): void {
  const cv = f32x4.splat(corr);
  let i: u32 = 0;
  for (; i + 16 <= headDim; i += 16) {
    const p = <usize>i << 2;
    let a0 = f32x4.mul(v128.load(acc + p), cv), a1 = f32x4.mul(v128.load(acc + p, 16), cv);
    let a2 = f32x4.mul(v128.load(acc + p, 32), cv), a3 = f32x4.mul(v128.load(acc + p, 48), cv);
    let vp = v0 + p;
    for (let j: u32 = 0; j < n; j++) {
      const e = v128.load32_splat(weights + (<usize>j << 2));
      a0 = madd(e, v128.load(vp), a0);
      a1 = madd(e, v128.load(vp, 16), a1);
      a2 = madd(e, v128.load(vp, 32), a2);
      a3 = madd(e, v128.load(vp, 48), a3);
      vp += rowBytes;
    }
    v128.store(acc + p, a0); v128.store(acc + p, a1, 16); v128.store(acc + p, a2, 32); v128.store(acc + p, a3, 48);
  }
  for (; i + 4 <= headDim; i += 4) {
    const p = <usize>i << 2;
    let a = f32x4.mul(v128.load(acc + p), cv);
    let vp = v0 + p;
    for (let j: u32 = 0; j < n; j++) {
      a = madd(v128.load32_splat(weights + (<usize>j << 2)), v128.load(vp), a);
      vp += rowBytes;
    }
    v128.store(acc + p, a);
  }
  for (; i < headDim; i++) {
    const p = <usize>i << 2;
    let a = load<f32>(acc + p) * corr;
    let vp = v0 + p;
    for (let j: u32 = 0; j < n; j++) {
      a += load<f32>(weights + (<usize>j << 2)) * load<f32>(vp);
      vp += rowBytes;
    }
    store<f32>(acc + p, a);
  }
}

/**
 * out (nTokens, nHeads, headDim) for query heads [headStart, headEnd) = causal softmax(q k^T /
 * sqrt(headDim)) v, q (nTokens, nHeads, headDim) rotated, keys and values (>= startPos + nTokens,
 * nKvHeads, headDim). scratch: attention_scratch_bytes(headDim) bytes, 16-byte aligned, per thread.
 */
export function attention(
  out: usize, q: usize, keys: usize, values: usize, nTokens: u32, startPos: u32, nHeads: u32, nKvHeads: u32,
  headDim: u32, headStart: u32, headEnd: u32, scratch: usize,
): void {
  const group = nHeads / nKvHeads;
  const rowBytes = (<usize>nKvHeads * headDim) << 2; // one position of the cache
  const headBytes = <usize>headDim << 2;
  const scale = <f32>(1.0 / Math.sqrt(<f64>headDim));
  const scores = scratch; // (ATTENTION_TILE) one tile's scores, then softmax weights
  const acc = scratch + (<usize>ATTENTION_TILE << 2); // (headDim) unnormalised output
  for (let t: u32 = 0; t < nTokens; t++) {
    const nVisible = startPos + t + 1;
    for (let h = headStart; h < headEnd; h++) {
      const qp = q + <usize>(t * nHeads + h) * headBytes;
      const kvOffset = <usize>(h / group) * headBytes;
      memory.fill(acc, 0, headBytes);
      let m: f32 = -Infinity;
      let l: f32 = 0;
      for (let p0: u32 = 0; p0 < nVisible; p0 += ATTENTION_TILE) {
        const n = min(ATTENTION_TILE, nVisible - p0);
        const k0 = keys + <usize>p0 * rowBytes + kvOffset;
        let tileMax: f32 = -Infinity;
        for (let j: u32 = 0; j < n; j++) {
          const s = dot(qp, k0 + <usize>j * rowBytes, headDim) * scale;
          store<f32>(scores + (<usize>j << 2), s);
          tileMax = max(tileMax, s);
        }
        const mNew = max(m, tileMax);
        const corr = exp1(m - mNew); // 0 on the first tile (m = -inf)
        const mv = f32x4.splat(mNew);
        let sv = f32x4.splat(0);
        let j: u32 = 0;
        for (; j + 4 <= n; j += 4) {
          const p = scores + (<usize>j << 2);
          const e = exp4(f32x4.sub(v128.load(p), mv));
          v128.store(p, e);
          sv = f32x4.add(sv, e);
        }
        let sum = hsum(sv);
        for (; j < n; j++) {
          const p = scores + (<usize>j << 2);
          const e = exp1(load<f32>(p) - mNew);
          store<f32>(p, e);
          sum += e;
        }
        l = l * corr + sum;
        accumulate(acc, scores, values + <usize>p0 * rowBytes + kvOffset, rowBytes, n, headDim, corr);
        m = mNew;
      }
      const op = out + <usize>(t * nHeads + h) * headBytes;
      const inv: f32 = <f32>1 / l;
      const iv = f32x4.splat(inv);
      let i: u32 = 0;
      for (; i + 4 <= headDim; i += 4) v128.store(op + (<usize>i << 2), f32x4.mul(v128.load(acc + (<usize>i << 2)), iv));
      for (; i < headDim; i++) store<f32>(op + (<usize>i << 2), load<f32>(acc + (<usize>i << 2)) * inv);
    }
  }
}
