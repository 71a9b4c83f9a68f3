// The safetensors container as data, with no file access: the 8-byte header length, the JSON
// header, the dtype names and the layout rules. Reading and writing files live in
// safetensors-reader.ts and safetensors-writer.ts; this module turns header bytes into validated
// entries and entries into header bytes.
//
// Follows huggingface/safetensors `safetensors/src/tensor.rs` (commit 000a16f45cff): the header
// limit and checks of `SafeTensors::read_metadata`, the layout rules of `Metadata::validate`
// (sorted by offset, the tensors tile the data section from 0 with no gap or overlap and end
// exactly at the end of the file, each range is shape x dtype size bytes) and the writer's
// `prepare` (sorted by descending dtype alignment then name, header padded with spaces to 8 bytes).
// Departure: we name the tensor, the file and the byte offset in every error, and we report holes,
// overlaps and truncation separately where the reference has one `InvalidOffset`.

import { endianness } from "#platform";
import { FormatError, UnsupportedError } from "../errors.js";
import { compareCodePoints } from "../json.js";
import { DTYPE_BYTES, type DType } from "../tensor/dtype.js";

/** Bytes of the little-endian u64 header length that opens every safetensors file. */
export const HEADER_LENGTH_BYTES = 8;

/**
 * Largest JSON header accepted, in bytes: safetensors' own `MAX_HEADER_SIZE` (100_000_000 in
 * `safetensors/src/tensor.rs`). Checked before anything is allocated for the header.
 */
export const MAX_HEADER_SIZE = 100_000_000;

/** The writer pads the header with spaces to a multiple of this (tensor.rs `prepare`: "Force alignment to 8 bytes"). */
export const HEADER_ALIGNMENT = 8;

/** The header key of the free-form string -> string map (tensor.rs `HashMetadata`). */
export const METADATA_KEY = "__metadata__";

/** safetensors dtype names (tensor.rs `Dtype`) of the element types llama3-ts can hold. */
const DTYPE_BY_WIRE_NAME: ReadonlyMap<string, DType> = new Map<string, DType>([
  ["F64", "f64"], ["F32", "f32"], ["F16", "f16"], ["BF16", "bf16"],
  ["I64", "i64"], ["I32", "i32"], ["I16", "i16"], ["I8", "i8"],
  ["U64", "u64"], ["U32", "u32"], ["U16", "u16"], ["U8", "u8"],
  ["BOOL", "bool"],
]);

/** The safetensors name of each dtype. */
export const WIRE_NAME_OF_DTYPE: Readonly<Record<DType, string>> = {
  f64: "F64", f32: "F32", f16: "F16", bf16: "BF16",
  i64: "I64", i32: "I32", i16: "I16", i8: "I8",
  u64: "U64", u32: "U32", u16: "U16", u8: "U8",
  bool: "BOOL",
};

/**
 * Valid safetensors dtypes (newer releases of the format) that llama3-ts cannot hold: 8-bit, 6-bit
 * and 4-bit floats and complex64. A file using one is refused with an UnsupportedError, not a
 * FormatError, because the file itself is fine.
 */
const UNSUPPORTED_WIRE_NAMES: ReadonlySet<string> = new Set([
  "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F6_E2M3", "F6_E3M2", "F4", "C64",
]);

/**
 * Rank of each dtype in tensor.rs `Dtype`, which is declared "in increasing alignment order"; the
 * reference writer sorts tensors by this rank, descending, so every tensor starts aligned.
 */
const ALIGNMENT_RANK: Readonly<Record<DType, number>> = {
  bool: 0, u8: 1, i8: 2, i16: 3, u16: 4, f16: 5, bf16: 6, i32: 7, u32: 8, f32: 9, f64: 10, i64: 11, u64: 12,
};

/** One tensor of a header, with its data range relative to the start of the data section. */
export interface HeaderEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Start of the tensor's bytes, counted from the first byte after the header. */
  readonly begin: number;
  /** One past the last byte, counted like `begin`. */
  readonly end: number;
}

/** A parsed and validated header. */
export interface SafetensorsHeader {
  /** The `__metadata__` map; empty when the header has none. */
  readonly metadata: ReadonlyMap<string, string>;
  /** The tensors in data order (sorted by `begin`). */
  readonly entries: readonly HeaderEntry[];
}

/** Throws UnsupportedError on a big-endian host: safetensors data is little-endian and is used as is. */
export function assertLittleEndianHost(): void {
  if (endianness() !== "LE") {
    throw new UnsupportedError("safetensors data is little-endian and this host is big-endian; byte swapping is not implemented");
  }
}

/**
 * Reads the header length from the first 8 bytes of a file of `fileSize` bytes and checks it
 * against MAX_HEADER_SIZE and the file size, before anything is allocated for the header.
 * @returns The header length in bytes.
 * @throws FormatError when the file is shorter than 8 bytes or the length is too large.
 */
