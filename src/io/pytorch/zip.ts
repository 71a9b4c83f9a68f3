// Reader for the zip container of torch.save files, following PKWARE APPNOTE.TXT 6.3.10: end of
// central directory record (4.3.16), ZIP64 end of central directory locator and record (4.3.14-15),
// central directory headers (4.3.12), local file headers (4.3.7) and the ZIP64 extended information
// extra field (4.5.3). PyTorch writes these with miniz (caffe2/serialize/inline_container.cc): always
// ZIP64 end records, STORED entries whose data is aligned to 64 bytes by an "FB" padding extra field
// in the local header only, and data descriptors (so local headers carry zero sizes).
//
// Only the directory and small records are read into memory; entry data is located by position, so a
// 16 GB tensor file is never held whole. Not a general zip tool: no multi-disk archives, no
// encryption, and only STORED entries (plus DEFLATE for small records read whole).

import { type FileHandle, inflateRawSync, open } from "#platform";
import { ArgumentError, FormatError, UnsupportedError } from "../../errors.js";
import { crc32 } from "./crc32.js";
import { readRange } from "../positional-io.js";

// Signatures and fixed sizes of the records (APPNOTE 4.3.7, 4.3.12, 4.3.14, 4.3.15, 4.3.16).
const LOCAL_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_BYTES = 30;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_HEADER_BYTES = 46;
const EOCD_SIGNATURE = 0x06054b50;
const EOCD_BYTES = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_BYTES = 56;
/** Header id of the ZIP64 extended information extra field (APPNOTE 4.5.3). */
const ZIP64_EXTRA_ID = 0x0001;
/** The zip comment length is a u16, so the end record lies within the last 22 + 65535 bytes. */
const MAX_COMMENT_BYTES = 0xffff;
/** A u16 / u32 field holding its maximum means "the real value is in the ZIP64 record or extra". */
const U16_SATURATED = 0xffff;
const U32_SATURATED = 0xffffffff;
/** General purpose flag bits (APPNOTE 4.4.4): bit 0 encryption, bit 3 sizes in a data descriptor. */
const FLAG_ENCRYPTED = 0x0001;
const FLAG_DATA_DESCRIPTOR = 0x0008;

/** Compression methods (APPNOTE 4.4.5). torch.save writes STORED only. */
export const ZIP_STORED = 0;
export const ZIP_DEFLATED = 8;

/** Most entries in one archive. A torch.save file has one per storage plus 3-5 records (a Llama 3 70B shard: about 730). */
export const MAX_ZIP_ENTRIES = 1_000_000;
/** Longest entry name in bytes. torch names are "<archive>/data/<key>": a few dozen bytes. */
export const MAX_ENTRY_NAME_BYTES = 4096;
/** Largest central directory read into memory: room for MAX_ZIP_ENTRIES entries of ordinary names. */
export const MAX_CENTRAL_DIRECTORY_BYTES = 256 * 1024 * 1024;
/** How much larger than its contents a deflated record may be (deflate adds at most ~5 bytes per 32 KiB block). */
const DEFLATE_SLACK_BYTES = 64 * 1024;

/** One file in the archive, located: its bytes are `compressedSize` bytes at `dataOffset`. */
export interface ZipEntry {
  readonly name: string;
  /** {@link ZIP_STORED} or {@link ZIP_DEFLATED}. */
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  /** Where the entry's bytes start, computed from its local header (whose name and extra lengths may differ from the central ones). */
  readonly dataOffset: number;
}

/** Where the central directory is, from the end records. */
interface DirectoryLocation { readonly offset: number; readonly byteLength: number; readonly count: number }

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * An open zip archive: its directory, read and checked on open, and positional reads of entry data.
 * @example
 * const zip = await ZipArchive.open("model.pth");
 * try { const pkl = await zip.readSmall(zip.entry("model/data.pkl")!, 1 << 20, "pickle"); } finally { await zip.close(); }
 */
export class ZipArchive {
  private closed = false;

