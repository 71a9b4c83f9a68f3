import { test } from "node:test";
import assert from "node:assert/strict";
import { FormatError, LlamaError } from "../../errors.js";
import { Rng } from "../../tensor/rng.js";
import { type PickleHooks, type PickleLimits, type PickleSite, unpickle } from "./pickle.js";
import { OP } from "./pickle-opcodes.js";
import { PickleDict, PickleList, PickleObject, PickleTuple, type PickleValue } from "./pickle-values.js";
import { PickleWriter } from "./pickle-writer.js";
import { createTorchHooks } from "./torch-pickle.js";

/** A global as the test hooks see it. */
class Named extends PickleObject {
  constructor(readonly name: string) { super(); }
  describe(): string { return `global ${this.name}`; }
}

/** Hooks that record every call and build nothing dangerous: for testing the interpreter alone. */
function recordingHooks(): PickleHooks & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    global(module, name) { calls.push(`global ${module}.${name}`); return new Named(`${module}.${name}`); },
    reduce(callable) { calls.push(`reduce ${String((callable as Named).name)}`); return new PickleDict(); },
    newObject() { calls.push("newobj"); return new PickleDict(); },
    build() { calls.push("build"); },
    persistentLoad(pid) { calls.push("persid"); return pid; },
  };
}

const run = (bytes: Uint8Array, limits?: Partial<PickleLimits>, hooks: PickleHooks = recordingHooks()): PickleValue =>
  unpickle(bytes, { source: "test.pkl", baseOffset: 1000, hooks, ...(limits === undefined ? {} : { limits }) });

