// Parsing a GGUF header (magic, version, counts, metadata key/values, tensor infos) from a window
// of the file's first bytes, synchronously. Every count, length, nesting depth, dimension, offset,
// alignment and tensor extent is checked against the named limits of gguf-constants.ts and against
// the bytes the file has, before anything is allocated for it; a violation is a FormatError with the
// file and the byte offset. When the header runs past the window (and the file goes on), the
// parser throws HeaderWindowTooSmall and the reader retries with a larger window. Arrays of strings
// are checked at once but decoded on first use (a model load never reads its vocabulary). Follows
// ggml/src/gguf.cpp `gguf_init_from_file_impl` for what is checked; huggingface.js packages/gguf
// for the shape of a bounded reader.

import { FormatError, UnsupportedError } from "../../errors.js";
import {
  GGUF_ALIGNMENT_KEY, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_SCALAR_BYTES, GGUF_VALUE_TYPES, GGUF_VERSIONS,
  type GgmlTypeInfo, type GgufValueType, MAX_ALIGNMENT, MAX_ARRAY_DEPTH, MAX_ARRAY_LENGTH, MAX_KEY_BYTES,
  MAX_METADATA_KVS, MAX_STRING_BYTES, MAX_TENSORS, MAX_TENSOR_DIMS, MAX_TENSOR_NAME_BYTES, ggmlTypeInfo,
} from "./gguf-constants.js";
import { isWellFormedUtf8 } from "../utf8.js";

/** A scalar metadata value: integers up to 32 bits and floats as numbers, 64-bit integers as bigints. */
export type GgufScalar = number | bigint | boolean | string;

/** An array value: its element type and elements (arrays may nest). */
export interface GgufArray {
  readonly itemType: GgufValueType;
  readonly items: readonly GgufItem[];
}

export type GgufItem = GgufScalar | GgufArray;

/** One metadata value with its wire type. */
export interface GgufValue {
  readonly type: GgufValueType;
  readonly value: GgufItem;
}

