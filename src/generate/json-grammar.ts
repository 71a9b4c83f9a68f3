// A pushdown matcher of JSON documents over bytes, for the value nodes of json-schema.ts. A state is
// a set of immutable stacks (several while anyOf alternatives or object keys share a prefix); a byte
// maps each stack to its successors. No leading or trailing whitespace; at most MAX_WHITESPACE bytes
// of whitespace between tokens, and numbers of bounded length, so a sampler cannot spin forever on
// filler. Strings must be valid UTF-8 with JSON escapes (no lone surrogates). After llama.cpp's
// grammar stacks (src/llama-grammar.cpp), specialised to JSON.

import type { Grammar } from "./constraint.js";
import type { NumberBounds, SchemaNode } from "./json-schema.js";
import type { RegexState } from "./regex-grammar.js";

/** Most consecutive whitespace bytes between two JSON tokens (llama.cpp's JSON grammars allow 20). */
export const MAX_WHITESPACE = 20;
/** Most digits of a number's integer part, fraction and exponent (beyond float64 precision). */
export const MAX_INT_DIGITS = 16;
export const MAX_FRAC_DIGITS = 16;
export const MAX_EXP_DIGITS = 3;

type Frame =
  | { readonly t: "doc"; readonly done: boolean }
  | { readonly t: "lit"; readonly bytes: Uint8Array; readonly src: string; readonly i: number }
  | { readonly t: "str"; readonly node: SchemaNode & { kind: "string" }; readonly n: number; readonly esc: number; readonly hex: number; readonly pend: number; readonly lo: number; readonly hi: number; readonly rx?: RegexState; readonly cp?: number }
  | { readonly t: "num"; readonly integer: boolean; readonly phase: number; readonly d: number; readonly b: BoundedNumber | undefined }
  | { readonly t: "obj"; readonly node: SchemaNode & { kind: "object" }; readonly phase: number; readonly i: number; readonly first: boolean; readonly w: number; readonly v: number }
  | { readonly t: "arr"; readonly node: SchemaNode & { kind: "array" }; readonly phase: number; readonly count: number; readonly w: number };

/** A bounded number's digits so far (unbounded numbers need only the counts). */
interface BoundedNumber {
  readonly bounds: NumberBounds;
  readonly id: number;
  readonly neg: boolean;
  /** Integer digits and fraction digits read. */
  readonly ip: string;
  readonly fp: string;
}

interface Stack {
  readonly f: Frame;
  readonly up: Stack | undefined;
  key?: string;
}

// Object phases: after "{", after a value, after ",", after a key.
const O_START = 0, O_NEXT = 1, O_KEY = 2, O_COLON = 3;
// Array phases: after "[", after a value, after ",".
const A_START = 0, A_NEXT = 1, A_ITEM = 2;
// Number phases (accepting: ZERO, INT, FRAC, EXP).
const N_SIGN = 0, N_ZERO = 1, N_INT = 2, N_DOT = 3, N_FRAC = 4, N_E = 5, N_ESIGN = 6, N_EXP = 7;

const isWs = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
const isHex = (b: number): boolean => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;

const push = (f: Frame, up: Stack | undefined): Stack => ({ f, up });

function frameKey(f: Frame): string {
  switch (f.t) {
    case "doc": return f.done ? "D" : "d";
    case "lit": return `l${f.src}.${f.i}`;
    case "str": return `s${f.node.id}.${f.n}.${f.esc}.${f.hex}.${f.pend}.${f.lo}.${f.hi}${f.rx === undefined ? "" : `.${f.cp}/${f.node.pattern!.key(f.rx)}`}`;
    case "num": return f.b === undefined ? `n${f.integer ? 1 : 0}.${f.phase}.${f.d}` : `b${f.b.id}.${f.phase}.${f.b.neg ? "-" : ""}${f.b.ip}.${f.b.fp}`;
    case "obj": return `o${f.node.id}.${f.phase}.${f.i}.${f.first ? 1 : 0}.${f.w}.${f.v}`;
    case "arr": return `a${f.node.id}.${f.phase}.${Math.min(f.count, Math.max(f.node.minItems, Number.isFinite(f.node.maxItems) ? f.node.maxItems : 0))}.${f.w}`;
  }
}