export function parseHeaderLength(path: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < HEADER_LENGTH_BYTES || prefix.length < HEADER_LENGTH_BYTES) {
    throw new FormatError(path, `truncated file: ${fileSize} bytes is shorter than the ${HEADER_LENGTH_BYTES}-byte header length`, { byteOffset: 0 });
  }
  // Read as u64: a corrupt length can exceed 2^53, so compare as a bigint before narrowing.
  const length = new DataView(prefix.buffer, prefix.byteOffset, HEADER_LENGTH_BYTES).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_SIZE)) {
    throw new FormatError(path, `header length ${length} is over the limit of ${MAX_HEADER_SIZE} bytes (safetensors MAX_HEADER_SIZE)`, { byteOffset: 0 });
  }
  const headerLength = Number(length);
  if (HEADER_LENGTH_BYTES + headerLength > fileSize) {
    throw new FormatError(path, `header length ${headerLength} runs past the end of the file (${fileSize} bytes)`, { byteOffset: 0 });
  }
  return headerLength;
}

/**
 * Parses and validates the JSON header of a file whose data section holds `dataByteLength` bytes.
 * @param path The file, for error messages.
 * @param headerBytes The header, without the 8-byte length.
 * @param dataByteLength File size minus 8 minus the header length.
 * @returns The metadata and the entries sorted by data offset.
 * @throws FormatError for bad UTF-8, bad JSON, bad entries, unknown dtypes and layout errors;
 *   UnsupportedError for a known dtype llama3-ts cannot hold (F8_E4M3...).
 */
export function parseHeader(path: string, headerBytes: Uint8Array, dataByteLength: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch (cause) {
    throw new FormatError(path, "header is not valid UTF-8", { byteOffset: HEADER_LENGTH_BYTES, cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? `: ${cause.message}` : "";
    throw new FormatError(path, `header is not valid JSON${detail}`, { byteOffset: HEADER_LENGTH_BYTES, cause });
  }
  if (!isPlainObject(json)) {
    throw new FormatError(path, `header is not a JSON object (got ${describeJson(json)})`, { byteOffset: HEADER_LENGTH_BYTES });
  }
  let metadata: ReadonlyMap<string, string> = new Map();
  const entries: HeaderEntry[] = [];
  // Object.entries yields own keys only, so a tensor named "__proto__" or "constructor" is safe.
  for (const [name, value] of Object.entries(json)) {
    if (name === METADATA_KEY) metadata = parseMetadata(path, value);
    else entries.push(parseEntry(path, name, value));
  }
  const dataStart = HEADER_LENGTH_BYTES + headerBytes.length;
  validateLayout(path, entries, dataByteLength, dataStart);
  return { metadata, entries };
}

function parseMetadata(path: string, value: unknown): ReadonlyMap<string, string> {
  // tensor.rs reads `__metadata__` as Option<HashMap<String, String>>: null is "none".
  if (value === null) return new Map();
  if (!isPlainObject(value)) {
    throw new FormatError(path, `${METADATA_KEY} must be an object of strings (got ${describeJson(value)})`, { byteOffset: HEADER_LENGTH_BYTES });
  }
  const map = new Map<string, string>();
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") {
      throw new FormatError(path, `${METADATA_KEY} value of "${key}" must be a string (got ${describeJson(item)})`, { byteOffset: HEADER_LENGTH_BYTES });
    }
    map.set(key, item);
  }
  return map;
}

