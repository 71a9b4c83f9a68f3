// The `llama3` commands users start with, run as a user runs them: the built binary in a child
// process, real stdout/stderr/stdin and signals. `generate` works with no --model (the built-in
// tiny model, with a one-line note), `--json` reports what was streamed, and `chat` holds a
// conversation through stdin: /reset forgets it, Ctrl-C (SIGINT) stops a reply but not the program.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { GENERATION_FLAGS } from "../src/cli/generation-flags.js";
import { MODEL_FLAGS } from "../src/cli/model-flags.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { CLI_BIN, runCliProcess } from "./support/cli.js";

// Short and seeded (the built-in model samples, as Llama 3.2 Instruct's generation_config says), so
// replies are deterministic and quick. Greedy decoding of this random tied-embedding model just
// repeats the last token, which would make different turns look alike.
const QUICK = ["--seed", "5", "--max-new-tokens", "8"];

test("generate PROMPT works without --model: text on stdout, one note line on stderr", () => {
  const result = runCliProcess(["generate", "Hello", ...QUICK]);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(result.stdout.trim().length > 0, "some text was generated");
  const notes = result.stderr.trim().split("\n");
  assert.equal(notes.length, 1, result.stderr);
  assert.match(notes[0]!, /random weights.*meaningless.*--model/);
});

test("generate --json prints the ids, the streamed text, the finish reason and --stats numbers", async () => {
  const streamed = runCliProcess(["generate", "Hello", ...QUICK]);
  const result = runCliProcess(["generate", "Hello", ...QUICK, "--json", "--stats"]);
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout) as { prompt_ids: number[]; generated_ids: number[]; text: string; finish_reason: string; stats: Record<string, number> };
  const tokenizer = await Tokenizer.bundled();
  assert.deepEqual(printed.prompt_ids, tokenizer.encode("Hello"));
  assert.equal(printed.generated_ids.length, 8);
  assert.equal(printed.finish_reason, "length");
  assert.equal(printed.text, tokenizer.decode(printed.generated_ids, { skipSpecialTokens: true }));
  assert.equal(streamed.stdout, `${printed.text}\n`);
  assert.equal(printed.stats["prompt_tokens"], printed.prompt_ids.length);
  assert.equal(printed.stats["generated_tokens"], 8);
  for (const key of ["load_seconds", "prefill_tokens_per_second", "decode_tokens_per_second", "peak_rss_bytes"]) assert.ok(printed.stats[key]! > 0, key);
  assert.match(result.stderr, /stats: load .* prefill .* tok\/s, decode .* tok\/s .* peak RSS \d+ MiB/);
});

/** A running `llama3 chat`: write lines, wait for output. */
function startChat(args: readonly string[]): { write: (line: string) => void; waitFor: (pattern: RegExp, ms?: number) => Promise<string>; output: () => string; exit: Promise<number | null>; kill: (signal: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [CLI_BIN, "chat", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
    for (const l of listeners) l();
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    write: (line) => child.stdin.write(`${line}\n`),
    output: () => stdout,
    kill: (signal) => child.kill(signal),
    exit,
    waitFor: (pattern, ms = 20000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = pattern.exec(stdout);
          if (m === null) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m[0]);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; stdout: ${JSON.stringify(stdout)}; stderr: ${JSON.stringify(stderr)}`));
        }, ms);
        listeners.add(check);
        check();
      }),
  };
}

test("chat through stdin: replies stream, /reset forgets the conversation, /exit quits", async () => {
  // The first reply to "Hi" must equal `generate --chat Hi`; after /reset, "Hi" gets that same reply
  // again, while without the reset the second turn sees a longer conversation.
  const single = runCliProcess(["generate", "Hi", "--chat", ...QUICK, "--json"]);
  const expected = (JSON.parse(single.stdout) as { text: string }).text;
  const chat = startChat(QUICK);
  chat.write("Hi");
  chat.write("Hi");
  chat.write("/reset");
  chat.write("Hi");
  chat.write("/exit");
  assert.equal(await chat.exit, 0);
  const output = chat.output();
  assert.ok(output.startsWith(`${expected}\n`), JSON.stringify(output));
  assert.ok(output.endsWith(`\n(conversation cleared)\n${expected}\n`), JSON.stringify(output));
  const second = output.slice(expected.length + 1, output.length - `\n(conversation cleared)\n${expected}\n`.length);
  assert.notEqual(second, expected, "the second turn saw the first (its context differs)");
});

test("Ctrl-C stops the current reply, not the program", async () => {
  const chat = startChat(["--max-new-tokens", "100000", "--ignore-eos"]);
  chat.write("Tell me a long story");
  await chat.waitFor(/\S/); // the reply has started
  chat.kill("SIGINT");
  await chat.waitFor(/\[stopped\]\n/);
  chat.write("/exit");
  assert.equal(await chat.exit, 0);
});

test("--help documents every option of generate and chat", () => {
  for (const command of ["generate", "chat"]) {
    const help = runCliProcess([command, "--help"]);
    assert.equal(help.code, 0);
    for (const flag of [...Object.keys(GENERATION_FLAGS), ...Object.keys(MODEL_FLAGS)]) assert.match(help.stdout, new RegExp(`--${flag}\\b`), `${command} --help lacks --${flag}`);
  }
  const top = runCliProcess(["--help"]);
  for (const command of ["generate", "chat", "serve", "convert"]) assert.match(top.stdout, new RegExp(`\\n  ${command} `));
});