function stackKey(s: Stack): string {
  if (s.key === undefined) s.key = s.up === undefined ? frameKey(s.f) : `${frameKey(s.f)}|${stackKey(s.up)}`;
  return s.key;
}

/** The stacks after the first byte of a value of `node`, pushed above `up` (whose phase already says what follows). */
function startValue(node: SchemaNode, byte: number, up: Stack | undefined, out: Stack[]): void {
  switch (node.kind) {
    case "anyOf":
      for (const option of node.options) startValue(option, byte, up, out);
      return;
    case "literal":
      if (node.bytes[0] !== byte) return;
      if (node.bytes.length === 1) {
        if (up !== undefined) out.push(up);
      } else out.push(push({ t: "lit", bytes: node.bytes, src: String(node.id), i: 1 }, up));
      return;
    case "string":
      if (byte === QUOTE) out.push(push({ t: "str", node, n: 0, esc: 0, hex: 0, pend: 0, lo: 0, hi: 0, ...(node.pattern && { rx: node.pattern.initial(), cp: 0 }) }, up));
      return;
    case "number": {
      const b = node.bounds === undefined ? undefined : { bounds: node.bounds, id: node.id, neg: false, ip: "", fp: "" };
      const f: Frame = { t: "num", integer: node.integer, phase: N_SIGN, d: 0, b };
      if (byte === 0x2d) {
        if (b === undefined || numberViable({ ...b, neg: true }, N_SIGN)) out.push(push({ ...f, b: b && { ...b, neg: true } }, up));
      } else if (isDigit(byte)) stepNumber(f, up, byte, out);
      return;
    }
    case "object":
      if (byte === 0x7b) out.push(push({ t: "obj", node, phase: O_START, i: 0, first: true, w: 0, v: -1 }, up));
      return;
    case "array":
      if (byte === 0x5b) out.push(push({ t: "arr", node, phase: A_START, count: 0, w: 0 }, up));
      return;
  }
}

/** Whether properties [from, end) of an object may all be left out. */
function restOptional(node: SchemaNode & { kind: "object" }, from: number): boolean {
  for (let j = from; j < node.properties.length; j++) if (node.properties[j]!.required) return false;
  return true;
}

function stepObject(f: Frame & { t: "obj" }, up: Stack | undefined, byte: number, out: Stack[]): void {
  const node = f.node;
  const waiting = f.phase === O_START || f.phase === O_NEXT || f.phase === O_KEY || f.phase === O_COLON;
  if (waiting && isWs(byte)) {
    if (f.w < MAX_WHITESPACE) out.push(push({ ...f, w: f.w + 1 }, up));
    return;
  }
  const free = node.freeValue !== undefined;
  if (byte === 0x7d && (f.phase === O_START || f.phase === O_NEXT) && (free || restOptional(node, f.i))) {
    if (up !== undefined) out.push(up);
    return;
  }
  if (f.phase === O_NEXT && byte === COMMA) {
    if (free || f.i < node.properties.length) out.push(push({ ...f, phase: O_KEY, w: 0 }, up));
    return;
  }
  if ((f.phase === O_START || f.phase === O_KEY) && byte === QUOTE) {
    if (free) {
      const after = push({ ...f, phase: O_COLON, first: false, w: 0 }, up);
      out.push(push({ t: "str", node: { kind: "string", id: -1, minLength: 0, maxLength: Infinity }, n: 0, esc: 0, hex: 0, pend: 0, lo: 0, hi: 0 }, after));
      return;
    }
    for (let j = f.i; j < node.properties.length; j++) {
      const after = push({ ...f, phase: O_COLON, i: j + 1, first: false, w: 0 }, up);
      out.push(push({ t: "lit", bytes: node.properties[j]!.keyBytes, src: `${node.id}k${j}`, i: 1 }, after));
      if (node.properties[j]!.required) break;
    }
    return;
  }
  if (f.phase === O_COLON && byte === COLON) {
    // The value's first byte (after optional whitespace, counted in v) starts it.
    out.push(push({ ...f, phase: O_NEXT, w: 0, v: 0 }, up));
  }
}

