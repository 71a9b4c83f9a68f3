import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTensor } from "../tensor/tensor.js";
import { compareCodePoints } from "../json.js";
import { parseHeader, referenceOrder, serializeHeader } from "./safetensors-format.js";
import { writeSafetensors } from "./safetensors-writer.js";

const dir = await mkdtemp(join(tmpdir(), "llama3-ts-st-format-"));
after(() => rm(dir, { recursive: true, force: true }));

const f32s = makeTensor("f32", [1, 2, 3], new Float32Array([0, 1, 2, 3, 4, 5]));

// Expected bytes copied from the unit tests of huggingface/safetensors safetensors/src/tensor.rs
// (test_serialization, test_serialization_forced_alignement, test_empty): our writer must produce
// exactly what the reference `serialize` does.
const REFERENCE_FILES: { name: string; write: (path: string) => Promise<void>; bytes: number[] }[] = [
  {
    name: "test_serialization",
    write: (path) => writeSafetensors(path, new Map([["attn.0", f32s]])),
    bytes: [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
      116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
      58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
      101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ],
  },
  {
    name: "test_serialization_forced_alignement",
    write: (path) => writeSafetensors(path, [{ name: "attn0", dtype: "f32", shape: [1, 1, 2, 3], data: new Uint8Array(f32s.data.buffer) }]),
    bytes: [
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
      121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
      91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
      115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
      32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
      160, 64,
    ],
  },
  {
    name: "test_empty",
    write: (path) => writeSafetensors(path, []),
    bytes: [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32],
  },
  {
    name: "test_empty with metadata",
    write: (path) => writeSafetensors(path, [], { metadata: { framework: "pt" } }),
    bytes: [
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
      95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
      116, 34, 125, 125, 32, 32, 32, 32, 32,
    ],
  },
];

for (const ref of REFERENCE_FILES) {
  test(`writer output is byte-identical to the reference serializer: ${ref.name}`, async () => {
    const path = join(dir, `${ref.name.replace(/\W/g, "_")}.safetensors`);
    await ref.write(path);
    assert.deepEqual([...await readFile(path)], ref.bytes);
  });
}

test("reference order: descending dtype alignment, then name by code point", () => {
  const order = referenceOrder([
    { name: "b", dtype: "bf16" }, { name: "a", dtype: "u8" }, { name: "z", dtype: "f32" }, { name: "c", dtype: "bool" },
    { name: "a", dtype: "f32" }, { name: "m", dtype: "u64" }, { name: "m", dtype: "i64" }, { name: "m", dtype: "f16" },
    { name: "m", dtype: "i16" }, { name: "m", dtype: "u16" }, { name: "m", dtype: "i32" }, { name: "m", dtype: "u32" },
    { name: "m", dtype: "f64" }, { name: "m", dtype: "i8" },
  ] as const);
  assert.deepEqual(order.map((t) => `${t.dtype}:${t.name}`), [
    "u64:m", "i64:m", "f64:m", "f32:a", "f32:z", "u32:m", "i32:m", "bf16:b", "f16:m", "u16:m", "i16:m", "i8:m", "u8:a", "bool:c",
  ]);
});

test("names compare by code point as Rust and Python do, not by UTF-16 unit", () => {
  // U+FF5E is one UTF-16 unit above the surrogates of U+1F600, but a lower code point.
  assert.ok(compareCodePoints("\u{ff5e}", "\u{1f600}") < 0);
  assert.ok("\u{ff5e}" > "\u{1f600}");
  assert.ok(compareCodePoints("a", "ab") < 0);
  assert.equal(compareCodePoints("same", "same"), 0);
});

test("a serialized header parses back to the same entries and metadata", () => {
  const tensors = [
    { name: "w", dtype: "bf16" as const, shape: [3, 2], byteLength: 12 },
    { name: "s", dtype: "f32" as const, shape: [], byteLength: 4 },
    { name: "ñ \"quoted\"", dtype: "u8" as const, shape: [0], byteLength: 0 },
    // An own key from JSON.parse, never the prototype: must come back as a tensor like any other.
    { name: "__proto__", dtype: "i8" as const, shape: [2], byteLength: 2 },
  ];
  const header = serializeHeader(tensors, new Map([["format", "pt"], ["note", "ü\n"]]));
  assert.equal(header.length % 8, 0);
  const parsed = parseHeader("mem", header, 18);
  assert.deepEqual([...parsed.metadata], [["format", "pt"], ["note", "ü\n"]]);
  assert.deepEqual(parsed.entries.map((e) => [e.name, e.dtype, e.shape, e.begin, e.end]), [
    ["w", "bf16", [3, 2], 0, 12], ["s", "f32", [], 12, 16], ["ñ \"quoted\"", "u8", [0], 16, 16], ["__proto__", "i8", [2], 16, 18],
  ]);
});