/** One tensor of the file. */
export interface GgufTensorInfo {
  readonly name: string;
  readonly ggmlType: GgmlTypeInfo;
  /** ggml's dimensions: ne[0] is the row width (the fastest-moving index). */
  readonly ne: readonly number[];
  /** Row-major dimensions (ne reversed): a matrix is [rows, cols]. */
  readonly shape: readonly number[];
  /** Absolute file offset of the first byte. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** A parsed header. */
export interface GgufHeader {
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  readonly alignment: number;
  /** Absolute file offset of the data section. */
  readonly dataByteOffset: number;
  /** Bytes of the header proper (before the padding up to the data section). */
  readonly headerByteLength: number;
}

/** Thrown when the header needs bytes past the window: the reader retries with `needed` bytes. */
export class HeaderWindowTooSmall extends Error {
  constructor(readonly needed: number) {
    super(`GGUF header needs ${needed} bytes`);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly fileSize: number, readonly path: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(message: string, byteOffset = this.pos): FormatError {
    return new FormatError(this.path, message, { byteOffset });
  }

  /** Make sure `n` bytes from pos are in the window. */
  need(n: number, what: string): void {
    const end = this.pos + n;
    if (end > this.fileSize) throw this.fail(`truncated: the file ends inside ${what} (${n} bytes needed, ${this.fileSize - this.pos} left)`);
    if (end > this.bytes.length) throw new HeaderWindowTooSmall(end);
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** A uint64 that must be at most `max` (a safe integer). */
  u64(what: string, max: number): number {
    const at = this.pos;
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(max)) throw this.fail(`${what} is ${v}, over the limit of ${max}`, at);
    return Number(v);
  }

  string(what: string, maxBytes: number, limitName: string): string {
    const at = this.pos;
    const length = this.u64(`the length of ${what}`, Number.MAX_SAFE_INTEGER);
    if (length > maxBytes) throw this.fail(`${what} is ${length} bytes long, over the limit ${limitName} = ${maxBytes}`, at);
    this.need(length, what);
    try {
      return utf8.decode(this.bytes.subarray(this.pos, (this.pos += length)));
    } catch (cause) {
      throw new FormatError(this.path, `${what} is not valid UTF-8`, { byteOffset: at, cause });
    }
  }

  valueType(what: string): GgufValueType {
    const at = this.pos;
    const id = this.u32(what);
    const type = GGUF_VALUE_TYPES[id];
    if (type === undefined) throw this.fail(`${what} is ${id}, not a GGUF value type (0..${GGUF_VALUE_TYPES.length - 1})`, at);
    return type;
  }

  scalar(type: ScalarType): GgufScalar {
    const n = GGUF_SCALAR_BYTES[type];
    this.need(n, `a ${type} value`);
    this.pos += n;
    return this.scalarAt(type, this.pos - n);
  }

  /** The scalar at byte `p` (in the window). */
  private scalarAt(type: ScalarType, p: number): GgufScalar {
    const v = this.view;
    switch (type) {
      case "u8": return v.getUint8(p);
      case "i8": return v.getInt8(p);
      case "u16": return v.getUint16(p, true);
      case "i16": return v.getInt16(p, true);
      case "u32": return v.getUint32(p, true);
      case "i32": return v.getInt32(p, true);
      case "f32": return v.getFloat32(p, true);
      case "f64": return v.getFloat64(p, true);
      case "u64": return v.getBigUint64(p, true);
      case "i64": return v.getBigInt64(p, true);
      case "bool": {
        const b = v.getUint8(p);
        if (b > 1) throw this.fail(`a bool is ${b}, not 0 or 1`, p);
        return b === 1;
      }
    }
  }

  value(type: GgufValueType, key: string, depth: number): GgufItem {
    if (type === "string") return this.string(`the string value of "${key}"`, MAX_STRING_BYTES, "MAX_STRING_BYTES");
    if (type !== "array") return this.scalar(type);
    if (depth >= MAX_ARRAY_DEPTH) throw this.fail(`the value of "${key}" nests arrays deeper than MAX_ARRAY_DEPTH = ${MAX_ARRAY_DEPTH}`);
    const itemType = this.valueType(`the element type of array "${key}"`);
    const at = this.pos;
    const length = this.u64(`the length of array "${key}"`, MAX_ARRAY_LENGTH);
    // Each element takes at least this many bytes, so a length the file cannot hold fails before allocating.
    const minItemBytes = itemType === "string" ? 8 : itemType === "array" ? 12 : GGUF_SCALAR_BYTES[itemType];
    if (length * minItemBytes > this.fileSize - this.pos) {
      throw this.fail(`array "${key}" has ${length} elements of at least ${minItemBytes} bytes, more than the ${this.fileSize - this.pos} bytes left in the file`, at);
    }
    if (itemType === "string") return this.stringArray(key, length);
    const items = new Array<GgufItem>(length);
    if (itemType === "array") {
      for (let i = 0; i < length; i++) items[i] = this.value(itemType, key, depth + 1);
    } else {
      const n = GGUF_SCALAR_BYTES[itemType];
      this.need(length * n, `the ${length} ${itemType} elements of array "${key}"`);
      for (let i = 0; i < length; i++, this.pos += n) items[i] = this.scalarAt(itemType, this.pos);
    }
    return { itemType, items };
  }

  /**
   * An array of `length` strings from pos, checked now (each length against MAX_STRING_BYTES and the
   * file, each string's UTF-8) and decoded when its items are first read: a model load never reads a
   * vocabulary and its merges (Llama 3: 408403 strings); decoding them at open raised a Llama 3
   * GGUF's open from +19 to +74 MiB of RSS on Node 20 (+22 to +96 on Node 24) and took 0.6 s.
   * The loop builds no string unless it fails.
   */
  private stringArray(key: string, length: number): GgufArray {
    const start = this.pos;
    for (let i = 0; i < length; i++) {
      const at = this.pos;
      if (at + 8 > this.bytes.length) this.need(8, `the length of string ${i} of array "${key}"`);
      const low = this.view.getUint32(at, true);
      const high = this.view.getUint32(at + 4, true);
      if (high !== 0 || low > MAX_STRING_BYTES) {
        throw this.fail(`string ${i} of array "${key}" is ${(BigInt(high) << 32n) | BigInt(low)} bytes long, over the limit MAX_STRING_BYTES = ${MAX_STRING_BYTES}`, at);
      }
      this.pos = at + 8;
      if (this.pos + low > this.bytes.length) this.need(low, `string ${i} of array "${key}"`);
      if (!isWellFormedUtf8(this.bytes, this.pos, this.pos + low)) throw this.fail(`string ${i} of array "${key}" is not valid UTF-8`, at);
      this.pos += low;
    }
    return lazyStringArray(this.bytes.subarray(start, this.pos), length);
  }
}

type ScalarType = Exclude<GgufValueType, "string" | "array">;

/**
 * A string array over its checked wire bytes (u64 length, UTF-8 bytes; repeated), decoded on the
 * first read of `items` (an own enumerable property, so the array compares as a plain one).
 */
function lazyStringArray(wire: Uint8Array, length: number): GgufArray {
  let bytes: Uint8Array | undefined = wire;
  let items: string[] | undefined;
  const decode = (): string[] => {
    if (items !== undefined) return items;
    const view = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    items = new Array<string>(length);
    for (let i = 0, pos = 0; i < length; i++) {
      const byteLength = view.getUint32(pos, true); // checked: the high word is 0
      items[i] = utf8.decode(bytes!.subarray(pos + 8, (pos += 8 + byteLength)));
    }
    bytes = undefined; // the header window may go
    return items;
  };
  return Object.defineProperty({ itemType: "string" as const }, "items", { enumerable: true, get: decode }) as GgufArray;
}

/**
 * Parse the header in `window` (the file's first bytes).
 * @param fileSize the whole file's size (lengths and offsets are checked against it)
 * @throws FormatError for a malformed or truncated header; UnsupportedError for a big-endian or v1
 *   file or a tensor type ggml does not define; HeaderWindowTooSmall when the window is too short
 */
export function parseGgufHeader(window: Uint8Array, fileSize: number, path: string): GgufHeader {
  const c = new Cursor(window, fileSize, path);
  const magic = c.u32("the magic number");
  if (magic !== GGUF_MAGIC) throw c.fail(`not a GGUF file: the magic number is 0x${magic.toString(16).padStart(8, "0")}, not "GGUF"`, 0);
  const version = c.u32("the version");
  if (!GGUF_VERSIONS.includes(version)) {
    const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
    const why = GGUF_VERSIONS.includes(swapped) ? "a big-endian GGUF (byte swapping is not implemented)" : `GGUF version ${version} (only ${GGUF_VERSIONS.join(" and ")} are read)`;
    throw new UnsupportedError(`${path}: ${why}`);
  }
  const tensorCount = c.u64("the tensor count", MAX_TENSORS);
  const kvCount = c.u64("the metadata key/value count", MAX_METADATA_KVS);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const at = c.pos;
    const key = c.string(`key ${i}`, MAX_KEY_BYTES, "MAX_KEY_BYTES");
    if (metadata.has(key)) throw c.fail(`duplicate metadata key "${key}"`, at);
    const type = c.valueType(`the type of "${key}"`);
    metadata.set(key, { type, value: c.value(type, key, 0) });
  }
  const alignment = readAlignment(metadata, c);

