// A pickle interpreter that never executes anything: it runs the opcodes torch.save emits
// (protocols 2-5, see ALLOWED below) over a bounded input and builds inert values (pickle-values.ts).
// GLOBAL, REDUCE, NEWOBJ, BUILD and BINPERSID are delegated to hooks, which resolve a whitelist of
// names to descriptors and refuse everything else (torch-pickle.ts). Opcode semantics follow CPython
// Lib/pickle.py (`_Unpickler`) and Lib/pickletools.py; the design (a whitelist of opcodes and
// globals, not a sandbox) follows candle `candle-core/src/pickle.rs`.
//
// Termination and memory: every opcode consumes at least one input byte and the input is capped
// (maxPickleBytes), so the loop ends; the stack, mark depth, memo, strings, containers and the number
// of objects built each have a limit, and each error names the limit it hit.

import { FormatError } from "../../errors.js";
import { HIGHEST_PROTOCOL, OP, isKnownOpcode, opcodeLabel } from "./pickle-opcodes.js";
import { PickleDict, PickleList, PickleTuple, type PickleValue, describeValue } from "./pickle-values.js";

/** Limits on what one pickle may make the interpreter do. */
export interface PickleLimits {
  /** Largest pickle accepted. A Llama 3 70B shard's data.pkl is about 100 KB. */
  readonly maxPickleBytes: number;
  /** Most values on the stack at once. torch's pickler batches SETITEMS by 1000 (2000 values). */
  readonly maxStackDepth: number;
  /** Most MARKs open at once (nesting depth of tuples/lists/dicts under construction). */
  readonly maxMarkDepth: number;
  /** Most memo entries. torch memoizes about 10 values per tensor. */
  readonly maxMemoEntries: number;
  /** Longest str or bytes value in bytes. Names are tens of bytes. */
  readonly maxStringBytes: number;
  /** Most items in one tuple, list or dict. */
  readonly maxContainerLength: number;
  /** Most objects (containers, strings, descriptors...) built in all; bounds memory with the input size. */
  readonly maxObjects: number;
}

/** See {@link PickleLimits} for why each is big enough. */
export const DEFAULT_PICKLE_LIMITS: PickleLimits = {
  maxPickleBytes: 64 * 1024 * 1024,
  maxStackDepth: 1_000_000,
  maxMarkDepth: 1000,
  maxMemoEntries: 1_000_000,
  maxStringBytes: 16 * 1024 * 1024,
  maxContainerLength: 1_000_000,
  maxObjects: 4_000_000,
};

/** Where an opcode is: for errors raised by the interpreter and by hooks. */
export interface PickleSite {
  /** What FormatError.path names (the file, or "file!entry" when the pickle is not stored as-is). */
  readonly source: string;
  /** Offset of the opcode in the pickle (as pickletools.dis prints it). */
  readonly pickleOffset: number;
  /** Offset of the opcode in `source`. */
  readonly byteOffset: number;
  /** The opcode's label, e.g. "REDUCE (0x52)". */
  readonly opcode: string;
}

/** A FormatError located at `site`. */
export function pickleError(site: PickleSite, message: string, cause?: unknown): FormatError {
  const options = cause === undefined ? { byteOffset: site.byteOffset } : { byteOffset: site.byteOffset, cause };
  return new FormatError(site.source, `pickle ${site.opcode} at pickle offset ${site.pickleOffset}: ${message}`, options);
}

/** What the interpreter delegates: each hook returns an inert value or throws. */
export interface PickleHooks {
  /** GLOBAL / STACK_GLOBAL `module.name`. */
  global(module: string, name: string, site: PickleSite): PickleValue;
  /** REDUCE: `callable(*args)`. */
  reduce(callable: PickleValue, args: PickleTuple, site: PickleSite): PickleValue;
  /** NEWOBJ: `cls.__new__(cls, *args)`. */
  newObject(cls: PickleValue, args: PickleTuple, site: PickleSite): PickleValue;
  /** BUILD: `target.__setstate__(state)`; the target stays on the stack. */
  build(target: PickleValue, state: PickleValue, site: PickleSite): void;
  /** BINPERSID: the object a persistent id stands for. */
  persistentLoad(pid: PickleValue, site: PickleSite): PickleValue;
}

/** How to run {@link unpickle}. */
export interface UnpickleOptions {
  /** Named in errors as FormatError.path. */
  readonly source: string;
  /** Offset of the pickle's first byte within `source` (so errors give file offsets). Default 0. */
  readonly baseOffset?: number;
  readonly hooks: PickleHooks;
  /** Overrides of {@link DEFAULT_PICKLE_LIMITS}. */
  readonly limits?: Partial<PickleLimits>;
}

