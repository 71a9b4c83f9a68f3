// Causal grouped-query attention in WebAssembly SIMD, memory-efficient ("flash" attention's idea,
// Dao et al. 2022): each query walks the visible key positions in tiles of ATTENTION_TILE with an
// online softmax (running max m, running denominator l, output accumulator rescaled by e^(m_old -
// m_new) whenever the max grows), so it needs O(ATTENTION_TILE + headDim) floats of scratch and never
// a (tokens x context) score matrix. The twin of src/kernels/reference/attention.ts: same causal mask
// (query t sees positions 0 ..= startPos + t), same GQA mapping (query head h reads kv head
// floor(h / (nHeads / nKvHeads))), computed in float32 where the reference uses float64, so results
// agree to rounding.
//
// The query heads of one GQA group (those sharing a kv head) walk the key tiles together: each tile
// of keys and values is read from the cache once per group and reused from L1 by the group's heads,
// instead of once per query head (at long context the cache no longer fits in cache memory, so this
// divides the traffic by nHeads / nKvHeads). Keys and values may be float32 or 16-bit floats
// (attention_f16, attention_bf16: a compact KV cache); 16-bit tiles are widened exactly into
// contiguous scratch once per group, then the float32 loops run on them (float32 tiles are read in
// place: copying them into scratch first measured no faster).
//
// Prefill also tiles the queries: QUERY_TILE consecutive tokens of a group walk the key tiles
// together, so each tile is read (and widened) once per QUERY_TILE x group queries; at long context
// the per-query re-reading of the whole cache was what bound prefill. Each query still sees the
// same key tiles with the same lengths as alone, so its arithmetic, and its result, are unchanged.
// A query's scores are taken four keys at a time (dot4: its vectors loaded once per four keys, four
// horizontal sums at once), each lane summed exactly as a single dot product, so the bits are too.

import { bf16Hi, bf16Lo, bf16ToF32, exp1, exp4, f16Hi, f16High, f16Lo, f16ToF32, hmax, hsum, hsum4, madd } from "./vec";

/** Key positions per tile: the scores of one tile live in scratch. A multiple of 4. */
const ATTENTION_TILE: u32 = 64;
/**
 * Query tokens that share each key tile. Four tokens x a group of four heads keep 16 accumulators
 * of headDim floats (16 KiB at headDim 64) beside a 16 KiB f32 tile of keys and values.
 */
const QUERY_TILE: u32 = 4;

/** How the cache's rows are stored. */
const KV_F32: u32 = 0;
const KV_F16: u32 = 1;
const KV_BF16: u32 = 2;

/** headDim rounded up to whole vectors, in bytes: the stride of widened rows and accumulators. */
// @ts-ignore: decorator
@inline function paddedBytes(headDim: u32): usize {
  return <usize>((headDim + 3) & ~3) << 2;
}

/**
 * Scratch bytes `attention` needs for `headDim` and GQA groups of `group` query heads: one tile of
 * scores, an output accumulator and running max / sum per query of a query tile (QUERY_TILE tokens
 * x the group's heads), and one widened tile of keys and of values. Independent of the context length.
 */
export function attention_scratch_bytes(headDim: u32, group: u32): u32 {
  const row = <u32>paddedBytes(headDim);
  const queries = QUERY_TILE * group;
  const stats = ((queries * 2 + 3) & ~3) << 2;
  return (ATTENTION_TILE << 2) + queries * row + stats + 2 * ATTENTION_TILE * row;
}