/** Expect a FormatError whose message matches every pattern; returns it. */
function refuses(bytes: Uint8Array, patterns: RegExp[], limits?: Partial<PickleLimits>, hooks?: PickleHooks): FormatError {
  let caught: unknown;
  try {
    run(bytes, limits, hooks);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof FormatError, `expected FormatError, got ${String(caught)}`);
  assert.equal(caught.path, "test.pkl");
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

const p2 = (): PickleWriter => new PickleWriter().proto(2);

test("values: ints of every width, floats, str, bytes, bools, None", () => {
  const w = p2().mark();
  for (const n of [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER]) w.int(n);
  w.raw([OP.LONG1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // 2^64
  w.raw([OP.BINFLOAT, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]); // 1.5, big-endian
  w.str("héllo").raw([OP.SHORT_BINUNICODE, 2, 0x68, 0x69]).raw([OP.SHORT_BINBYTES, 2, 1, 2]).raw([OP.SHORT_BINSTRING, 1, 0xe9]);
  w.bool(true).bool(false).none().tuple().stop();
  const value = run(w.bytes());
  assert.ok(value instanceof PickleTuple);
  assert.deepEqual(value.items, [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER,
    2n ** 64n, 1.5, "héllo", "hi", Uint8Array.of(1, 2), "é", true, false, null]);
});

test("containers, memo and protocol 4 framing build the same object CPython would", () => {
  // {"a": [1, 2, 3], "b": (x, x)} where x is memoized, inside a FRAME, with MEMOIZE and STACK_GLOBAL.
  const body = new PickleWriter().emptyDict().op(OP.MEMOIZE)
    .str("a").op(OP.EMPTY_LIST).int(1).op(OP.APPEND).mark().int(2).int(3).op(OP.APPENDS).op(OP.SETITEM)
    .str("b").str("torch").str("Tensor").op(OP.STACK_GLOBAL).put(7).get(7).tuple(2).op(OP.SETITEM).stop().bytes();
  const frame = new PickleWriter().proto(4).raw([OP.FRAME, body.length, 0, 0, 0, 0, 0, 0, 0]).raw(body).bytes();
  const hooks = recordingHooks();
  const value = run(frame, undefined, hooks);
  assert.ok(value instanceof PickleDict);
  const list = value.entries.get("a");
  assert.ok(list instanceof PickleList);
  assert.deepEqual(list.items, [1, 2, 3]);
  const pair = value.entries.get("b");
  assert.ok(pair instanceof PickleTuple && pair.items[0] instanceof Named);
  assert.equal(pair.items[0], pair.items[1], "BINGET returns the memoized object itself");
  assert.deepEqual(hooks.calls, ["global torch.Tensor"]);
});

test("hostile: GLOBAL os system + REDUCE is refused at the GLOBAL, naming it, and nothing runs", () => {
  const bytes = p2().global("os", "system").str("echo pwned").tuple(1).op(OP.REDUCE).stop().bytes();
  const torchHooks = createTorchHooks("archive", () => undefined);
  const error = refuses(bytes, [/global os\.system is not in the whitelist/, /nothing was imported or called/, /GLOBAL \(0x63\) at pickle offset 2/], undefined, torchHooks);
  assert.equal(error.byteOffset, 1002);
});

test("hostile: other dangerous globals are refused, by GLOBAL and by STACK_GLOBAL", () => {
  const torchHooks = createTorchHooks("archive", () => undefined);
  for (const [module, name] of [["builtins", "eval"], ["subprocess", "Popen"], ["posix", "system"], ["__builtin__", "getattr"], ["torch", "load"], ["torch.serialization", "load"]] as const) {
    refuses(p2().global(module, name).stop().bytes(), [new RegExp(`global ${module}\\.${name} is not in the whitelist`)], undefined, torchHooks);
    refuses(p2().str(module).str(name).op(OP.STACK_GLOBAL).stop().bytes(), [new RegExp(`STACK_GLOBAL .*global ${module}\\.${name} is not`)], undefined, torchHooks);
  }
});

test("hostile: REDUCE of a non-callable value is refused", () => {
  const torchHooks = createTorchHooks("archive", () => undefined);
  refuses(p2().str("os.system").emptyTuple().op(OP.REDUCE).stop().bytes(), [/REDUCE .*cannot call str/], undefined, torchHooks);
  refuses(p2().global("torch", "bfloat16").emptyTuple().op(OP.REDUCE).stop().bytes(), [/torch\.bfloat16 is not callable/], undefined, torchHooks);
});

test("malformed: a byte that is no opcode", () => {
  const error = refuses(p2().raw([0xff]).stop().bytes(), [/unknown opcode 0xff at pickle offset 2: not a pickle opcode/]);
  assert.equal(error.byteOffset, 1002);
});

test("malformed: real opcodes outside the whitelist (INST, OBJ, EXT1, PERSID, NEWOBJ_EX, text INT)", () => {
  for (const [code, name] of [[OP.INST, "INST"], [OP.OBJ, "OBJ"], [OP.EXT1, "EXT1"], [OP.PERSID, "PERSID"], [OP.NEWOBJ_EX, "NEWOBJ_EX"], [OP.INT, "INT"], [OP.NEXT_BUFFER, "NEXT_BUFFER"]] as const) {
    refuses(p2().raw([code]).stop().bytes(), [new RegExp(`${name} \\(0x[0-9a-f]{2}\\) at pickle offset 2: opcode not allowed`)]);
  }
});

test("malformed: truncated pickle (no STOP, and an operand cut short)", () => {
  refuses(p2().emptyDict().bytes(), [/ends after 3 bytes without a STOP/]);
  refuses(p2().raw([OP.BININT, 1, 2]).bytes(), [/BININT \(0x4a\) at pickle offset 2: needs 4 more bytes but only 2 remain/]);
});

test("malformed: stack underflow, including across a MARK", () => {
  refuses(p2().tuple(1).stop().bytes(), [/TUPLE1 .*stack underflow/]);
  refuses(p2().int(1).mark().tuple(1).stop().bytes(), [/TUPLE1 .*stack underflow/]);
  refuses(p2().tuple().stop().bytes(), [/TUPLE .*no MARK to close/]);
  refuses(p2().stop().bytes(), [/STOP .*stack underflow/]);
});

test("malformed: memo get of an undefined index", () => {
  refuses(p2().int(1).put(3).get(4).stop().bytes(), [/BINGET \(0x68\) at pickle offset 6: memo index 4 is not defined/]);
  refuses(p2().get(70000).stop().bytes(), [/LONG_BINGET .*memo index 70000 is not defined/]);
});

test("malformed: a huge declared string length runs past the end", () => {
  refuses(p2().raw([OP.BINUNICODE, 0xf0, 0xff, 0xff, 0xff, 0x61]).stop().bytes(), [/BINUNICODE .*declares a 4294967280-byte string but only 2 bytes remain/]);
  refuses(p2().raw([OP.BINBYTES8, 0, 0, 0, 0, 0, 0, 0, 0x7f]).stop().bytes(), [/BINBYTES8 .*declares a length of 9151314442816847872 bytes/]);
  refuses(p2().raw([OP.BINSTRING, 0xff, 0xff, 0xff, 0xff]).stop().bytes(), [/BINSTRING .*negative length -1/]);
});

test("malformed: invalid UTF-8 and leftovers at STOP", () => {
  refuses(p2().raw([OP.SHORT_BINUNICODE, 1, 0xff]).stop().bytes(), [/not valid UTF-8/]);
  refuses(p2().int(1).int(2).stop().bytes(), [/STOP leaves 0 open MARKs and 1 values/]);
  refuses(p2().int(1).stop().raw([0]).bytes(), [/1 bytes follow STOP/]);
  refuses(new PickleWriter().proto(6).none().stop().bytes(), [/protocol 6 is newer than the highest known \(5\)/]);
});

test("limit: nested MARKs past maxMarkDepth", () => {
  const w = p2();
  for (let i = 0; i < 1001; i++) w.mark();
  refuses(w.stop().bytes(), [/MARK .*more than 1000 nested MARKs \(maxMarkDepth\)/]);
});

test("limit: each named limit stops the interpreter and says which", () => {
  const many = (n: number): PickleWriter => { const w = p2().mark(); for (let i = 0; i < n; i++) w.int(i); return w; };
  refuses(many(10).tuple().stop().bytes(), [/over the limit of 20 \(maxPickleBytes\)/], { maxPickleBytes: 20 });
  refuses(many(10).tuple().stop().bytes(), [/more than 5 values on the stack \(maxStackDepth\)/], { maxStackDepth: 5 });
  refuses(many(10).tuple().stop().bytes(), [/10 items in one container, over the limit of 9 \(maxContainerLength\)/], { maxContainerLength: 9 });
  refuses(p2().op(OP.EMPTY_LIST).mark().int(1).int(2).int(3).op(OP.APPENDS).stop().bytes(), [/list would hold 3 items, over the limit of 2/], { maxContainerLength: 2 });
  refuses(p2().emptyDict().mark().int(1).int(2).int(3).int(4).op(OP.SETITEMS).stop().bytes(), [/dict would hold more than 1 items \(maxContainerLength\)/], { maxContainerLength: 1 });
  refuses(p2().int(1).put(0).put(1).put(2).stop().bytes(), [/BINPUT .*more than 2 memo entries \(maxMemoEntries\)/], { maxMemoEntries: 2 });
  refuses(p2().str("abcdef").stop().bytes(), [/6-byte string is over the limit of 5 \(maxStringBytes\)/], { maxStringBytes: 5 });
  refuses(p2().mark().emptyTuple().emptyTuple().emptyTuple().tuple().stop().bytes(), [/more than 3 objects built \(maxObjects\)/], { maxObjects: 3 });
});

test("memo references share one object: 1000 references cost no new objects (no amplification)", () => {
  // 1000 references to one list cost 1000 stack slots, not 1000 lists.
  const w = p2().op(OP.EMPTY_LIST).put(0).mark();
  for (let i = 0; i < 1000; i++) w.get(0);
  const value = run(w.op(OP.APPENDS).stop().bytes(), { maxObjects: 2 });
  assert.ok(value instanceof PickleList);
  assert.equal(value.items.length, 1000);
  assert.equal(value.items[999], value, "the list contains itself, by reference");
});

test("a list of 300000 items built by one APPENDS (no argument-spreading limits)", () => {
  const w = p2().op(OP.EMPTY_LIST).mark();
  for (let i = 0; i < 300_000; i++) w.raw([OP.BININT1, i & 0xff]);
  const value = run(w.op(OP.APPENDS).stop().bytes());
  assert.ok(value instanceof PickleList);
  assert.equal(value.items.length, 300_000);
  assert.equal(value.items[257], 1);
});

test("fuzz: random and mutated pickles end in a value or a LlamaError, never a crash or a hang", () => {
  const rng = new Rng(1234);
  const valid = p2().emptyDict().mark().str("w").global("torch._utils", "_rebuild_tensor_v2").emptyTuple().op(OP.REDUCE).op(OP.SETITEMS).stop().bytes();
  const torchHooks = createTorchHooks("archive", () => undefined);
  const started = Date.now();
  for (let round = 0; round < 3000; round++) {
    const bytes = round % 2 === 0 ? Uint8Array.from({ length: 1 + rng.int(64) }, () => rng.int(256)) : valid.slice();
    if (round % 2 === 1) for (let k = 0; k < 1 + rng.int(4); k++) bytes[rng.int(bytes.length)] = rng.int(256);
    for (const hooks of [recordingHooks(), torchHooks]) {
      try {
        run(bytes, { maxStringBytes: 1 << 16 }, hooks);
      } catch (error) {
        assert.ok(error instanceof LlamaError, `round ${round}: ${String(error)}`);
      }
    }
  }
  assert.ok(Date.now() - started < 20_000);
});

test("sites passed to hooks locate the opcode", () => {
  const sites: PickleSite[] = [];
  const hooks: PickleHooks = { ...recordingHooks(), global(module, name, site) { sites.push(site); return new Named(`${module}.${name}`); } };
  run(p2().none().op(OP.POP).global("a", "b").stop().bytes(), undefined, hooks);
  assert.deepEqual(sites, [{ source: "test.pkl", pickleOffset: 4, byteOffset: 1004, opcode: "GLOBAL (0x63)" }]);
});
