// An in-memory zip writer that lays files out the way PyTorch's writer does
// (caffe2/serialize/inline_container.cc, `getPadding`): each entry's data aligned to 64 bytes by an
// "FB" padding extra field in the local header, and ZIP64 end records. It can also force ZIP64 extra
// fields into every header so that the reader's ZIP64 paths are exercised without writing 4 GB.
// For tests and small files; a large checkpoint writer would stream instead. Format: PKWARE
// APPNOTE.TXT 6.3.10 (see zip.ts for the sections).

import { deflateRawSync } from "#platform";
import { crc32 } from "./crc32.js";

/** Alignment of entry data that torch.save uses (kFieldAlignment in inline_container.cc). */
export const TORCH_ZIP_ALIGNMENT = 64;
/** Id of PyTorch's padding extra field: the bytes "FB". */
const PADDING_EXTRA_ID = 0x4246;
const ZIP64_EXTRA_ID = 0x0001;
const U32_SATURATED = 0xffffffff;
const U16_SATURATED = 0xffff;
/** "Version needed to extract" 4.5, the ZIP64 level (APPNOTE 4.4.3.2). */
const VERSION_ZIP64 = 45;
/** General purpose flag bit 11: names are UTF-8. */
const FLAG_UTF8 = 0x0800;

/** One file to write. */
export interface ZipWriterEntry {
  readonly name: string;
  readonly data: Uint8Array;
  /** Deflate the data (torch never does; tests use it for compressed-entry handling). */
  readonly deflate?: boolean;
}

/** Layout choices. */
export interface ZipWriterOptions {
  /** Align entry data to this many bytes (default {@link TORCH_ZIP_ALIGNMENT}; 1 for none). */
  readonly alignment?: number;
  /** Write ZIP64 end records, as torch does (default true). */
  readonly zip64EndRecords?: boolean;
  /** Put sizes and offsets in ZIP64 extra fields of every header, saturating the 32-bit fields (default false). */
  readonly zip64Extras?: boolean;
}

/**
 * Write `entries` as a zip archive.
 * @returns The archive bytes.
 * @example writeZip([{ name: "archive/version", data: new TextEncoder().encode("3\n") }])
 */
export function writeZip(entries: readonly ZipWriterEntry[], options: ZipWriterOptions = {}): Uint8Array {
  const alignment = options.alignment ?? TORCH_ZIP_ALIGNMENT;
  const zip64Extras = options.zip64Extras ?? false;
  const chunks: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  const push = (bytes: Uint8Array): void => { chunks.push(bytes); offset += bytes.length; };

  for (const entry of entries) {
    const name = new TextEncoder().encode(entry.name);
    const stored = entry.deflate === true ? new Uint8Array(deflateRawSync(entry.data)) : entry.data;
    const method = entry.deflate === true ? 8 : 0;
    const crc = crc32(entry.data);
    const localOffset = offset;
    const localZip64 = zip64Extras ? extraField(ZIP64_EXTRA_ID, u64s([entry.data.length, stored.length])) : new Uint8Array(0);
    const unpadded = localOffset + 30 + name.length + localZip64.length + 4;
    const padding = (alignment - (unpadded % alignment)) % alignment;
    const localExtra = concat([localZip64, extraField(PADDING_EXTRA_ID, new Uint8Array(padding).fill(0x5a))]);

    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, VERSION_ZIP64, true);
    local.setUint16(6, FLAG_UTF8, true);
    local.setUint16(8, method, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, zip64Extras ? U32_SATURATED : stored.length, true);
    local.setUint32(22, zip64Extras ? U32_SATURATED : entry.data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, localExtra.length, true);
    push(new Uint8Array(local.buffer));
    push(name);
    push(localExtra);
    push(stored);

    const centralExtra = zip64Extras ? extraField(ZIP64_EXTRA_ID, u64s([entry.data.length, stored.length, localOffset])) : new Uint8Array(0);
    const central = new DataView(new ArrayBuffer(46));
    central.setUint32(0, 0x02014b50, true);
    central.setUint16(4, VERSION_ZIP64, true);
    central.setUint16(6, VERSION_ZIP64, true);
    central.setUint16(8, FLAG_UTF8, true);
    central.setUint16(10, method, true);
    central.setUint32(16, crc, true);
    central.setUint32(20, zip64Extras ? U32_SATURATED : stored.length, true);
    central.setUint32(24, zip64Extras ? U32_SATURATED : entry.data.length, true);
    central.setUint16(28, name.length, true);
    central.setUint16(30, centralExtra.length, true);
    central.setUint32(42, zip64Extras ? U32_SATURATED : localOffset, true);
    centrals.push(concat([new Uint8Array(central.buffer), name, centralExtra]));
  }

  const directoryOffset = offset;
  for (const central of centrals) push(central);
  const directoryLength = offset - directoryOffset;
  // Saturated end-record fields need the ZIP64 record to hold the real values.
  const zip64 = zip64Extras || (options.zip64EndRecords ?? true);
  if (zip64) {
    const recordOffset = offset;
    const record = new DataView(new ArrayBuffer(56));
    record.setUint32(0, 0x06064b50, true);
    record.setBigUint64(4, 44n, true); // size of the record after this field
    record.setUint16(12, VERSION_ZIP64, true);
    record.setUint16(14, VERSION_ZIP64, true);
    record.setBigUint64(24, BigInt(entries.length), true);
    record.setBigUint64(32, BigInt(entries.length), true);
    record.setBigUint64(40, BigInt(directoryLength), true);
    record.setBigUint64(48, BigInt(directoryOffset), true);
    push(new Uint8Array(record.buffer));
    const locator = new DataView(new ArrayBuffer(20));
    locator.setUint32(0, 0x07064b50, true);
    locator.setBigUint64(8, BigInt(recordOffset), true);
    locator.setUint32(16, 1, true);
    push(new Uint8Array(locator.buffer));
  }
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, zip64Extras ? U16_SATURATED : entries.length, true);
  end.setUint16(10, zip64Extras ? U16_SATURATED : entries.length, true);
  end.setUint32(12, zip64Extras ? U32_SATURATED : directoryLength, true);
  end.setUint32(16, zip64Extras ? U32_SATURATED : directoryOffset, true);
  push(new Uint8Array(end.buffer));
  return concat(chunks);
}

function extraField(id: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, id, true);
  view.setUint16(2, body.length, true);
  out.set(body, 4);
  return out;
}

function u64s(values: readonly number[]): Uint8Array {
  const view = new DataView(new ArrayBuffer(8 * values.length));
  values.forEach((v, i) => view.setBigUint64(8 * i, BigInt(v), true));
  return new Uint8Array(view.buffer);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}
