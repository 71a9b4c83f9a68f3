// The shape of a CLI command and the I/O it is given, so commands can be run in-process by tests
// and by main.ts alike. Commands throw; only main.ts turns errors into exit codes.

import { LlamaError } from "../errors.js";

/** Where a command writes and reads; main.ts binds these to the process streams. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stdoutBytes: (bytes: Uint8Array) => void;
  readonly stderr: (text: string) => void;
  /** All of standard input as bytes. */
  readonly readStdin: () => Promise<Uint8Array>;
  /** Standard input line by line, for interactive commands (absent when there is none). */
  readonly stdinLines?: () => { lines: AsyncIterable<string>; close: () => void; isTTY: boolean };
  /**
   * Route Ctrl-C (SIGINT) to `handler` until the returned function is called; while routed, the
   * process does not exit on Ctrl-C.
   */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

/** One subcommand of `llama3`. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[], io: CliIo): Promise<void>;
}

/** Wrong command-line usage: unknown flag, missing value, bad number. Exit code 2. */
export class UsageError extends LlamaError {
  override readonly name = "UsageError";
}