  const infos: { name: string; ggmlType: GgmlTypeInfo; ne: number[]; offset: number; at: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const at = c.pos;
    const name = c.string(`the name of tensor ${i}`, MAX_TENSOR_NAME_BYTES, "MAX_TENSOR_NAME_BYTES");
    if (names.has(name)) throw c.fail(`duplicate tensor name "${name}"`, at);
    names.add(name);
    const nDimsAt = c.pos;
    const nDims = c.u32(`the dimension count of tensor "${name}"`);
    if (nDims > MAX_TENSOR_DIMS) throw c.fail(`tensor "${name}" has ${nDims} dimensions, over MAX_TENSOR_DIMS = ${MAX_TENSOR_DIMS}`, nDimsAt);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.u64(`dimension ${d} of tensor "${name}"`, Number.MAX_SAFE_INTEGER));
    const typeAt = c.pos;
    const typeId = c.u32(`the type of tensor "${name}"`);
    const ggmlType = ggmlTypeInfo(typeId);
    if (ggmlType === undefined) throw new UnsupportedError(`${path}: tensor "${name}" has type id ${typeId}, which ggml does not define (at byte ${typeAt})`);
    const offset = c.u64(`the data offset of tensor "${name}"`, Number.MAX_SAFE_INTEGER);
    infos.push({ name, ggmlType, ne, offset, at });
  }
  const headerByteLength = c.pos;
  const dataByteOffset = Math.ceil(headerByteLength / alignment) * alignment;
  if (tensorCount > 0 && dataByteOffset > fileSize) throw c.fail(`truncated: the data section would start at byte ${dataByteOffset}, past the end of the ${fileSize}-byte file`);
  const dataBytes = Math.max(0, fileSize - dataByteOffset);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const info of infos) tensors.set(info.name, checkExtent(info, alignment, dataByteOffset, dataBytes, path));
  checkNoOverlap([...tensors.values()], path);
  return { version, metadata, tensors, alignment, dataByteOffset, headerByteLength };
}