function parseEntry(path: string, name: string, value: unknown): HeaderEntry {
  const bad = (what: string): FormatError =>
    new FormatError(path, `tensor "${name}": ${what}`, { byteOffset: HEADER_LENGTH_BYTES });
  if (!isPlainObject(value)) throw bad(`entry must be an object {dtype, shape, data_offsets} (got ${describeJson(value)})`);
  const { dtype: wireDtype, shape, data_offsets: offsets } = value;
  if (typeof wireDtype !== "string") throw bad(`"dtype" must be a string (got ${describeJson(wireDtype)})`);
  if (!Array.isArray(shape)) throw bad(`"shape" must be an array of dimensions (got ${describeJson(shape)})`);
  if (!Array.isArray(offsets) || offsets.length !== 2) throw bad(`"data_offsets" must be [begin, end] (got ${describeJson(offsets)})`);

  const dtype = DTYPE_BY_WIRE_NAME.get(wireDtype);
  if (dtype === undefined) {
    if (UNSUPPORTED_WIRE_NAMES.has(wireDtype)) {
      const supported = [...DTYPE_BY_WIRE_NAME.keys()].join(", ");
      throw new UnsupportedError(`${path}: tensor "${name}" has dtype ${wireDtype}, which llama3-ts does not support (supported: ${supported})`);
    }
    throw bad(`unknown dtype "${wireDtype}"`);
  }
  for (const dim of shape as unknown[]) {
    if (!isCount(dim)) throw bad(`shape [${shape.join(", ")}] has a dimension that is not a non-negative integer (${describeJson(dim)})`);
  }
  const [begin, end] = offsets as unknown[];
  if (!isCount(begin) || !isCount(end)) throw bad(`data_offsets [${offsets.join(", ")}] must be two non-negative integers`);
  if (end < begin) throw bad(`data_offsets [${begin}, ${end}] end before they begin`);

  const dims = shape as number[];
  const byteLength = shapeByteLength(dims, dtype);
  if (byteLength === undefined) throw bad(`shape [${dims.join(", ")}] x ${wireDtype} overflows ${Number.MAX_SAFE_INTEGER} bytes`);
  if (byteLength !== end - begin) {
    const declared = `shape [${dims.join(", ")}] x ${wireDtype} (${DTYPE_BYTES[dtype]} bytes) is ${byteLength} bytes`;
    throw bad(`${declared} but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtype, shape: dims, begin, end };
}

/**
 * Checks that the entries tile the data section exactly (tensor.rs `Metadata::validate` and the
 * `MetadataIncompleteBuffer` check of `read_metadata`), and sorts them by offset in place.
 * A duplicated name in the JSON (JSON.parse keeps the last) shows up here as a hole.
 */
function validateLayout(path: string, entries: HeaderEntry[], dataByteLength: number, dataStart: number): void {
  // Offsets in messages are relative to the data section, as in the header; byteOffset is absolute.
  const fail = (message: string, dataOffset: number): FormatError => new FormatError(path, message, { byteOffset: dataStart + dataOffset });
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: HeaderEntry | undefined;
  for (const entry of entries) {
    const range = `data_offsets [${entry.begin}, ${entry.end}]`;
    if (entry.begin < cursor) {
      throw fail(`tensor "${entry.name}" ${range} overlap tensor "${previous?.name ?? ""}", which ends at ${cursor}`, entry.begin);
    }
    if (entry.begin > cursor) {
      const after = previous === undefined ? "the start of the data section" : `tensor "${previous.name}"`;
      throw fail(`hole of ${entry.begin - cursor} bytes before tensor "${entry.name}" ${range}, after ${after}: tensors must be contiguous`, cursor);
    }
    cursor = entry.end;
    previous = entry;
  }
  if (cursor > dataByteLength) {
    const last = `tensor "${previous?.name ?? ""}" ends past the end of the file`;
    throw fail(`truncated file: the tensors need ${cursor} data bytes but the data section holds ${dataByteLength} (${last})`, dataByteLength);
  }
  if (cursor < dataByteLength) {
    throw fail(`${dataByteLength - cursor} unexpected bytes after the last tensor: the data section must end where the last tensor ends (${cursor})`, cursor);
  }
}

/** Bytes of a tensor of `shape` and `dtype`, or undefined past Number.MAX_SAFE_INTEGER. */
export function shapeByteLength(shape: readonly number[], dtype: DType): number | undefined {
  let bytes = DTYPE_BYTES[dtype];
  for (const dim of shape) {
    bytes *= dim;
    if (!Number.isSafeInteger(bytes)) return undefined;
  }
  return bytes;
}

/** A tensor for `serializeHeader`: the data range is computed from the order and the sizes. */
export interface HeaderTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

/**
 * The order the reference writer puts tensors in: descending dtype alignment, then name by code
 * point (Rust `String` order). With the header padded to 8 bytes this starts every tensor at a
 * multiple of its element size, and makes our files byte-identical to `safetensors.torch.save_file`.
 */
export function referenceOrder<T extends { readonly name: string; readonly dtype: DType }>(tensors: readonly T[]): T[] {
  return [...tensors].sort((a, b) => ALIGNMENT_RANK[b.dtype] - ALIGNMENT_RANK[a.dtype] || compareCodePoints(a.name, b.name));
}

/**
 * The header bytes (JSON padded with spaces to a multiple of 8, without the 8-byte length) for
 * `tensors` in the order given, with data ranges laid end to end from 0. `__metadata__` comes
 * first, as serde_json writes it in tensor.rs `impl Serialize for Metadata`.
 */
export function serializeHeader(tensors: readonly HeaderTensor[], metadata?: ReadonlyMap<string, string>): Uint8Array {
  const parts: string[] = [];
  if (metadata !== undefined && metadata.size > 0) {
    const items = [...metadata].map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${items.join(",")}}`);
  }
  let offset = 0;
  for (const t of tensors) {
    const info = `{"dtype":"${WIRE_NAME_OF_DTYPE[t.dtype]}","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${offset + t.byteLength}]}`;
    parts.push(`${JSON.stringify(t.name)}:${info}`);
    offset += t.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = new Uint8Array(Math.ceil(json.length / HEADER_ALIGNMENT) * HEADER_ALIGNMENT).fill(0x20);
  padded.set(json);
  return padded;
}

/** The 8-byte little-endian length prefix for a header of `headerByteLength` bytes. */
export function encodeHeaderLength(headerByteLength: number): Uint8Array {
  const prefix = new Uint8Array(HEADER_LENGTH_BYTES);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerByteLength), true);
  return prefix;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** A short description of a JSON value for error messages (never the whole value). */
export function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return String(value);
}
