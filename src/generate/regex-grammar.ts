// A regular expression as a byte-level Grammar (constraint.ts): the whole output must match it.
// The pattern is parsed (a JavaScript-syntax subset: literals, escapes \d \w \s \D \W \S \n \t \r
// \f \v \0 \xHH \uHHHH \u{...}, classes [...] and [^...], ".", groups (...) and (?:...),
// alternation, * + ? {m} {m,} {m,n}, lazy forms matched like greedy ones since only membership
// counts, ^ at the start and $ at the end) into a Thompson NFA over code points (Thompson,
// "Regular expression search algorithm", CACM 1968; Russ Cox's "Regular Expression Matching Can Be
// Simple And Fast"). A state is the set of NFA positions after an epsilon closure, plus a UTF-8
// character in progress: a partial character is alive only while some transition accepts a code
// point its bytes can still become, so every valid prefix can be finished. Anything else
// (backreferences, lookaround, flags, anchors elsewhere, \b) is an ArgumentError naming it.

import { ArgumentError } from "../errors.js";
import type { Grammar } from "./constraint.js";

/** Most NFA states a pattern may compile to (bounded repetition copies its body). */
export const MAX_REGEX_STATES = 10_000;
const MAX_CODE_POINT = 0x10ffff;
/** Most cells (NFA states x window lengths) canFinish may tabulate for one pattern. */
export const MAX_WINDOW_CELLS = 20_000_000;

/** Code point ranges as sorted, disjoint [lo, hi] pairs (inclusive). */
type Ranges = readonly number[];

interface NfaState {
  readonly edges: { readonly set: Ranges; readonly to: number }[];
  readonly eps: number[];
}

/** A piece of NFA under construction: its entry and exit states. */
interface Fragment {
  readonly start: number;
  readonly end: number;
}

type Node =
  | { readonly t: "set"; readonly set: Ranges }
  | { readonly t: "seq"; readonly items: readonly Node[] }
  | { readonly t: "alt"; readonly options: readonly Node[] }
  | { readonly t: "rep"; readonly body: Node; readonly min: number; readonly max: number };