/**
 * Interpret a pickle and return the object its STOP opcode returns.
 * @throws {FormatError} For malformed input, opcodes outside the whitelist, a hit limit, or a hook's refusal.
 * @example const value = unpickle(bytes, { source: "data.pkl", hooks: createTorchHooks(...) });
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PickleValue {
  const limits = { ...DEFAULT_PICKLE_LIMITS, ...options.limits };
  if (bytes.length > limits.maxPickleBytes) {
    throw new FormatError(options.source, `pickle of ${bytes.length} bytes is over the limit of ${limits.maxPickleBytes} (maxPickleBytes)`, { byteOffset: options.baseOffset ?? 0 });
  }
  return new Unpickler(bytes, options, limits).run();
}

/** What `text` needs of a TextDecoder (whose type is not global under @types/node). */
interface Decoder { decode(bytes: Uint8Array): string }
const UTF8: Decoder = new TextDecoder("utf-8", { fatal: true });
const LATIN1: Decoder = new TextDecoder("latin1");
/** GLOBAL's module and name are newline-terminated lines; Python identifiers are short. */
const MAX_GLOBAL_LINE_BYTES = 1024;

class Unpickler {
  private readonly view: DataView;
  private pos = 0;
  private readonly stack: PickleValue[] = [];
  /** Stack lengths at each open MARK (CPython keeps whole stacks in a metastack; indices are equivalent). */
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private objects = 0;
  /** Offset and byte of the opcode being run (its site is only built when an error or a hook needs it). */
  private opStart = 0;
  private opCode = 0;