function readAlignment(metadata: ReadonlyMap<string, GgufValue>, c: Cursor): number {
  const entry = metadata.get(GGUF_ALIGNMENT_KEY);
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const v = entry.value;
  if (entry.type !== "u32" || typeof v !== "number" || v === 0 || (v & (v - 1)) !== 0 || v > MAX_ALIGNMENT) {
    throw new FormatError(c.path, `${GGUF_ALIGNMENT_KEY} must be a uint32 power of two up to MAX_ALIGNMENT = ${MAX_ALIGNMENT}; it is a ${entry.type} ${String(typeof v === "object" ? "array" : v)}`);
  }
  return v;
}

function checkExtent(
  info: { name: string; ggmlType: GgmlTypeInfo; ne: number[]; offset: number; at: number },
  alignment: number, dataByteOffset: number, dataBytes: number, path: string,
): GgufTensorInfo {
  const { name, ggmlType, ne, offset, at } = info;
  const fail = (message: string): FormatError => new FormatError(path, `tensor "${name}" ${message}`, { byteOffset: at });
  let elements = 1;
  for (const d of ne) {
    elements *= d;
    if (!Number.isSafeInteger(elements)) throw fail(`has dimensions [${ne.join(", ")}] whose product overflows`);
  }
  const rowWidth = ne[0] ?? 1;
  if (rowWidth % ggmlType.blockSize !== 0) throw fail(`is ${ggmlType.name} with rows of ${rowWidth} weights, not a multiple of its ${ggmlType.blockSize}-weight blocks`);
  const byteLength = (elements / ggmlType.blockSize) * ggmlType.blockBytes;
  if (offset % alignment !== 0) throw fail(`starts at data offset ${offset}, not a multiple of the alignment ${alignment}`);
  if (offset + byteLength > dataBytes) {
    throw fail(`(${ggmlType.name} [${ne.join(", ")}], ${byteLength} bytes at data offset ${offset}) extends past the end of the file (the data section holds ${dataBytes} bytes)`);
  }
  return { name, ggmlType, ne, shape: [...ne].reverse(), byteOffset: dataByteOffset + offset, byteLength };
}

function checkNoOverlap(tensors: readonly GgufTensorInfo[], path: string): void {
  const sorted = [...tensors].sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.byteOffset < prev.byteOffset + prev.byteLength) {
      throw new FormatError(path, `tensors "${prev.name}" and "${cur.name}" overlap`, { byteOffset: cur.byteOffset });
    }
  }
}