function stepArray(f: Frame & { t: "arr" }, up: Stack | undefined, byte: number, out: Stack[]): void {
  const node = f.node;
  if (isWs(byte)) {
    if (f.w < MAX_WHITESPACE) out.push(push({ ...f, w: f.w + 1 }, up));
    return;
  }
  if (byte === 0x5d && (f.phase === A_START || f.phase === A_NEXT) && f.count >= node.minItems) {
    if (up !== undefined) out.push(up);
    return;
  }
  if (f.phase === A_NEXT) {
    if (byte === COMMA && f.count < node.maxItems) out.push(push({ ...f, phase: A_ITEM, w: 0 }, up));
    return;
  }
  if (f.count < node.maxItems) startValue(node.items, byte, push({ ...f, phase: A_NEXT, count: f.count + 1, w: 0 }, up), out);
}

const SIMPLE_ESCAPES: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };
const hexValue = (b: number): number => (b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x57);

/**
 * A string with a pattern: the JSON string steps as without one (stepStringBytes), and the decoded
 * text steps the pattern's regex, escapes included (a \uXXXX narrows the code point digit by digit).
 * A frame lives only while the regex can still be finished within the string's length bounds.
 */
function stepString(f: Frame & { t: "str" }, up: Stack | undefined, byte: number, out: Stack[]): void {
  const pattern = f.node.pattern;
  if (pattern === undefined || f.rx === undefined) return stepStringBytes(f, up, byte, out);
  const rx = f.rx;
  const raw: Stack[] = [];
  stepStringBytes(f, up, byte, raw);
  for (const s of raw) {
    if (s === up) {
      if (pattern.accepts(rx)) out.push(s);
      continue;
    }
    const nf = s.f as Frame & { t: "str" };
    const least = Math.max(0, f.node.minLength - nf.n);
    const most = f.node.maxLength - nf.n;
    let next: RegexState | undefined = rx;
    let cp = 0;
    let ok: boolean;
    if (f.esc === 1 && byte === 0x75) ok = pattern.canFinishThrough(rx, 0, 0xffff, least, most);
    else if (f.esc === 1) ok = (next = pattern.stepCodePoint(rx, SIMPLE_ESCAPES[byte]!)) !== undefined && pattern.canFinish(next, least, most);
    else if (f.esc >= 2) {
      cp = (f.cp ?? 0) * 16 + hexValue(byte);
      const left = 3 - (f.esc - 2);
      if (left === 0) ok = (next = pattern.stepCodePoint(rx, cp)) !== undefined && pattern.canFinish(next, least, most);
      else ok = pattern.canFinishThrough(rx, cp * 16 ** left, (cp + 1) * 16 ** left - 1, least, most);
      if (left === 0) cp = 0;
    } else if (f.pend === 0 && byte === BACKSLASH) ok = pattern.canFinishThrough(rx, 0, 0xffff, least, most);
    else ok = (next = pattern.step(rx, byte)) !== undefined && pattern.canFinish(next, least, most);
    if (ok) out.push(push({ ...nf, rx: next!, cp }, s.up));
  }
}

function stepStringBytes(f: Frame & { t: "str" }, up: Stack | undefined, byte: number, out: Stack[]): void {
  const { minLength, maxLength } = f.node;
  const cap = Number.isFinite(maxLength) ? maxLength : minLength;
  const counted = (n: number): number => Math.min(n + 1, cap);
  if (f.pend > 0) {
    if (byte < f.lo || byte > f.hi) return;
    out.push(push({ ...f, pend: f.pend - 1, lo: 0x80, hi: 0xbf }, up));
    return;
  }
  if (f.esc === 1) {
    if (byte === 0x75) out.push(push({ ...f, esc: 2, hex: 0 }, up));
    else if ("\"\\/bfnrt".includes(String.fromCharCode(byte))) out.push(push({ ...f, esc: 0 }, up));
    return;
  }
  if (f.esc >= 2) {
    if (!isHex(byte)) return;
    const k = f.esc - 2;
    // No lone surrogates: a \uD8xx..\uDFxx escape is refused at its second digit.
    if (k === 1 && (f.hex === 0x64 || f.hex === 0x44) && !(byte >= 0x30 && byte <= 0x37)) return;
    out.push(push({ ...f, esc: k === 3 ? 0 : f.esc + 1, hex: k === 0 ? byte : f.hex }, up));
    return;
  }
  if (byte === QUOTE) {
    if (f.n >= minLength && up !== undefined) out.push(up);
    return;
  }
  if (f.n >= maxLength || byte < 0x20) return;
  if (byte === BACKSLASH) out.push(push({ ...f, esc: 1, n: counted(f.n) }, up));
  else if (byte < 0x80) out.push(push({ ...f, n: counted(f.n) }, up));
  else if (byte >= 0xc2 && byte <= 0xdf) out.push(push({ ...f, n: counted(f.n), pend: 1, lo: 0x80, hi: 0xbf }, up));
  else if (byte >= 0xe0 && byte <= 0xef) out.push(push({ ...f, n: counted(f.n), pend: 2, lo: byte === 0xe0 ? 0xa0 : 0x80, hi: byte === 0xed ? 0x9f : 0xbf }, up));
  else if (byte >= 0xf0 && byte <= 0xf4) out.push(push({ ...f, n: counted(f.n), pend: 3, lo: byte === 0xf0 ? 0x90 : 0x80, hi: byte === 0xf4 ? 0x8f : 0xbf }, up));
}

