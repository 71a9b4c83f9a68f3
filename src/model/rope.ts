// Rotary position embedding tables: the inverse frequencies (with the Llama 3.1 "llama3" scaling)
// and cos/sin per position, grown on demand. Computed in float32 step by step the way the reference
// does it (meta-llama/llama3 model.py precompute_freqs_cis; llama-models apply_scaling; transformers
// _compute_llama3_parameters: all float32 tensor ops), so the tables match it to the last bit or
// one ulp. The rotation itself is a kernel (kernels/reference/rope.ts).

import type { RopeScaling } from "./config.js";

const f = Math.fround;

/**
 * Inverse frequencies theta^(-2i/headDim), i < headDim/2, with the llama3 scaling applied.
 * @returns (headDim / 2) float32 values
 */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling: RopeScaling): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(Math.pow(theta, f((2 * i) / headDim))));
  if (scaling.kind === "llama3") applyLlama3Scaling(inv, scaling);
  return inv;
}

/** llama-models `apply_scaling`: keep high frequencies, divide low ones by `factor`, blend between. */
function applyLlama3Scaling(inv: Float32Array, s: Extract<RopeScaling, { kind: "llama3" }>): void {
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const twoPi = f(2 * Math.PI);
  for (let i = 0; i < inv.length; i++) {
    const freq = inv[i]!;
    const wavelen = f(twoPi / freq);
    if (wavelen < highFreqWavelen) continue;
    if (wavelen > lowFreqWavelen) {
      inv[i] = f(freq / s.factor);
      continue;
    }
    const smooth = f(f(f(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
    inv[i] = f(f(f(f(1 - smooth) * freq) / s.factor) + f(smooth * freq));
  }
}

/** cos/sin of pos * invFreq[i] for positions [0, capacity), grown by doubling as positions are asked for. */
export class RopeTable {
  private capacity = 0;
  private cosTable = new Float32Array(0); // (capacity, headDim / 2)
  private sinTable = new Float32Array(0); // (capacity, headDim / 2)
  readonly half: number;

  constructor(readonly inverseFrequencies: Float32Array) {
    this.half = inverseFrequencies.length;
  }

  /** Make sure positions [0, nPositions) are in the table. */
  ensure(nPositions: number): void {
    if (nPositions <= this.capacity) return;
    const capacity = Math.max(nPositions, this.capacity * 2, 64);
    const cos = new Float32Array(capacity * this.half); // (capacity, headDim / 2)
    const sin = new Float32Array(capacity * this.half); // (capacity, headDim / 2)
    cos.set(this.cosTable);
    sin.set(this.sinTable);
    for (let pos = this.capacity; pos < capacity; pos++) {
      for (let i = 0; i < this.half; i++) {
        // The angle is a float32 product, as torch.outer(t, freqs) computes it.
        const angle = f(pos * this.inverseFrequencies[i]!);
        cos[pos * this.half + i] = Math.cos(angle);
        sin[pos * this.half + i] = Math.sin(angle);
      }
    }
    this.cosTable = cos;
    this.sinTable = sin;
    this.capacity = capacity;
  }

  /** cos of positions [start, start + n): (n, headDim / 2). Call ensure(start + n) first. */
  cosRows(start: number, n: number): Float32Array {
    return this.cosTable.subarray(start * this.half, (start + n) * this.half);
  }

  /** sin of positions [start, start + n): (n, headDim / 2). Call ensure(start + n) first. */
  sinRows(start: number, n: number): Float32Array {
    return this.sinTable.subarray(start * this.half, (start + n) * this.half);
  }
}