  constructor(private readonly bytes: Uint8Array, private readonly options: UnpickleOptions, private readonly limits: PickleLimits) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): PickleValue {
    const hooks = this.options.hooks;
    while (this.pos < this.bytes.length) {
      const code = this.bytes[this.pos]!;
      this.opStart = this.pos;
      this.opCode = code;
      this.pos++;
      switch (code) {
        case OP.PROTO: {
          const version = this.u8();
          if (version > HIGHEST_PROTOCOL) throw this.fail(`protocol ${version} is newer than the highest known (${HIGHEST_PROTOCOL})`);
          break;
        }
        case OP.FRAME: {
          // A frame only announces how many of the following bytes belong together; they are still opcodes.
          const length = this.u64();
          if (length > this.bytes.length - this.pos) throw this.fail(`frame of ${length} bytes runs past the end of the pickle (truncated?)`);
          break;
        }
        case OP.STOP: return this.stop();
        case OP.MARK:
          if (this.marks.length >= this.limits.maxMarkDepth) throw this.fail(`more than ${this.limits.maxMarkDepth} nested MARKs (maxMarkDepth)`);
          this.marks.push(this.stack.length);
          break;
        case OP.POP: if (this.stack.length > this.markBase()) this.stack.pop(); else this.popMark(); break;
        case OP.POP_MARK: this.popMark(); break;
        case OP.DUP: this.push(this.top()); break;
        case OP.NONE: this.push(null); break;
        case OP.NEWTRUE: this.push(true); break;
        case OP.NEWFALSE: this.push(false); break;
        case OP.BININT: this.push(this.view.getInt32(this.take(4), true)); break;
        case OP.BININT1: this.push(this.u8()); break;
        case OP.BININT2: this.push(this.view.getUint16(this.take(2), true)); break;
        case OP.LONG1: this.push(this.long(this.u8())); break;
        case OP.BINFLOAT: this.push(this.view.getFloat64(this.take(8), false)); break;
        case OP.SHORT_BINUNICODE: this.push(this.text(this.u8(), UTF8)); break;
        case OP.BINUNICODE: this.push(this.text(this.u32(), UTF8)); break;
        case OP.BINUNICODE8: this.push(this.text(this.u64(), UTF8)); break;
        // Python 2 str: bytes of unknown encoding; latin1 maps each byte to one code point.
        case OP.SHORT_BINSTRING: this.push(this.text(this.u8(), LATIN1)); break;
        case OP.BINSTRING: this.push(this.text(this.view.getInt32(this.take(4), true), LATIN1)); break;
        case OP.SHORT_BINBYTES: this.push(this.blob(this.u8())); break;
        case OP.BINBYTES: this.push(this.blob(this.u32())); break;
        case OP.BINBYTES8: this.push(this.blob(this.u64())); break;
        case OP.EMPTY_TUPLE: this.push(this.made(new PickleTuple([]))); break;
        case OP.TUPLE1: case OP.TUPLE2: case OP.TUPLE3: {
          const n = code - OP.TUPLE1 + 1;
          const items: PickleValue[] = [];
          for (let i = 0; i < n; i++) items.unshift(this.pop());
          this.push(this.made(new PickleTuple(items)));
          break;
        }
        case OP.TUPLE: this.push(this.made(new PickleTuple(this.sized(this.popMark())))); break;
        case OP.EMPTY_LIST: this.push(this.made(new PickleList())); break;
        case OP.LIST: { const list = new PickleList(); this.appendTo(list, this.popMark()); this.push(this.made(list)); break; }
        case OP.APPEND: { const item = this.pop(); this.appendTo(this.top(), [item]); break; }
        case OP.APPENDS: { const items = this.popMark(); this.appendTo(this.top(), items); break; }
        case OP.EMPTY_DICT: this.push(this.made(new PickleDict())); break;
        case OP.DICT: { const dict = new PickleDict(); this.setItems(dict, this.popMark()); this.push(this.made(dict)); break; }
        case OP.SETITEM: { const value = this.pop(); const key = this.pop(); this.setItems(this.top(), [key, value]); break; }
        case OP.SETITEMS: { const items = this.popMark(); this.setItems(this.top(), items); break; }
        case OP.BINPUT: this.put(this.u8()); break;
        case OP.LONG_BINPUT: this.put(this.u32()); break;
        case OP.MEMOIZE: this.put(this.memo.size); break;
        case OP.BINGET: this.push(this.get(this.u8())); break;
        case OP.LONG_BINGET: this.push(this.get(this.u32())); break;
        case OP.GLOBAL: { const module = this.line(); const name = this.line(); this.push(this.made(hooks.global(module, name, this.site))); break; }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== "string" || typeof name !== "string") throw this.fail(`expects two str, got ${describeValue(module)} and ${describeValue(name)}`);
          this.push(this.made(hooks.global(module, name, this.site)));
          break;
        }
        case OP.REDUCE: { const args = this.popTuple("arguments"); const callable = this.pop(); this.push(this.made(hooks.reduce(callable, args, this.site))); break; }
        case OP.NEWOBJ: { const args = this.popTuple("arguments"); const cls = this.pop(); this.push(this.made(hooks.newObject(cls, args, this.site))); break; }
        case OP.BUILD: { const state = this.pop(); hooks.build(this.top(), state, this.site); break; }
        case OP.BINPERSID: { const pid = this.pop(); this.push(this.made(hooks.persistentLoad(pid, this.site))); break; }
        default:
          throw this.fail(isKnownOpcode(code) ? "opcode not allowed: torch.save does not emit it" : "not a pickle opcode");
      }
    }
    throw this.fail(`the pickle ends after ${this.bytes.length} bytes without a STOP opcode (truncated?)`);
  }

  private stop(): PickleValue {
    const value = this.pop();
    if (this.marks.length > 0 || this.stack.length > 0) throw this.fail(`STOP leaves ${this.marks.length} open MARKs and ${this.stack.length} values on the stack`);
    if (this.pos !== this.bytes.length) throw this.fail(`${this.bytes.length - this.pos} bytes follow STOP`);
    return value;
  }

  private get site(): PickleSite {
    return { source: this.options.source, pickleOffset: this.opStart, byteOffset: (this.options.baseOffset ?? 0) + this.opStart, opcode: opcodeLabel(this.opCode) };
  }

  private fail(message: string): FormatError {
    return pickleError(this.site, message);
  }

  // --- input -----------------------------------------------------------------------------------

  /** Consume `n` bytes and return where they start; refuses to run past the end. */
  private take(n: number): number {
    if (n > this.bytes.length - this.pos) throw this.fail(`needs ${n} more bytes but only ${this.bytes.length - this.pos} remain (truncated?)`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number { return this.bytes[this.take(1)]!; }
  private u32(): number { return this.view.getUint32(this.take(4), true); }
  private u64(): number {
    const value = this.view.getBigUint64(this.take(8), true);
    // Anything past 2^53 is past the end of any input we accept; say so with the real number.
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`declares a length of ${value} bytes, past the end of the pickle`);
    return Number(value);
  }

  /** Check a declared str/bytes length against the input and the limit; returns where the bytes start. */
  private stringStart(length: number): number {
    if (length < 0) throw this.fail(`negative length ${length}`);
    if (length > this.bytes.length - this.pos) throw this.fail(`declares a ${length}-byte string but only ${this.bytes.length - this.pos} bytes remain (truncated?)`);
    if (length > this.limits.maxStringBytes) throw this.fail(`${length}-byte string is over the limit of ${this.limits.maxStringBytes} (maxStringBytes)`);
    return this.take(length);
  }

  private text(length: number, decoder: Decoder): string {
    const at = this.stringStart(length);
    try {
      return this.made(decoder.decode(this.bytes.subarray(at, at + length)));
    } catch (cause) {
      throw pickleError(this.site, "string is not valid UTF-8", cause);
    }
  }

  private blob(length: number): Uint8Array {
    const at = this.stringStart(length);
    return this.made(this.bytes.slice(at, at + length));
  }

  /** A newline-terminated ASCII/UTF-8 line (GLOBAL's operands). */
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > MAX_GLOBAL_LINE_BYTES) throw this.fail(`expects a newline-terminated name of at most ${MAX_GLOBAL_LINE_BYTES} bytes`);
    const at = this.take(end - this.pos + 1);
    try {
      return UTF8.decode(this.bytes.subarray(at, end));
    } catch (cause) {
      throw pickleError(this.site, "global name is not valid UTF-8", cause);
    }
  }

  /** LONG1's little-endian two's complement integer of `n` bytes. */
  private long(n: number): number | bigint {
    const at = this.take(n);
    if (n === 0) return 0;
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[at + i]!);
    if (this.bytes[at + n - 1]! & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : this.made(value);
  }

  // --- stack, marks, memo ----------------------------------------------------------------------

  private markBase(): number { return this.marks.at(-1) ?? 0; }

  private push(value: PickleValue): void {
    if (this.stack.length >= this.limits.maxStackDepth) throw this.fail(`more than ${this.limits.maxStackDepth} values on the stack (maxStackDepth)`);
    this.stack.push(value);
  }

  /** Pop above the innermost MARK; an empty frame is a stack underflow, as in CPython. */
  private pop(): PickleValue {
    if (this.stack.length <= this.markBase()) throw this.fail("stack underflow");
    return this.stack.pop()!;
  }

  private top(): PickleValue {
    if (this.stack.length <= this.markBase()) throw this.fail("stack underflow");
    return this.stack[this.stack.length - 1]!;
  }

  /** Close the innermost MARK and return the values pushed since. */
  private popMark(): PickleValue[] {
    const base = this.marks.pop();
    if (base === undefined) throw this.fail("no MARK to close (stack underflow)");
    return this.stack.splice(base);
  }

  private popTuple(what: string): PickleTuple {
    const value = this.pop();
    if (!(value instanceof PickleTuple)) throw this.fail(`expects a tuple of ${what}, got ${describeValue(value)}`);
    return value;
  }

  private put(index: number): void {
    if (!this.memo.has(index) && this.memo.size >= this.limits.maxMemoEntries) throw this.fail(`more than ${this.limits.maxMemoEntries} memo entries (maxMemoEntries)`);
    this.memo.set(index, this.top());
  }

  private get(index: number): PickleValue {
    if (!this.memo.has(index)) throw this.fail(`memo index ${index} is not defined`);
    return this.memo.get(index) as PickleValue;
  }

  // --- containers ------------------------------------------------------------------------------

  private sized<T>(items: T[]): T[] {
    if (items.length > this.limits.maxContainerLength) throw this.fail(`${items.length} items in one container, over the limit of ${this.limits.maxContainerLength} (maxContainerLength)`);
    return items;
  }

  private appendTo(target: PickleValue, items: readonly PickleValue[]): void {
    if (!(target instanceof PickleList)) throw this.fail(`can only append to a list, not to ${describeValue(target)}`);
    if (target.items.length + items.length > this.limits.maxContainerLength) {
      throw this.fail(`list would hold ${target.items.length + items.length} items, over the limit of ${this.limits.maxContainerLength} (maxContainerLength)`);
    }
    // A loop, not push(...items): spreading a million arguments overflows the call stack.
    for (const item of items) target.items.push(item);
  }

  private setItems(target: PickleValue, items: readonly PickleValue[]): void {
    if (!(target instanceof PickleDict)) throw this.fail(`can only set items of a dict, not of ${describeValue(target)}`);
    if (items.length % 2 !== 0) throw this.fail(`expects key/value pairs, got ${items.length} values`);
    for (let i = 0; i < items.length; i += 2) {
      target.entries.set(items[i]!, items[i + 1]!);
      if (target.entries.size > this.limits.maxContainerLength) throw this.fail(`dict would hold more than ${this.limits.maxContainerLength} items (maxContainerLength)`);
    }
  }

  /** Count a newly built object against maxObjects (primitives other than bigint are free: no allocation). */
  private made<T extends PickleValue>(value: T): T {
    if (++this.objects > this.limits.maxObjects) throw this.fail(`more than ${this.limits.maxObjects} objects built (maxObjects)`);
    return value;
  }
}
