// Writing a GGUF v3 file (ggml/docs/gguf.md): the header (metadata key/values and tensor infos,
// tensors laid out in order, each padded to the alignment as gguf.cpp requires of what it reads),
// then the tensors' bytes, one tensor in memory at a time (each asked for when its turn comes), by
// positional writes. Writes to the path given; atomicity (temporary name, rename) is the caller's
// (convert/gguf-output.ts). The inverse of gguf-header.ts; the round-trip tests pair them.

import { open } from "#platform";
import { ArgumentError } from "../../errors.js";
import { writeRange } from "../positional-io.js";
import {
  GGUF_ALIGNMENT_KEY, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_SCALAR_BYTES, GGUF_VALUE_TYPES, GGUF_WRITE_VERSION,
  type GgufValueType, ggmlTypeInfo,
} from "./gguf-constants.js";
import type { GgufArray, GgufItem, GgufValue } from "./gguf-header.js";

/** One tensor to write: its ggml type id, row-major shape, and a producer of exactly its bytes. */
export interface GgufTensorToWrite {
  readonly name: string;
  readonly ggmlType: number;
  /** Row-major dimensions ([rows, cols] for a matrix); written reversed as ggml's ne. */
  readonly shape: readonly number[];
  /** Called once, in file order, when the tensor is written. */
  readonly bytes: () => Promise<Uint8Array> | Uint8Array;
}

/** Bytes of the tensor `t` must have (its blocks); throws ArgumentError for an unknown type or partial block. */
export function ggufTensorByteLength(ggmlType: number, shape: readonly number[], name: string): number {
  const info = ggmlTypeInfo(ggmlType);
  if (info === undefined) throw new ArgumentError(`tensor "${name}": unknown ggml type ${ggmlType}`);
  const elements = shape.reduce((a, b) => a * b, 1);
  const rowWidth = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (rowWidth % info.blockSize !== 0) throw new ArgumentError(`tensor "${name}": rows of ${rowWidth} are not whole ${info.name} blocks`);
  return (elements / info.blockSize) * info.blockBytes;
}

/** A growable little-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // reserve() may replace buf and view: call it before reading them.
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }

  u64(v: number | bigint): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }

  string(s: string): void {
    const bytes = new TextEncoder().encode(s);
    this.u64(bytes.length);
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }

  scalar(type: Exclude<GgufValueType, "string" | "array">, v: GgufItem): void {
    const at = this.reserve(GGUF_SCALAR_BYTES[type]);
    const d = this.view;
    switch (type) {
      case "u8": d.setUint8(at, v as number); return;
      case "i8": d.setInt8(at, v as number); return;
      case "u16": d.setUint16(at, v as number, true); return;
      case "i16": d.setInt16(at, v as number, true); return;
      case "u32": d.setUint32(at, v as number, true); return;
      case "i32": d.setInt32(at, v as number, true); return;
      case "f32": d.setFloat32(at, v as number, true); return;
      case "f64": d.setFloat64(at, v as number, true); return;
      case "u64": d.setBigUint64(at, BigInt(v as number | bigint), true); return;
      case "i64": d.setBigInt64(at, BigInt(v as number | bigint), true); return;
      case "bool": d.setUint8(at, v === true ? 1 : 0); return;
    }
  }

  value(type: GgufValueType, v: GgufItem): void {
    if (type === "string") return this.string(v as string);
    if (type !== "array") return this.scalar(type, v);
    const array = v as GgufArray;
    this.u32(GGUF_VALUE_TYPES.indexOf(array.itemType));
    this.u64(array.items.length);
    for (const item of array.items) this.value(array.itemType, item);
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * Write a GGUF v3 file at `path` (replacing it).
 * @param metadata key/values in order; general.alignment, when present, must be a u32 power of two
 * @param tensors in file order; each `bytes()` must return exactly the tensor's byte length
 * @throws ArgumentError for an unknown type, a partial block or bytes of the wrong length
 * @example
 * await writeGguf("tiny.gguf", new Map([["general.architecture", { type: "string", value: "llama" }]]),
 *   [{ name: "w", ggmlType: 0, shape: [2, 2], bytes: () => new Uint8Array(new Float32Array(4).buffer) }]);
 */
export async function writeGguf(path: string, metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorToWrite[]): Promise<void> {
  const alignmentValue = metadata.get(GGUF_ALIGNMENT_KEY)?.value;
  const alignment = typeof alignmentValue === "number" ? alignmentValue : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0 || metadata.get(GGUF_ALIGNMENT_KEY)?.type !== undefined && metadata.get(GGUF_ALIGNMENT_KEY)?.type !== "u32") {
    throw new ArgumentError(`${GGUF_ALIGNMENT_KEY} must be a u32 power of two`);
  }
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_WRITE_VERSION);
  w.u64(tensors.length);
  w.u64(metadata.size);
  for (const [key, { type, value }] of metadata) {
    w.string(key);
    w.u32(GGUF_VALUE_TYPES.indexOf(type));
    w.value(type, value);
  }
  const pad = (n: number): number => Math.ceil(n / alignment) * alignment;
  const lengths = tensors.map((t) => ggufTensorByteLength(t.ggmlType, t.shape, t.name));
  let offset = 0;
  const offsets = lengths.map((n) => {
    const at = offset;
    offset += pad(n);
    return at;
  });
  tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d);
    w.u32(t.ggmlType);
    w.u64(offsets[i]!);
  });
  const dataStart = pad(w.length);
  const handle = await open(path, "w");
  try {
    const header = w.bytes();
    await writeRange(handle, path, header.buffer, header.byteOffset, header.length, 0);
    const zeros = new Uint8Array(alignment);
    await writeRange(handle, path, zeros.buffer, 0, dataStart - header.length, header.length);
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!;
      const bytes = await t.bytes();
      if (bytes.length !== lengths[i]) throw new ArgumentError(`tensor "${t.name}": ${bytes.length} bytes given, ${lengths[i]} expected`);
      const at = dataStart + offsets[i]!;
      await writeRange(handle, path, bytes.buffer, bytes.byteOffset, bytes.length, at);
      const padding = pad(bytes.length) - bytes.length;
      if (padding > 0) await writeRange(handle, path, zeros.buffer, 0, padding, at + bytes.length);
    }
  } finally {
    await handle.close();
  }
}
