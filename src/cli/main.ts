// The `llama3` command-line entry point: picks the subcommand, runs it, and is the only place that
// turns errors into a one-line message and an exit code (2: usage, 1: any other failure). A stack
// trace is printed only with --verbose.

import { createInterface } from "node:readline";
import { LlamaError } from "../errors.js";
import { type CliIo, type Command, UsageError } from "./command.js";
import { convertCommand } from "./convert.js";
import { chatCommand } from "./chat.js";
import { detokenizeCommand } from "./detokenize.js";
import { generateCommand } from "./generate.js";
import { logitsCommand } from "./logits.js";
import { mergeAdapterCommand } from "./merge-adapter.js";
import { finetuneCommand } from "./finetune.js";
import { serveCommand } from "./serve.js";
import { tokenizeCommand } from "./tokenize.js";

const COMMANDS: readonly Command[] = [generateCommand, chatCommand, logitsCommand, tokenizeCommand, detokenizeCommand, convertCommand, serveCommand, mergeAdapterCommand, finetuneCommand];

function helpText(): string {
  const lines = ["usage: llama3 <command> [options]   (llama3 <command> --help for its options)", "", "commands:"];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(12)} ${c.summary}`);
  return lines.join("\n") + "\n";
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stdoutBytes: (bytes) => process.stdout.write(bytes),
  stderr: (text) => process.stderr.write(text),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return new Uint8Array(Buffer.concat(chunks));
  },
  stdinLines: () => {
    const isTTY = process.stdin.isTTY === true;
    const rl = createInterface({ input: process.stdin, terminal: isTTY });
    // On a terminal, readline takes Ctrl-C itself (raw mode); pass it on as the process signal.
    rl.on("SIGINT", () => process.emit("SIGINT", "SIGINT"));
    // Start buffering lines now: readline's iterator drops lines that arrive before it exists
    // (typed, or piped, while the model loads).
    const iterator = rl[Symbol.asyncIterator]();
    return { lines: { [Symbol.asyncIterator]: () => iterator }, close: () => rl.close(), isTTY };
  },
  onInterrupt: (handler) => {
    process.on("SIGINT", handler);
    return () => process.off("SIGINT", handler);
  },
};

/** Run the CLI with `argv` (without node and script); returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // Flags after "--" are the command's operands (text to tokenize may be "--verbose").
  const end = argv.indexOf("--");
  const flags = end < 0 ? argv : argv.slice(0, end);
  const verbose = flags.includes("--verbose");
  const rest = [...flags.filter((a) => a !== "--verbose"), ...(end < 0 ? [] : argv.slice(end))];
  const [name, ...commandArgs] = rest;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout(helpText());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.stderr(`llama3: unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(", ")} (llama3 --help)\n`);
    return 2;
  }
  const commandFlags = end < 0 ? commandArgs : commandArgs.slice(0, commandArgs.indexOf("--"));
  if (commandFlags.includes("--help") || commandFlags.includes("-h")) {
    io.stdout(`usage: ${command.usage}\n`);
    return 0;
  }
  try {
    await command.run(commandArgs, io);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`llama3 ${name}: ${message.split("\n").join(" ")}\n`);
    if (verbose && error instanceof Error && error.stack !== undefined) io.stderr(`${error.stack}\n`);
    if (error instanceof UsageError) return 2;
    if (!(error instanceof LlamaError) && !verbose) io.stderr(`llama3 ${name}: unexpected error; run with --verbose for details\n`);
    return 1;
  }
}