function normalize(pairs: number[]): Ranges {
  const list: [number, number][] = [];
  for (let i = 0; i < pairs.length; i += 2) list.push([pairs[i]!, pairs[i + 1]!]);
  list.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of list) {
    if (out.length > 0 && lo <= out[out.length - 1]! + 1) out[out.length - 1] = Math.max(out[out.length - 1]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(set: Ranges): Ranges {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < set.length; i += 2) {
    if (set[i]! > next) out.push(next, set[i]! - 1);
    next = set[i + 1]! + 1;
  }
  if (next <= MAX_CODE_POINT) out.push(next, MAX_CODE_POINT);
  return out;
}

const DIGIT: Ranges = [0x30, 0x39];
const WORD: Ranges = normalize([0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]);
// JavaScript's \s: WhiteSpace and LineTerminator.
const SPACE: Ranges = normalize([0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff]);
// "." without the s flag: anything but line terminators.
const DOT: Ranges = complement(normalize([0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029]));

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  private fail(message: string): never {
    throw new ArgumentError(`regex /${this.src}/ at ${this.i}: ${message}`);
  }

  parse(): Node {
    if (this.src.startsWith("^")) this.i = 1;
    const node = this.alternation();
    if (this.i < this.src.length) this.fail(this.src[this.i] === ")" ? "unbalanced )" : `unexpected ${JSON.stringify(this.src[this.i])}`);
    return node;
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private alternation(): Node {
    const options = [this.sequence()];
    while (this.peek() === "|") {
      this.i++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0]! : { t: "alt", options };
  }

  private sequence(): Node {
    const items: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== "|" && c !== ")"; c = this.peek()) {
      if (c === "$") {
        this.i++;
        if (this.i !== this.src.length) this.fail("$ is only supported at the end (the whole output must match)");
        break;
      }
      items.push(this.quantified(this.atom()));
    }
    return { t: "seq", items };
  }

  private quantified(atom: Node): Node {
    for (;;) {
      const c = this.peek();
      let min: number, max: number;
      if (c === "*") [min, max] = [0, Infinity];
      else if (c === "+") [min, max] = [1, Infinity];
      else if (c === "?") [min, max] = [0, 1];
      else if (c === "{" && /^\{\d+(,\d*)?\}/.test(this.src.slice(this.i))) {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i))!;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
        if (max < min) this.fail(`{${min},${max}}: the maximum is below the minimum`);
        this.i += m[0].length - 1;
      } else return atom;
      this.i++;
      if (this.peek() === "?") this.i++; // lazy: the same set of matches
      atom = { t: "rep", body: atom, min, max };
    }
  }

  private atom(): Node {
    const c = this.src.codePointAt(this.i)!;
    const ch = String.fromCodePoint(c);
    if (ch === "(") {
      this.i++;
      if (this.src.startsWith("?:", this.i)) this.i += 2;
      else if (this.peek() === "?") this.fail("lookaround and named groups are not supported");
      const inner = this.alternation();
      if (this.peek() !== ")") this.fail("missing )");
      this.i++;
      return inner;
    }
    if (ch === "[") return { t: "set", set: this.charClass() };
    if (ch === ".") {
      this.i++;
      return { t: "set", set: DOT };
    }
    if (ch === "\\") return { t: "set", set: this.escape(false) };
    if ("*+?{".includes(ch)) this.fail(`nothing to repeat before ${ch}`);
    if (ch === "^") this.fail("^ is only supported at the start (the whole output must match)");
    this.i += ch.length;
    return { t: "set", set: [c, c] };
  }

  /** After "\\": a class escape or a single code point. */
  private escape(inClass: boolean): Ranges {
    this.i++;
    const e = this.peek();
    if (e === undefined) this.fail("a pattern cannot end with \\");
    this.i++;
    switch (e) {
      case "d": return DIGIT;
      case "D": return complement(DIGIT);
      case "w": return WORD;
      case "W": return complement(WORD);
      case "s": return SPACE;
      case "S": return complement(SPACE);
      case "n": return [0x0a, 0x0a];
      case "t": return [0x09, 0x09];
      case "r": return [0x0d, 0x0d];
      case "f": return [0x0c, 0x0c];
      case "v": return [0x0b, 0x0b];
      case "0": return [0, 0];
      case "x": return this.hex(/^[0-9a-fA-F]{2}/, "\\x needs two hex digits");
      case "u":
        if (this.peek() === "{") {
          const m = /^\{([0-9a-fA-F]{1,6})\}/.exec(this.src.slice(this.i));
          if (m === null || parseInt(m[1]!, 16) > MAX_CODE_POINT) this.fail("\\u{...} needs a code point in hex");
          this.i += m[0].length;
          const cp = parseInt(m[1]!, 16);
          return [cp, cp];
        }
        return this.hex(/^[0-9a-fA-F]{4}/, "\\u needs four hex digits");
      case "b": if (inClass) return [0x08, 0x08]; break;
      default:
        if (/[\\^$.|?*+()[\]{}/-]/.test(e)) {
          const cp = e.codePointAt(0)!;
          return [cp, cp];
        }
    }
    return this.fail(`the escape \\${e} is not supported (no backreferences, \\b or \\p)`);
  }

  private hex(re: RegExp, message: string): Ranges {
    const m = re.exec(this.src.slice(this.i));
    if (m === null) this.fail(message);
    this.i += m[0].length;
    const cp = parseInt(m[0], 16);
    return [cp, cp];
  }

  private charClass(): Ranges {
    this.i++;
    const negated = this.peek() === "^";
    if (negated) this.i++;
    const pairs: number[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail("missing ]");
      if (c === "]" && !first) break;
      first = false;
      const lo = this.classAtom();
      if (this.peek() === "-" && this.src[this.i + 1] !== "]" && this.src[this.i + 1] !== undefined) {
        this.i++;
        const hi = this.classAtom();
        if (lo.length !== 2 || hi.length !== 2 || lo[0] !== lo[1] || hi[0] !== hi[1]) this.fail("a range needs single characters at both ends");
        if (hi[0]! < lo[0]!) this.fail("a range out of order");
        pairs.push(lo[0]!, hi[0]!);
      } else pairs.push(...lo);
    }
    this.i++;
    const set = normalize(pairs);
    return negated ? complement(set) : set;
  }

  private classAtom(): Ranges {
    if (this.peek() === "\\") return this.escape(true);
    const cp = this.src.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return [cp, cp];
  }
}

