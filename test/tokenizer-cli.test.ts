// `llama3 tokenize` / `llama3 detokenize` end to end: in-process through runCli with a fake CliIo, and
// once through the built executable as a user runs it (file bytes in, ids out, text back).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliIo, UsageError } from "../src/cli/command.js";
import { parseIds } from "../src/cli/detokenize.js";
import { runCli } from "../src/cli/main.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { fixturePath } from "./support/paths.js";

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(argv: readonly string[], stdin: Uint8Array | string = new Uint8Array()): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (t) => (stdout += t),
    stdoutBytes: (b) => (stdout += Buffer.from(b).toString("utf8")),
    stderr: (t) => (stderr += t),
    readStdin: async () => (typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

// Most runs name the Meta fixture folder: its tokenizer.model loads in tens of milliseconds, where
// the bundled 9 MB tokenizer.json takes several hundred; two runs cover the bundled default.
const metaDir = fixturePath("meta", "meta-tiny-scaled");
const meta = await Tokenizer.fromPretrained(metaDir);
const M = ["--model", metaDir];

test("tokenize prints space-separated ids, --json an array, --bos adds BOS; the bundled tokenizer by default", async () => {
  const ids = meta.encode("Hello world", { addSpecialTokens: false });
  assert.deepEqual(await cli(["tokenize", "Hello world"]), { code: 0, stdout: `${ids.join(" ")}\n`, stderr: "" });
  assert.equal((await cli(["tokenize", ...M, "--json", "Hello world"])).stdout, `${JSON.stringify(ids)}\n`);
  assert.equal((await cli(["tokenize", ...M, "--bos", "Hello world"])).stdout, `128000 ${ids.join(" ")}\n`);
  // The folder's params.json makes it Llama 3.1 (<|eom_id|> exists); the bundled one is 3.0.
  assert.equal((await cli(["tokenize", ...M, "<|eom_id|>"])).stdout, "128008\n");
});

test("tokenize --no-special encodes special-token strings as text", async () => {
  assert.equal((await cli(["tokenize", ...M, "<|eot_id|>"])).stdout, "128009\n");
  const plain = (await cli(["tokenize", ...M, "--no-special", "<|eot_id|>"])).stdout.trim().split(" ").map(Number);
  assert.ok(plain.length > 1 && plain.every((id) => id < 128000));
  assert.equal(meta.decode(plain), "<|eot_id|>");
});

test("tokenize --file - reads stdin byte-exact and rejects invalid UTF-8 with its offset", async () => {
  const text = "\ufeffline one\r\nline two\u0085 🦙\n";
  const run = await cli(["tokenize", ...M, "--file", "-", "--json"], text);
  assert.equal(run.code, 0);
  const ids = JSON.parse(run.stdout) as number[];
  assert.deepEqual(ids, meta.encode(text, { addSpecialTokens: false }));
  assert.equal(meta.decode(ids), text);
  const bad = await cli(["tokenize", ...M, "--file", "-"], Uint8Array.of(0x61, 0x62, 0xff, 0x63));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /<stdin>: input is not valid UTF-8 \(at byte 2\)/);
});

test("tokenize --jsonl: one JSON string per line in, one id array per line out; bad lines are named", async () => {
  const texts = ["Hello", "", "<|eot_id|> x", "多语言\n文本"];
  const run = await cli(["tokenize", ...M, "--jsonl"], texts.map((t) => JSON.stringify(t)).join("\r\n") + "\n");
  assert.equal(run.code, 0, run.stderr);
  const rows = run.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as number[]);
  assert.deepEqual(rows, texts.map((t) => meta.encode(t, { addSpecialTokens: false })));
  const bad = await cli(["tokenize", ...M, "--jsonl"], '"ok"\n42\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /line 2: expected a JSON string, got number/);
  const broken = await cli(["tokenize", ...M, "--jsonl"], '"ok"\n"unterminated\n');
  assert.match(broken.stderr, /line 2: expected a JSON string/);
});

test("tokenize usage errors exit with code 2, failures to read with code 1", async () => {
  assert.equal((await cli(["tokenize"])).code, 2);
  assert.equal((await cli(["tokenize", "a", "b"])).code, 2);
  assert.equal((await cli(["tokenize", "--file", "x", "text"])).code, 2);
  assert.equal((await cli(["tokenize", "--bogus", "x"])).code, 2);
  assert.equal((await cli(["tokenize", ...M, "--file", join(metaDir, "no-such-file.txt")])).code, 1);
  assert.equal((await cli(["tokenize", "--model", join(metaDir, "missing"), "x"])).code, 1);
});

test("detokenize accepts spaces, commas or a JSON array and prints the text exactly", async () => {
  assert.deepEqual(parseIds(["1", "2,3", " 4 "]), [1, 2, 3, 4]);
  assert.deepEqual(parseIds(["[9906, 1917]"]), [9906, 1917]);
  assert.throws(() => parseIds(["12x"]), UsageError);
  assert.throws(() => parseIds(["[]"]), UsageError);
  const ids = meta.encode("Hello world!\n", { addSpecialTokens: false });
  assert.deepEqual(await cli(["detokenize", ...M, ...ids.map(String)]), { code: 0, stdout: "Hello world!\n", stderr: "" });
  assert.equal((await cli(["detokenize", ...M, "--skip-special", "128000", "9906"])).stdout, "Hello");
  const outOfRange = await cli(["detokenize", ...M, "9906", "128256"]);
  assert.equal(outOfRange.code, 1);
  assert.match(outOfRange.stderr, /ids\[1\] = 128256 is not in the vocabulary/);
  assert.equal((await cli(["detokenize", "12x"])).code, 2);
  assert.equal((await cli(["detokenize"])).code, 2);
});

test("the built executable round-trips file bytes through tokenize and detokenize", () => {
  // The executable sits beside this compiled test in the same build folder: <out>/src/cli/bin.js.
  const bin = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));
  assert.ok(existsSync(bin), `${bin} is missing: the build did not produce the CLI`);
  const dir = mkdtempSync(join(tmpdir(), "llama3-cli-"));
  try {
    const text = "Llamas 🦙 say:\r\n\t'hello'  \u3000end";
    const file = join(dir, "in.txt");
    writeFileSync(file, text);
    const tok = spawnSync(process.execPath, [bin, "tokenize", ...M, "--file", file], { encoding: "utf8" });
    assert.equal(tok.status, 0, tok.stderr);
    const ids = tok.stdout.trim().split(" ");
    assert.deepEqual(ids.map(Number), meta.encode(text, { addSpecialTokens: false }));
    const detok = spawnSync(process.execPath, [bin, "detokenize", ...M, ...ids], { encoding: "utf8" });
    assert.equal(detok.status, 0, detok.stderr);
    assert.equal(detok.stdout, text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
