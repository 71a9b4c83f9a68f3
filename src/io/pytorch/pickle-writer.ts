// Emits pickle opcodes one at a time: enough of protocol 2 to write what torch.save writes, plus
// raw bytes so that tests can build malformed and hostile pickles opcode by opcode. Opcode meanings:
// CPython Lib/pickletools.py. Integers and strings are encoded the way CPython's pickler picks
// (BININT1/BININT2/BININT/LONG1; BINUNICODE).

import { ArgumentError } from "../../errors.js";
import { OP } from "./pickle-opcodes.js";

/**
 * An opcode-level pickle builder.
 * @example new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().op(OP.REDUCE).stop().bytes()
 */
export class PickleWriter {
  private readonly chunks: Uint8Array[] = [];

  /** Append raw bytes (for malformed input). */
  raw(bytes: Uint8Array | readonly number[]): this {
    this.chunks.push(Uint8Array.from(bytes));
    return this;
  }

  /** Append an opcode without operands (MARK, TUPLE, REDUCE, SETITEMS, BINPERSID, ...). */
  op(code: number): this {
    return this.raw([code]);
  }

  proto(version: number): this { return this.raw([OP.PROTO, version]); }
  stop(): this { return this.op(OP.STOP); }
  mark(): this { return this.op(OP.MARK); }
  none(): this { return this.op(OP.NONE); }
  bool(value: boolean): this { return this.op(value ? OP.NEWTRUE : OP.NEWFALSE); }
  emptyDict(): this { return this.op(OP.EMPTY_DICT); }
  emptyTuple(): this { return this.op(OP.EMPTY_TUPLE); }

  /** A tuple of the `n` values on top of the stack (TUPLE1-3), or since the last MARK (TUPLE). */
  tuple(n?: 1 | 2 | 3): this {
    return this.op(n === undefined ? OP.TUPLE : OP.TUPLE1 + n - 1);
  }

  /** An int, in the shortest encoding CPython would use. */
  int(value: number): this {
    if (!Number.isSafeInteger(value)) throw new ArgumentError(`PickleWriter.int: ${value} is not a safe integer`);
    if (value >= 0 && value <= 0xff) return this.raw([OP.BININT1, value]);
    if (value >= 0 && value <= 0xffff) return this.raw([OP.BININT2, value & 0xff, value >> 8]);
    if (value >= -(2 ** 31) && value < 2 ** 31) {
      const body = new DataView(new ArrayBuffer(4));
      body.setInt32(0, value, true);
      return this.raw([OP.BININT, ...new Uint8Array(body.buffer)]);
    }
    const bytes: number[] = [];
    let rest = BigInt(value);
    // Two's complement, little-endian, as few bytes as keep the sign.
    do {
      bytes.push(Number(rest & 0xffn));
      rest >>= 8n;
    } while (!((rest === 0n && (bytes.at(-1)! & 0x80) === 0) || (rest === -1n && (bytes.at(-1)! & 0x80) !== 0)));
    return this.raw([OP.LONG1, bytes.length, ...bytes]);
  }

  /** A str as BINUNICODE (u32 length, UTF-8). */
  str(value: string): this {
    const utf8 = new TextEncoder().encode(value);
    const header = new DataView(new ArrayBuffer(5));
    header.setUint8(0, OP.BINUNICODE);
    header.setUint32(1, utf8.length, true);
    return this.raw(new Uint8Array(header.buffer)).raw(utf8);
  }

  /** GLOBAL `module name` (two newline-terminated lines). */
  global(module: string, name: string): this {
    return this.raw([OP.GLOBAL]).raw(new TextEncoder().encode(`${module}\n${name}\n`));
  }

  /** Store the top of the stack in memo slot `index` (BINPUT or LONG_BINPUT). */
  put(index: number): this {
    return index <= 0xff ? this.raw([OP.BINPUT, index]) : this.raw([OP.LONG_BINPUT, ...u32(index)]);
  }

  /** Push memo slot `index` (BINGET or LONG_BINGET). */
  get(index: number): this {
    return index <= 0xff ? this.raw([OP.BINGET, index]) : this.raw([OP.LONG_BINGET, ...u32(index)]);
  }

  /** The pickle so far. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of this.chunks) { out.set(chunk, at); at += chunk.length; }
    return out;
  }
}

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}