  private constructor(
    /** The file, as given to {@link ZipArchive.open}; errors name it. */
    readonly path: string,
    private readonly file: FileHandle,
    readonly fileSize: number,
    /** Entries by name, in central directory order. */
    readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {}

  /**
   * Open `path` and read its directory and every local header.
   * @throws {FormatError} When the bytes are not a well-formed zip archive (naming the record and byte).
   * @throws {UnsupportedError} For multi-disk archives, encrypted entries and compression methods other than stored/deflate.
   */
  static async open(path: string): Promise<ZipArchive> {
    const file = await open(path, "r");
    try {
      return await ZipArchive.fromHandle(file, path);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /** Read the directory of an already open file; the archive then owns the handle (see {@link close}). */
  static async fromHandle(file: FileHandle, path: string): Promise<ZipArchive> {
    const fileSize = (await file.stat()).size;
    const location = await locateCentralDirectory(file, path, fileSize);
    const directory = await readAt(file, path, location.offset, location.byteLength, "central directory");
    const central = parseCentralDirectory(directory, location, path);
    const entries = new Map<string, ZipEntry>();
    for (const record of central) {
      if (entries.has(record.name)) throw new FormatError(path, `zip entry "${record.name}" appears twice in the central directory`, { byteOffset: record.centralOffset });
      entries.set(record.name, await locateEntryData(file, path, record, location.offset));
    }
    return new ZipArchive(path, file, fileSize, entries);
  }

  /** The entry called `name`, if any. */
  entry(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /**
   * The whole contents of a small entry, inflated if it is deflated, CRC checked.
   * @param maxBytes Refuse entries whose contents exceed this many bytes.
   * @param what Names the limit and the record for error messages, e.g. "data.pkl (MAX_PICKLE_BYTES)".
   * @throws {FormatError} Over the limit, corrupt deflate data, or a CRC mismatch.
   */
  async readSmall(entry: ZipEntry, maxBytes: number, what: string): Promise<Uint8Array> {
    this.checkOpen();
    if (entry.uncompressedSize > maxBytes) {
      throw new FormatError(this.path, `${what}: entry "${entry.name}" holds ${entry.uncompressedSize} bytes, over the limit of ${maxBytes}`, { byteOffset: entry.dataOffset });
    }
    if (entry.compressedSize > maxBytes + DEFLATE_SLACK_BYTES) {
      throw new FormatError(this.path, `${what}: entry "${entry.name}" has ${entry.compressedSize} compressed bytes, over the limit of ${maxBytes + DEFLATE_SLACK_BYTES}`, { byteOffset: entry.dataOffset });
    }
    const raw = await readAt(this.file, this.path, entry.dataOffset, entry.compressedSize, `zip entry "${entry.name}"`);
    const bytes = entry.method === ZIP_DEFLATED ? this.inflate(entry, raw) : raw;
    if (crc32(bytes) !== entry.crc32) {
      throw new FormatError(this.path, `zip entry "${entry.name}": CRC-32 of the contents is ${hex(crc32(bytes))}, the directory says ${hex(entry.crc32)}`, { byteOffset: entry.dataOffset });
    }
    return bytes;
  }

  /** Fill `target` with file bytes from `position` (for STORED entry data; the caller checks ranges). */
  async readData(position: number, target: Uint8Array, what: string): Promise<void> {
    this.checkOpen();
    await readRange(this.file, this.path, what, target.buffer, target.byteOffset, target.byteLength, position);
  }

  /** Close the file. Idempotent; reads after closing throw. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }

  private inflate(entry: ZipEntry, raw: Uint8Array): Uint8Array {
    let out: Buffer;
    try {
      // maxOutputLength stops a deflate bomb from inflating past the size the directory declared.
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
    } catch (cause) {
      throw new FormatError(this.path, `zip entry "${entry.name}": deflate data is corrupt or inflates past its declared ${entry.uncompressedSize} bytes`, { byteOffset: entry.dataOffset, cause });
    }
    if (out.byteLength !== entry.uncompressedSize) {
      throw new FormatError(this.path, `zip entry "${entry.name}" inflates to ${out.byteLength} bytes, the directory says ${entry.uncompressedSize}`, { byteOffset: entry.dataOffset });
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  private checkOpen(): void {
    if (this.closed) throw new ArgumentError(`${this.path}: read after close()`);
  }
}

/** A central directory header, parsed (sizes and offset already taken from the ZIP64 extra field where saturated). */
interface CentralRecord {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly flags: number;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  readonly centralOffset: number;
}

/** Find and check the end of central directory record (and its ZIP64 form) near the end of the file. */
async function locateCentralDirectory(file: FileHandle, path: string, fileSize: number): Promise<DirectoryLocation> {
  // The ZIP64 locator sits just before the end record, so read it with the tail.
  const tailLength = Math.min(fileSize, EOCD_BYTES + MAX_COMMENT_BYTES + ZIP64_LOCATOR_BYTES);
  const tailStart = fileSize - tailLength;
  const tail = await readAt(file, path, tailStart, tailLength, "end of the archive");
  const view = viewOf(tail);
  let at = -1;
  for (let i = tail.length - EOCD_BYTES; i >= 0; i--) {
    // A match must also account exactly for the bytes after it (the comment), as zip readers require.
    if (view.getUint32(i, true) === EOCD_SIGNATURE && i + EOCD_BYTES + view.getUint16(i + 20, true) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    throw new FormatError(path, `no zip end of central directory record in the last ${tailLength} bytes: not a zip archive, or truncated`, { byteOffset: tailStart });
  }
  const eocdOffset = tailStart + at;
  const disk = view.getUint16(at + 4, true);
  const directoryDisk = view.getUint16(at + 6, true);
  let countOnDisk = view.getUint16(at + 8, true);
  let count = view.getUint16(at + 10, true);
  let byteLength = view.getUint32(at + 12, true);
  let offset = view.getUint32(at + 16, true);
  let end = eocdOffset;
  if (disk !== 0 || directoryDisk !== 0) throw new UnsupportedError(`${path}: multi-disk (split) zip archives are not supported`);

  if (at >= ZIP64_LOCATOR_BYTES && view.getUint32(at - ZIP64_LOCATOR_BYTES, true) === ZIP64_LOCATOR_SIGNATURE) {
    const locatorOffset = eocdOffset - ZIP64_LOCATOR_BYTES;
    const recordOffset = u64(view, at - ZIP64_LOCATOR_BYTES + 8, path, locatorOffset + 8);
    if (view.getUint32(at - ZIP64_LOCATOR_BYTES + 4, true) !== 0 || view.getUint32(at - ZIP64_LOCATOR_BYTES + 16, true) > 1) {
      throw new UnsupportedError(`${path}: multi-disk (split) zip archives are not supported`);
    }
    if (recordOffset + ZIP64_EOCD_BYTES > locatorOffset) {
      throw new FormatError(path, `ZIP64 end of central directory record at byte ${recordOffset} would overlap its locator at byte ${locatorOffset}`, { byteOffset: locatorOffset + 8 });
    }
    const record = viewOf(await readAt(file, path, recordOffset, ZIP64_EOCD_BYTES, "ZIP64 end of central directory record"));
    if (record.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
      throw new FormatError(path, `no ZIP64 end of central directory record where the locator points`, { byteOffset: recordOffset });
    }
    if (record.getUint32(16, true) !== 0 || record.getUint32(20, true) !== 0) throw new UnsupportedError(`${path}: multi-disk (split) zip archives are not supported`);
    countOnDisk = u64(record, 24, path, recordOffset + 24);
    count = u64(record, 32, path, recordOffset + 32);
    byteLength = u64(record, 40, path, recordOffset + 40);
    offset = u64(record, 48, path, recordOffset + 48);
    end = recordOffset;
  } else if (count === U16_SATURATED || byteLength === U32_SATURATED || offset === U32_SATURATED) {
    throw new FormatError(path, "the end of central directory record defers to a ZIP64 record, but there is no ZIP64 locator", { byteOffset: eocdOffset });
  }

  if (countOnDisk !== count) throw new UnsupportedError(`${path}: multi-disk (split) zip archives are not supported`);
  if (count > MAX_ZIP_ENTRIES) throw new FormatError(path, `the archive declares ${count} entries, over the limit of ${MAX_ZIP_ENTRIES} (MAX_ZIP_ENTRIES)`, { byteOffset: eocdOffset });
  if (byteLength > MAX_CENTRAL_DIRECTORY_BYTES) {
    throw new FormatError(path, `the central directory is ${byteLength} bytes, over the limit of ${MAX_CENTRAL_DIRECTORY_BYTES} (MAX_CENTRAL_DIRECTORY_BYTES)`, { byteOffset: eocdOffset });
  }
  if (offset + byteLength > end) {
    throw new FormatError(path, `the central directory (${byteLength} bytes at byte ${offset}) runs past the end records at byte ${end} of this ${fileSize}-byte file`, { byteOffset: eocdOffset });
  }
  return { offset, byteLength, count };
}

/** Parse `location.count` central directory headers filling exactly `bytes`. */
function parseCentralDirectory(bytes: Uint8Array, location: DirectoryLocation, path: string): CentralRecord[] {
  const view = viewOf(bytes);
  const records: CentralRecord[] = [];
  let pos = 0;
  for (let index = 0; index < location.count; index++) {
    const at = location.offset + pos;
    if (pos + CENTRAL_HEADER_BYTES > bytes.length || view.getUint32(pos, true) !== CENTRAL_SIGNATURE) {
      throw new FormatError(path, `central directory entry ${index} of ${location.count}: no central directory header here`, { byteOffset: at });
    }
    const nameLength = view.getUint16(pos + 28, true);
    const extraLength = view.getUint16(pos + 30, true);
    const commentLength = view.getUint16(pos + 32, true);
    const headerLength = CENTRAL_HEADER_BYTES + nameLength + extraLength + commentLength;
    if (nameLength === 0 || nameLength > MAX_ENTRY_NAME_BYTES) {
      throw new FormatError(path, `central directory entry ${index}: name of ${nameLength} bytes (must be 1 to ${MAX_ENTRY_NAME_BYTES}, MAX_ENTRY_NAME_BYTES)`, { byteOffset: at + 28 });
    }
    if (pos + headerLength > bytes.length) {
      throw new FormatError(path, `central directory entry ${index}: its name and extra fields run past the central directory`, { byteOffset: at });
    }
    const nameBytes = bytes.subarray(pos + CENTRAL_HEADER_BYTES, pos + CENTRAL_HEADER_BYTES + nameLength);
    const name = decodeName(nameBytes, path, at + CENTRAL_HEADER_BYTES);
    const extra = bytes.subarray(pos + CENTRAL_HEADER_BYTES + nameLength, pos + CENTRAL_HEADER_BYTES + nameLength + extraLength);
    const sizes = applyZip64Extra(
      { uncompressedSize: view.getUint32(pos + 24, true), compressedSize: view.getUint32(pos + 20, true), localHeaderOffset: view.getUint32(pos + 42, true), disk: view.getUint16(pos + 34, true) },
      extra, path, at + CENTRAL_HEADER_BYTES + nameLength, `central directory entry "${name}"`,
    );
    if (sizes.disk !== 0) throw new UnsupportedError(`${path}: multi-disk (split) zip archives are not supported`);
    records.push({
      name, nameBytes,
      flags: view.getUint16(pos + 8, true),
      method: view.getUint16(pos + 10, true),
      crc32: view.getUint32(pos + 16, true),
      compressedSize: sizes.compressedSize,
      uncompressedSize: sizes.uncompressedSize,
      localHeaderOffset: sizes.localHeaderOffset,
      centralOffset: at,
    });
    pos += headerLength;
  }
  if (pos !== bytes.length) {
    throw new FormatError(path, `the central directory holds ${bytes.length - pos} bytes after its ${location.count} declared entries`, { byteOffset: location.offset + pos });
  }
  return records;
}

interface ZipSizes { uncompressedSize: number; compressedSize: number; localHeaderOffset: number; disk: number }

/** Replace saturated fields by their ZIP64 extra values; the extra holds only those fields, in this order (APPNOTE 4.5.3). */
function applyZip64Extra(fields: ZipSizes, extra: Uint8Array, path: string, extraOffset: number, what: string): ZipSizes {
  const needs = [fields.uncompressedSize === U32_SATURATED, fields.compressedSize === U32_SATURATED, fields.localHeaderOffset === U32_SATURATED, fields.disk === U16_SATURATED];
  if (!needs.some(Boolean)) return fields;
  const view = viewOf(extra);
  for (let pos = 0; pos + 4 <= extra.length;) {
    const id = view.getUint16(pos, true);
    const size = view.getUint16(pos + 2, true);
    if (pos + 4 + size > extra.length) break;
    if (id === ZIP64_EXTRA_ID) {
      const out = { ...fields };
      let field = pos + 4;
      const take = (bytes: number): number => {
        if (field + bytes > pos + 4 + size) throw new FormatError(path, `${what}: ZIP64 extra field too short for its saturated fields`, { byteOffset: extraOffset + pos });
        const value = bytes === 8 ? u64(view, field, path, extraOffset + field) : view.getUint32(field, true);
        field += bytes;
        return value;
      };
      if (needs[0]) out.uncompressedSize = take(8);
      if (needs[1]) out.compressedSize = take(8);
      if (needs[2]) out.localHeaderOffset = take(8);
      if (needs[3]) out.disk = take(4);
      return out;
    }
    pos += 4 + size;
  }
  throw new FormatError(path, `${what}: sizes or offset are saturated (0xFFFFFFFF) but there is no ZIP64 extra field`, { byteOffset: extraOffset });
}

/** Read an entry's local header, check it against the central record, and compute where its data starts. */
async function locateEntryData(file: FileHandle, path: string, record: CentralRecord, directoryOffset: number): Promise<ZipEntry> {
  const at = record.localHeaderOffset;
  const what = `local header of zip entry "${record.name}"`;
  if (at + LOCAL_HEADER_BYTES > directoryOffset) {
    throw new FormatError(path, `${what}: offset ${at} is not before the central directory at byte ${directoryOffset}`, { byteOffset: record.centralOffset + 42 });
  }
  if (record.flags & FLAG_ENCRYPTED) throw new UnsupportedError(`${path}: zip entry "${record.name}" is encrypted`);
  if (record.method !== ZIP_STORED && record.method !== ZIP_DEFLATED) {
    throw new UnsupportedError(`${path}: zip entry "${record.name}" uses compression method ${record.method}; only stored (0) and deflate (8) are supported`);
  }
  if (record.method === ZIP_STORED && record.compressedSize !== record.uncompressedSize) {
    throw new FormatError(path, `zip entry "${record.name}" is stored but its sizes differ (${record.compressedSize} vs ${record.uncompressedSize})`, { byteOffset: record.centralOffset + 20 });
  }
  const header = viewOf(await readAt(file, path, at, LOCAL_HEADER_BYTES, what));
  if (header.getUint32(0, true) !== LOCAL_SIGNATURE) throw new FormatError(path, `${what}: no local file header signature at byte ${at}`, { byteOffset: at });
  const nameLength = header.getUint16(26, true);
  const extraLength = header.getUint16(28, true);
  const dataOffset = at + LOCAL_HEADER_BYTES + nameLength + extraLength;
  if (dataOffset + record.compressedSize > directoryOffset) {
    throw new FormatError(path, `zip entry "${record.name}": its ${record.compressedSize} bytes at byte ${dataOffset} run past the central directory at byte ${directoryOffset}`, { byteOffset: at });
  }
  const variable = await readAt(file, path, at + LOCAL_HEADER_BYTES, nameLength + extraLength, what);
  const localName = variable.subarray(0, nameLength);
  if (!sameBytes(localName, record.nameBytes)) {
    throw new FormatError(path, `${what} names "${decodeName(localName, path, at + LOCAL_HEADER_BYTES)}" instead`, { byteOffset: at + LOCAL_HEADER_BYTES });
  }
  const method = header.getUint16(8, true);
  if (method !== record.method) throw new FormatError(path, `${what}: compression method ${method}, the central directory says ${record.method}`, { byteOffset: at + 8 });
  if (!(header.getUint16(6, true) & FLAG_DATA_DESCRIPTOR)) {
    // Without a data descriptor the local header must carry the real CRC and sizes.
    const local = applyZip64Extra(
      { uncompressedSize: header.getUint32(22, true), compressedSize: header.getUint32(18, true), localHeaderOffset: 0, disk: 0 },
      variable.subarray(nameLength), path, at + LOCAL_HEADER_BYTES + nameLength, what,
    );
    if (header.getUint32(14, true) !== record.crc32 || local.compressedSize !== record.compressedSize || local.uncompressedSize !== record.uncompressedSize) {
      throw new FormatError(path, `${what}: CRC or sizes (${local.compressedSize}/${local.uncompressedSize}) differ from the central directory (${record.compressedSize}/${record.uncompressedSize})`, { byteOffset: at + 14 });
    }
  }
  return {
    name: record.name, method: record.method, crc32: record.crc32,
    compressedSize: record.compressedSize, uncompressedSize: record.uncompressedSize,
    localHeaderOffset: at, dataOffset,
  };
}

/** `length` bytes of the file from `position`, in a fresh buffer. */
async function readAt(file: FileHandle, path: string, position: number, length: number, what: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  await readRange(file, path, what, bytes.buffer, 0, length, position);
  return bytes;
}

function decodeName(bytes: Uint8Array, path: string, byteOffset: number): string {
  try {
    return UTF8.decode(bytes);
  } catch (cause) {
    throw new FormatError(path, "zip entry name is not valid UTF-8", { byteOffset, cause });
  }
}

/** A u64 field as a number, refused past 2^53 (no real file is that large). */
function u64(view: DataView, pos: number, path: string, byteOffset: number): number {
  const value = view.getBigUint64(pos, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(path, `64-bit zip field ${value} is beyond 2^53`, { byteOffset });
  return Number(value);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}