function hits(set: Ranges, lo: number, hi: number): boolean {
  for (let i = 0; i < set.length; i += 2) if (set[i]! <= hi && set[i + 1]! >= lo) return true;
  return false;
}

/** A state: the live NFA positions (sorted, epsilon-closed), and the character being read, if any. */
export interface RegexState {
  readonly positions: readonly number[];
  /** Continuation bytes still to come (0: between characters). */
  readonly remaining: number;
  /** The code point bits read so far and the range of code points the character can still become. */
  readonly acc: number;
  readonly lo: number;
  readonly hi: number;
}

/**
 * The Grammar of the texts that a regular expression matches as a whole.
 * @example new RegexGrammar("\\d{3}-[a-z]{2,4}") // "123-ab", "987-wxyz"
 */
export class RegexGrammar implements Grammar<RegexState> {
  private static nextId = 0;
  readonly id = `regex${RegexGrammar.nextId++}`;
  private readonly states: NfaState[] = [];
  private readonly final: number;
  private readonly startState: RegexState;

  /** @throws ArgumentError for a pattern outside the supported subset, naming what and where */
  constructor(readonly pattern: string) {
    if (typeof pattern !== "string") throw new ArgumentError(`a regex pattern must be a string, got ${typeof pattern}`);
    const frag = this.build(new Parser(pattern).parse());
    this.final = frag.end;
    this.startState = { positions: this.closure([frag.start]), remaining: 0, acc: 0, lo: 0, hi: 0 };
  }

  private add(): number {
    if (this.states.length >= MAX_REGEX_STATES) throw new ArgumentError(`regex /${this.pattern}/ needs more than ${MAX_REGEX_STATES} states (large bounded repetitions?)`);
    this.states.push({ edges: [], eps: [] });
    return this.states.length - 1;
  }

  private build(node: Node): Fragment {
    switch (node.t) {
      case "set": {
        const start = this.add(), end = this.add();
        this.states[start]!.edges.push({ set: node.set, to: end });
        return { start, end };
      }
      case "seq": {
        const start = this.add();
        let end = start;
        for (const item of node.items) {
          const f = this.build(item);
          this.states[end]!.eps.push(f.start);
          end = f.end;
        }
        return { start, end };
      }
      case "alt": {
        const start = this.add(), end = this.add();
        for (const option of node.options) {
          const f = this.build(option);
          this.states[start]!.eps.push(f.start);
          this.states[f.end]!.eps.push(end);
        }
        return { start, end };
      }
      case "rep": {
        const start = this.add();
        let end = start;
        for (let k = 0; k < node.min; k++) {
          const f = this.build(node.body);
          this.states[end]!.eps.push(f.start);
          end = f.end;
        }
        if (node.max === Infinity) {
          const f = this.build(node.body);
          this.states[end]!.eps.push(f.start);
          this.states[f.end]!.eps.push(end);
          return { start, end };
        }
        const exit = this.add();
        for (let k = node.min; k < node.max; k++) {
          this.states[end]!.eps.push(exit);
          const f = this.build(node.body);
          this.states[end]!.eps.push(f.start);
          end = f.end;
        }
        this.states[end]!.eps.push(exit);
        return { start, end: exit };
      }
    }
  }

