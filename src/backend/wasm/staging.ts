// One kernel call's arrays in the memory of the op (the WebAssembly backend's staging): an array
// already in that memory is used in place, any other is copied into a staging block for the call
// and, when written, copied back after. Also the retry that runs an op on fewer items when its
// activations do not fit, and the length checks every op makes. Shared by wasm-backend.ts (the
// inference ops) and wasm-training.ts (the backward ops).

import { LlamaError, ShapeError } from "../../errors.js";
import type { Arena, Block } from "./arena.js";

/** The arrays an op reads or writes: float32 activations, 16-bit KV cache rows, log-sum-exps (float64), masks (bytes). */
export type OpArray = Float32Array | Uint16Array | Float64Array | Uint8Array;

/** The bytes of a typed array. */
export function bytesOf(view: OpArray): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** An op's activations do not fit the memory it runs in (the op then runs on fewer tokens at a time). */
export class NoRoomError extends LlamaError {
  override readonly name = "NoRoomError";
}

/**
 * Run `op` on items [0, n) (tokens or elements); when their activations do not fit the op's memory,
 * on each half in turn, down to single items.
 */
export function splitWhenNoRoom(n: number, op: (start: number, count: number) => void, start = 0): void {
  try {
    op(start, n);
  } catch (error) {
    if (!(error instanceof NoRoomError) || n <= 1) throw error;
    const half = Math.floor(n / 2);
    splitWhenNoRoom(half, op, start);
    splitWhenNoRoom(n - half, op, start + half);
  }
}

/** One kernel call's arrays in the op's memory: the staging blocks to free, the outputs to copy back. */
export class Staging {
  private readonly blocks: Block[] = [];
  /** Arrays placed so far; the same elements passed twice (swiglu's out = gate) share one place. */
  private readonly placed: { view: OpArray; byteOffset: number; staged: Uint8Array | undefined; copyBack: boolean }[] = [];

  constructor(private readonly arena: Arena, readonly memoryIndex: number) {}

  /** Byte offset of `view` in this memory: itself when it is there, else a staging copy. */
  place(view: OpArray, mode: "in" | "out" | "inout"): number {
    const known = this.placed.find((p) => p.view.buffer === view.buffer && p.view.byteOffset === view.byteOffset && p.view.byteLength === view.byteLength);
    if (known !== undefined) {
      if (mode !== "in") known.copyBack = true;
      return known.byteOffset;
    }
    const where = this.arena.locate(view);
    if (where !== undefined && where.memoryIndex === this.memoryIndex) {
      this.placed.push({ view, byteOffset: where.byteOffset, staged: undefined, copyBack: false });
      return where.byteOffset;
    }
    const block = this.allocateHere(view.byteLength);
    const staged = new Uint8Array(this.arena.buffer(block.memoryIndex), block.byteOffset, view.byteLength);
    if (mode !== "out") staged.set(bytesOf(view));
    this.placed.push({ view, byteOffset: block.byteOffset, staged, copyBack: mode !== "in" });
    return block.byteOffset;
  }

  /** A scratch block in this memory for the call. */
  scratch(byteLength: number): number {
    return this.allocateHere(byteLength).byteOffset;
  }

  /** @throws NoRoomError when this memory has no room for the block */
  private allocateHere(byteLength: number): Block {
    const block = this.arena.allocateIn(this.memoryIndex, byteLength, "staging");
    if (block === undefined) throw new NoRoomError(`wasm backend: no room for ${byteLength} bytes of activations in memory ${this.memoryIndex}`);
    this.blocks.push(block);
    return block;
  }

  /** Copy outputs back (when the kernels succeeded) and free the staging blocks. */
  finish(succeeded: boolean): void {
    if (succeeded) for (const p of this.placed) if (p.copyBack && p.staged !== undefined) bytesOf(p.view).set(p.staged);
    for (const block of this.blocks) this.arena.free(block);
  }

  /** Run `body` with this staging, then finish it. */
  run(body: (s: Staging) => void): void {
    let succeeded = false;
    try {
      body(this);
      succeeded = true;
    } finally {
      this.finish(succeeded);
    }
  }
}

/** @throws ShapeError when `view` holds fewer than `needed` elements */
export function checkLength(what: string, view: OpArray, needed: number): void {
  if (!Number.isInteger(needed) || view.length < needed) throw new ShapeError(what, [needed], [view.length], "wasm backend");
}