const numAccepting = (phase: number): boolean => phase === N_ZERO || phase === N_INT || phase === N_FRAC || phase === N_EXP;

/**
 * Whether some number within the bounds starts with a bounded number's digits so far (in `phase`).
 * In units of 10^-frac, the magnitudes still reachable are: after "-" anything below 10^16; after a
 * leading "0" just 0 (integers) or [0, 1); after k integer digits v, for each count j of digits
 * still to come, [v 10^j, (v + 1) 10^j) (integers: also v itself); after "v." [v, v + 1); after m
 * fraction digits w, [w, w + 10^-m). The sign mirrors them.
 */
function numberViable(b: BoundedNumber, phase: number): boolean {
  const { frac, lo, hi } = b.bounds;
  const unit = 10n ** BigInt(frac);
  const hits = (min: bigint, max: bigint): boolean => {
    const [a, z] = b.neg ? [-max, -min] : [min, max];
    return (lo === undefined || z >= lo) && (hi === undefined || a <= hi);
  };
  switch (phase) {
    case N_SIGN: return hits(0n, 10n ** BigInt(MAX_INT_DIGITS) * unit - 1n);
    case N_ZERO: return hits(0n, unit - 1n);
    case N_INT: {
      const v = BigInt(b.ip);
      for (let j = 0, scale = unit; j <= MAX_INT_DIGITS - b.ip.length; j++, scale *= 10n) if (hits(v * scale, (v + 1n) * scale - 1n)) return true;
      return false;
    }
    case N_DOT: return hits(BigInt(b.ip) * unit, (BigInt(b.ip) + 1n) * unit - 1n);
    default: {
      const step = 10n ** BigInt(frac - b.fp.length);
      const w = BigInt(b.ip) * unit + BigInt(b.fp) * step;
      return hits(w, w + step - 1n);
    }
  }
}

/** Whether a bounded number may end here: its value is within the bounds. */
function numberInRange(b: BoundedNumber): boolean {
  const { frac, lo, hi } = b.bounds;
  const magnitude = BigInt(b.ip) * 10n ** BigInt(frac) + (b.fp === "" ? 0n : BigInt(b.fp) * 10n ** BigInt(frac - b.fp.length));
  const v = b.neg ? -magnitude : magnitude;
  return (lo === undefined || v >= lo) && (hi === undefined || v <= hi);
}