  private closure(seed: readonly number[]): number[] {
    const seen = new Set<number>(seed);
    const stack = [...seed];
    while (stack.length > 0) {
      for (const next of this.states[stack.pop()!]!.eps) {
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(next);
        }
      }
    }
    // Keep only positions that read a character or end the match: the rest add nothing to the key.
    return [...seen].filter((p) => p === this.final || this.states[p]!.edges.length > 0).sort((a, b) => a - b);
  }

  /** Per edge target: its epsilon closure (the positions a character leads to). */
  private readonly targets = new Map<number, number[]>();
  /** Per (a, b): by NFA state, whether an accepted text of a to b more code points follows. */
  private readonly windows = new Map<string, Uint8Array>();

  private closureOf(to: number): number[] {
    let c = this.targets.get(to);
    if (c === undefined) this.targets.set(to, (c = this.closure([to])));
    return c;
  }

  /** Whether state p reads one character into positions where `next` holds. */
  private stepsInto(p: number, next: Uint8Array, lo = 0, hi = MAX_CODE_POINT): boolean {
    return this.states[p]!.edges.some((e) => hits(e.set, lo, hi) && this.closureOf(e.to).some((r) => next[r] === 1));
  }

  /**
   * By NFA state: whether some accepted text of at least `a` and at most `b` (maybe Infinity) more
   * code points follows. Built bottom-up along (a, b), (a-1, b-1), ...: a text of length in [a, b]
   * is one character then a text in [a-1, b-1]; [0, Infinity) is plain co-reachability, a fixpoint.
   */
  private window(a: number, b: number): Uint8Array {
    const chain: [number, number][] = [];
    for (let x = a, y = b; !this.windows.has(`${x},${y}`); x = Math.max(0, x - 1), y--) {
      chain.push([x, y]);
      if (y === 0 || (x === 0 && y === Infinity)) break;
    }
    for (const [x, y] of chain.reverse()) {
      const w = new Uint8Array(this.states.length);
      if (x === 0) w[this.final] = 1;
      if (y === Infinity && x === 0) {
        for (let changed = true; changed; ) {
          changed = false;
          for (let p = 0; p < this.states.length; p++) if (w[p] === 0 && this.stepsInto(p, w)) changed = Boolean((w[p] = 1));
        }
      } else if (y > 0) {
        const next = this.windows.get(`${Math.max(0, x - 1)},${y - 1}`)!;
        for (let p = 0; p < this.states.length; p++) if (w[p] === 0 && this.stepsInto(p, next)) w[p] = 1;
      }
      this.windows.set(`${x},${y}`, w);
    }
    return this.windows.get(`${a},${b}`)!;
  }

  /**
   * Whether an accepted text follows `state` that adds at least `least` and at most `most` code
   * points after the one being read, if any (`most` may be Infinity). A grammar that counts
   * characters (a JSON string's minLength / maxLength) calls this to stay out of dead ends.
   * @throws ArgumentError when the table for so long a window would be too big
   */
  canFinish(state: RegexState, least: number, most: number): boolean {
    if (most < 0) return false;
    if (Number.isFinite(most) && most * this.states.length > MAX_WINDOW_CELLS) throw new ArgumentError(`regex /${this.pattern}/ with up to ${most} characters needs too big a table (${this.states.length} states)`);
    if (!Number.isFinite(most) && least * this.states.length > MAX_WINDOW_CELLS) throw new ArgumentError(`regex /${this.pattern}/ with at least ${least} characters needs too big a table (${this.states.length} states)`);
    const w = this.window(Math.max(0, least), most);
    if (state.remaining === 0) return state.positions.some((p) => w[p] === 1);
    return this.canFinishThrough(state, state.lo, state.hi, least, most);
  }

  /** Whether a code point in [lo, hi] may come next and then an accepted text of least to most more code points. */
  canFinishThrough(state: RegexState, lo: number, hi: number, least: number, most: number): boolean {
    if (most < 0) return false;
    const w = this.window(Math.max(0, least), most);
    return state.positions.some((p) => this.stepsInto(p, w, lo, hi));
  }

  /** The state after one whole code point (its UTF-8 bytes), or undefined. */
  stepCodePoint(state: RegexState, cp: number): RegexState | undefined {
    return state.remaining === 0 ? this.advance(state.positions, cp) : undefined;
  }

  private alive(positions: readonly number[], lo: number, hi: number): boolean {
    return positions.some((p) => this.states[p]!.edges.some((e) => hits(e.set, lo, hi)));
  }

  /** Between-character states by their positions, so that a step's result can be cached on them (a lazy DFA). */
  private readonly interned = new Map<string, RegexState>();
  private readonly transitions = new WeakMap<readonly number[], Map<number, RegexState | null>>();

  private advance(positions: readonly number[], cp: number): RegexState | undefined {
    let cache = this.transitions.get(positions);
    if (cache === undefined) this.transitions.set(positions, (cache = new Map()));
    const known = cache.get(cp);
    if (known !== undefined) return known ?? undefined;
    const next: number[] = [];
    for (const p of positions) for (const e of this.states[p]!.edges) if (hits(e.set, cp, cp)) next.push(e.to);
    let state: RegexState | undefined;
    if (next.length > 0) {
      const closed = this.closure(next);
      const key = closed.join(",");
      state = this.interned.get(key);
      if (state === undefined) {
        state = { positions: closed, remaining: 0, acc: 0, lo: 0, hi: 0 };
        if (this.interned.size < 65536) this.interned.set(key, state);
      }
    }
    // Bounded: a pattern whose texts wander through very many position sets keeps the newest only.
    if (cache.size < 4096) cache.set(cp, state ?? null);
    return state;
  }

  initial(): RegexState {
    return this.startState;
  }

  step(state: RegexState, byte: number): RegexState | undefined {
    if (state.remaining === 0) {
      if (byte < 0x80) return this.advance(state.positions, byte);
      // A lead byte: its length and the code points it can start (no overlongs, no surrogates).
      let remaining: number, acc: number, lo: number, hi: number;
      if (byte >= 0xc2 && byte <= 0xdf) [remaining, acc] = [1, (byte & 0x1f) << 6];
      else if (byte >= 0xe0 && byte <= 0xef) [remaining, acc] = [2, (byte & 0x0f) << 12];
      else if (byte >= 0xf0 && byte <= 0xf4) [remaining, acc] = [3, (byte & 0x07) << 18];
      else return undefined;
      lo = Math.max(acc, [0, 0x80, 0x800, 0x10000][remaining]!);
      hi = acc + (1 << (6 * remaining)) - 1;
      if (byte === 0xed) hi = 0xd7ff;
      if (byte === 0xf4) hi = MAX_CODE_POINT;
      return this.alive(state.positions, lo, hi) ? { positions: state.positions, remaining, acc, lo, hi } : undefined;
    }
    if (byte < 0x80 || byte > 0xbf) return undefined;
    const shift = 6 * (state.remaining - 1);
    const acc = state.acc | ((byte & 0x3f) << shift);
    const lo = Math.max(state.lo, acc);
    const hi = Math.min(state.hi, acc + (1 << shift) - 1);
    if (lo > hi) return undefined;
    if (state.remaining === 1) return this.advance(state.positions, acc);
    return this.alive(state.positions, lo, hi) ? { positions: state.positions, remaining: state.remaining - 1, acc, lo, hi } : undefined;
  }

  accepts(state: RegexState): boolean {
    return state.remaining === 0 && state.positions.includes(this.final);
  }

  canContinue(state: RegexState): boolean {
    return state.remaining > 0 || state.positions.some((p) => this.states[p]!.edges.length > 0);
  }

  key(state: RegexState): string {
    return state.remaining === 0 ? state.positions.join(",") : `${state.positions.join(",")}|${state.remaining}.${state.acc}.${state.lo}.${state.hi}`;
  }
}