/** q . k over headDim floats. */
// @ts-ignore: decorator
@inline export function dot(q: usize, k: usize, headDim: u32): f32 {
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
 * [q . k0, q . k1, q . k2, q . k3] for keys `rowBytes` apart, each lane computed exactly as dot()
 * computes it (the same two accumulators, the same tail order), but with each query vector loaded
 * once for four keys and the four horizontal sums done together (hsum4).
 */
// @ts-ignore: decorator
@inline function dot4(q: usize, k: usize, rowBytes: usize, headDim: u32): v128 {
  const k1 = k + rowBytes, k2 = k1 + rowBytes, k3 = k2 + rowBytes;
  let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
  let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
  let i: u32 = 0;
  for (; i + 8 <= headDim; i += 8) {
    const p = <usize>i << 2;
    const qa = v128.load(q + p), qb = v128.load(q + p, 16);
    a0 = madd(qa, v128.load(k + p), a0);
    b0 = madd(qb, v128.load(k + p, 16), b0);
    a1 = madd(qa, v128.load(k1 + p), a1);
    b1 = madd(qb, v128.load(k1 + p, 16), b1);
    a2 = madd(qa, v128.load(k2 + p), a2);
    b2 = madd(qb, v128.load(k2 + p, 16), b2);
    a3 = madd(qa, v128.load(k3 + p), a3);
    b3 = madd(qb, v128.load(k3 + p, 16), b3);
  }
  let s = hsum4(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3));
  if (i < headDim) {
    let s0 = f32x4.extract_lane(s, 0), s1 = f32x4.extract_lane(s, 1), s2 = f32x4.extract_lane(s, 2), s3 = f32x4.extract_lane(s, 3);
    for (; i < headDim; i++) {
      const p = <usize>i << 2;
      const qi = load<f32>(q + p);
      s0 += qi * load<f32>(k + p);
      s1 += qi * load<f32>(k1 + p);
      s2 += qi * load<f32>(k2 + p);
      s3 += qi * load<f32>(k3 + p);
    }
    s = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(s0), 1, s1), 2, s2), 3, s3);
  }
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
 * dst (n, headDim) float32 rows at `dstRowBytes` apart = the 16-bit rows at src, `srcRowBytes` apart,
 * widened exactly (bf16: a shift; f16: vec.ts's rebias).
 */
// @ts-ignore: decorator
@inline function widenTile(dst: usize, dstRowBytes: usize, src: usize, srcRowBytes: usize, n: u32, headDim: u32, kind: u32): void {
  for (let j: u32 = 0; j < n; j++) {
    const s = src + <usize>j * srcRowBytes;
    const d = dst + <usize>j * dstRowBytes;
    let i: u32 = 0;
    for (; i + 8 <= headDim; i += 8) {
      const h = v128.load(s + (<usize>i << 1));
      const dp = d + (<usize>i << 2);
      if (kind == KV_BF16) {
        v128.store(dp, bf16Lo(h));
        v128.store(dp, bf16Hi(h), 16);
      } else {
        const high = f16High(h);
        v128.store(dp, f16Lo(h, high));
        v128.store(dp, f16Hi(h, high), 16);
      }
    }
    for (; i < headDim; i++) {
      const bits = <u32>load<u16>(s + (<usize>i << 1));
      store<f32>(d + (<usize>i << 2), kind == KV_BF16 ? bf16ToF32(bits) : f16ToF32(bits));
    }
  }
}

/**
 * One query head's online-softmax step over a tile of n keys at k0 and values at v0 (rows rowBytes
 * apart, float32): scores into `scores`, running max/sum at `stats` (m, l) updated, acc rescaled and
 * accumulated.
 */
// @ts-ignore: decorator
@inline function tileStep(qp: usize, k0: usize, v0: usize, rowBytes: usize, n: u32, headDim: u32, scale: f32, scores: usize, stats: usize, acc: usize): void {
  let tileMax: f32 = -Infinity;
  let j4: u32 = 0;
  const sv4 = f32x4.splat(scale);
  let mv4 = f32x4.splat(-Infinity);
  for (; j4 + 4 <= n; j4 += 4) {
    const s = f32x4.mul(dot4(qp, k0 + <usize>j4 * rowBytes, rowBytes, headDim), sv4);
    v128.store(scores + (<usize>j4 << 2), s);
    mv4 = f32x4.max(mv4, s);
  }
  tileMax = hmax(mv4);
  for (let j = j4; j < n; j++) {
    const s = dot(qp, k0 + <usize>j * rowBytes, headDim) * scale;
    store<f32>(scores + (<usize>j << 2), s);
    tileMax = max(tileMax, s);
  }
  const m = load<f32>(stats);
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
  store<f32>(stats, mNew);
  store<f32>(stats, load<f32>(stats, 4) * corr + sum, 4);
  accumulate(acc, scores, v0, rowBytes, n, headDim, corr);
}

/** The kernel for keys/values stored as `kind` (a constant at each call: inlined and specialised). */
// @ts-ignore: decorator
@inline function attentionOf(
  out: usize, q: usize, keys: usize, values: usize, nTokens: u32, startPos: u32, nHeads: u32, nKvHeads: u32,
  headDim: u32, headStart: u32, headEnd: u32, scratch: usize, kind: u32,
): void {
  const group = nHeads / nKvHeads;
  const elementShift: usize = kind == KV_F32 ? 2 : 1;
  const rowBytes = (<usize>nKvHeads * headDim) << elementShift; // one position of the cache
  const kvHeadBytes = <usize>headDim << elementShift;
  const headBytes = <usize>headDim << 2;
  const padded = paddedBytes(headDim);
  const scale = <f32>(1.0 / Math.sqrt(<f64>headDim));
  const scores = scratch; // (ATTENTION_TILE) one tile's scores, then softmax weights
  const queries = QUERY_TILE * group;
  const accs = scores + (<usize>ATTENTION_TILE << 2); // (QUERY_TILE * group, padded) unnormalised outputs
  const stats = accs + <usize>queries * padded; // (QUERY_TILE * group, 2) running max m and sum l
  const kTile = stats + (<usize>((queries * 2 + 3) & ~3) << 2); // (ATTENTION_TILE, padded) widened keys
  const vTile = kTile + <usize>ATTENTION_TILE * padded; // (ATTENTION_TILE, padded) widened values
  for (let t0: u32 = 0; t0 < nTokens; t0 += QUERY_TILE) {
    const nt = min(QUERY_TILE, nTokens - t0);
    const nVisibleLast = startPos + t0 + nt; // what the tile's last token sees
    // Query heads [h0, h1): the part of one GQA group inside [headStart, headEnd).
    for (let h0 = headStart; h0 < headEnd;) {
      const g = h0 / group;
      const h1 = min(headEnd, (g + 1) * group);
      const nh = h1 - h0;
      const nq = nt * nh; // queries: token t0 + qi / nh, head h0 + qi % nh
      memory.fill(accs, 0, <usize>nq * padded);
      for (let qi: u32 = 0; qi < nq; qi++) {
        store<f32>(stats + (<usize>qi << 3), -Infinity);
        store<f32>(stats + (<usize>qi << 3), 0, 4);
      }
      for (let p0: u32 = 0; p0 < nVisibleLast; p0 += ATTENTION_TILE) {
        const n = min(ATTENTION_TILE, nVisibleLast - p0);
        let k0 = keys + <usize>p0 * rowBytes + <usize>g * kvHeadBytes;
        let v0 = values + <usize>p0 * rowBytes + <usize>g * kvHeadBytes;
        let tileRowBytes = rowBytes;
        if (kind != KV_F32) {
          widenTile(kTile, padded, k0, rowBytes, n, headDim, kind);
          widenTile(vTile, padded, v0, rowBytes, n, headDim, kind);
          k0 = kTile;
          v0 = vTile;
          tileRowBytes = padded;
        }
        for (let ti: u32 = 0; ti < nt; ti++) {
          const nVisible = startPos + t0 + ti + 1;
          if (p0 >= nVisible) continue; // this tile lies wholly in the token's future
          const nk = min(n, nVisible - p0);
          for (let i: u32 = 0; i < nh; i++) {
            const qi = ti * nh + i;
            const qp = q + <usize>((t0 + ti) * nHeads + h0 + i) * headBytes;
            tileStep(qp, k0, v0, tileRowBytes, nk, headDim, scale, scores, stats + (<usize>qi << 3), accs + <usize>qi * padded);
          }
        }
      }
      for (let qi: u32 = 0; qi < nq; qi++) {
        const acc = accs + <usize>qi * padded;
        const op = out + <usize>((t0 + qi / nh) * nHeads + h0 + qi % nh) * headBytes;
        const inv: f32 = <f32>1 / load<f32>(stats + (<usize>qi << 3), 4);
        const iv = f32x4.splat(inv);
        let d: u32 = 0;
        for (; d + 4 <= headDim; d += 4) v128.store(op + (<usize>d << 2), f32x4.mul(v128.load(acc + (<usize>d << 2)), iv));
        for (; d < headDim; d++) store<f32>(op + (<usize>d << 2), load<f32>(acc + (<usize>d << 2)) * inv);
      }
      h0 = h1;
    }
  }
}

/**
 * out (nTokens, nHeads, headDim) for query heads [headStart, headEnd) = causal softmax(q k^T /
 * sqrt(headDim)) v, q (nTokens, nHeads, headDim) rotated, keys and values (>= startPos + nTokens,
 * nKvHeads, headDim) float32. scratch: attention_scratch_bytes(headDim, nHeads / nKvHeads) bytes,
 * 16-byte aligned, per thread. Any head range is correct; ranges of whole groups read the cache least.
 */
export function attention(
  out: usize, q: usize, keys: usize, values: usize, nTokens: u32, startPos: u32, nHeads: u32, nKvHeads: u32,
  headDim: u32, headStart: u32, headEnd: u32, scratch: usize,
): void {
  attentionOf(out, q, keys, values, nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd, scratch, KV_F32);
}

/** `attention` with keys and values stored as IEEE halves (a f16 KV cache). */
export function attention_f16(
  out: usize, q: usize, keys: usize, values: usize, nTokens: u32, startPos: u32, nHeads: u32, nKvHeads: u32,
  headDim: u32, headStart: u32, headEnd: u32, scratch: usize,
): void {
  attentionOf(out, q, keys, values, nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd, scratch, KV_F16);
}

/** `attention` with keys and values stored as bfloat16 (a bf16 KV cache). */
export function attention_bf16(
  out: usize, q: usize, keys: usize, values: usize, nTokens: u32, startPos: u32, nHeads: u32, nKvHeads: u32,
  headDim: u32, headStart: u32, headEnd: u32, scratch: usize,
): void {
  attentionOf(out, q, keys, values, nTokens, startPos, nHeads, nKvHeads, headDim, headStart, headEnd, scratch, KV_BF16);
}