function stepNumber(f: Frame & { t: "num" }, up: Stack | undefined, byte: number, out: Stack[]): void {
  const next = (phase: number, d: number): void => {
    if (f.b === undefined) return void out.push(push({ ...f, phase, d }, up));
    // A bounded number keeps its digits and lives only while the bounds can still be met.
    const fraction = phase === N_FRAC;
    const b = { ...f.b, ip: isDigit(byte) && !fraction && phase !== N_EXP ? f.b.ip + String.fromCharCode(byte) : f.b.ip, fp: fraction ? f.b.fp + String.fromCharCode(byte) : f.b.fp };
    if (numberViable(b, phase)) out.push(push({ ...f, phase, d, b }, up));
  };
  const digit = isDigit(byte);
  switch (f.phase) {
    case N_SIGN:
      if (byte === 0x30) return next(N_ZERO, 1);
      if (digit) return next(N_INT, 1);
      return;
    case N_INT:
      if (digit) return f.d < MAX_INT_DIGITS ? next(N_INT, f.d + 1) : undefined;
      break;
    case N_DOT: case N_ESIGN:
      if (digit) next(f.phase === N_DOT ? N_FRAC : N_EXP, 1);
      return;
    case N_FRAC:
      if (digit) return f.d < MAX_FRAC_DIGITS ? next(N_FRAC, f.d + 1) : undefined;
      break;
    case N_E:
      if (byte === 0x2b || byte === 0x2d) return next(N_ESIGN, 0);
      if (digit) return next(N_EXP, 1);
      return;
    case N_EXP:
      if (digit) return f.d < MAX_EXP_DIGITS ? next(N_EXP, f.d + 1) : undefined;
      break;
  }
  if (!f.integer && byte === 0x2e && (f.phase === N_ZERO || f.phase === N_INT)) return next(N_DOT, 0);
  // Bounded numbers are written without an exponent (numberViable reasons about plain decimals).
  if (!f.integer && f.b === undefined && (byte === 0x65 || byte === 0x45) && (f.phase === N_ZERO || f.phase === N_INT || f.phase === N_FRAC)) return next(N_E, 0);
  // The byte ends the number: the parent reads it.
  if (numAccepting(f.phase) && (f.b === undefined || numberInRange(f.b)) && up !== undefined) stepStack(up, byte, out);
}

function stepStack(s: Stack, byte: number, out: Stack[]): void {
  const f = s.f;
  switch (f.t) {
    case "doc":
      return;
    case "lit":
      if (f.bytes[f.i] !== byte) return;
      if (f.i + 1 === f.bytes.length) {
        if (s.up !== undefined) out.push(s.up);
      } else out.push(push({ ...f, i: f.i + 1 }, s.up));
      return;
    case "str": return stepString(f, s.up, byte, out);
    case "num": return stepNumber(f, s.up, byte, out);
    case "arr": return stepArray(f, s.up, byte, out);
    case "obj":
      if (f.v >= 0) return stepObjectValue(f, s.up, byte, out);
      return stepObject(f, s.up, byte, out);
  }
}

/** Bytes between ":" and a property's value: bounded whitespace, then the value's first byte. */
function stepObjectValue(f: Frame & { t: "obj" }, up: Stack | undefined, byte: number, out: Stack[]): void {
  const value = f.node.freeValue ?? f.node.properties[f.i - 1]!.value;
  if (isWs(byte)) {
    if (f.v < MAX_WHITESPACE) out.push(push({ ...f, v: f.v + 1 }, up));
    return;
  }
  startValue(value, byte, push({ ...f, v: -1 }, up), out);
}

function accepts(s: Stack): boolean {
  if (s.f.t === "doc") return s.f.done;
  if (s.f.t === "num" && numAccepting(s.f.phase) && (s.f.b === undefined || numberInRange(s.f.b)) && s.up !== undefined) return accepts(s.up);
  return false;
}

/** A state of the JSON grammar: the live stacks. */
export type JsonState = readonly Stack[];

/** The Grammar of JSON documents whose root value matches `root`. */
export class JsonGrammar implements Grammar<JsonState> {
  private static nextId = 0;
  readonly id = `json${JsonGrammar.nextId++}`;
  constructor(private readonly root: SchemaNode) {}

  initial(): JsonState {
    return [push({ t: "doc", done: false }, undefined)];
  }

  step(state: JsonState, byte: number): JsonState | undefined {
    const out: Stack[] = [];
    for (const s of state) {
      if (s.f.t === "doc" && !s.f.done) startValue(this.root, byte, push({ t: "doc", done: true }, undefined), out);
      else stepStack(s, byte, out);
    }
    if (out.length === 0) return undefined;
    if (out.length === 1) return out;
    const seen = new Map<string, Stack>();
    for (const s of out) seen.set(stackKey(s), s);
    return [...seen.values()];
  }

  accepts(state: JsonState): boolean {
    return state.some(accepts);
  }

  canContinue(state: JsonState): boolean {
    return state.some((s) => !(s.f.t === "doc" && s.f.done));
  }

  key(state: JsonState): string {
    return state.map(stackKey).sort().join("\n");
  }
}
