// Running the `llama3` CLI in tests: in-process through runCli with captured output, or as a real
// child process of the built binary.

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { CliIo } from "../../src/cli/command.js";
import { runCli } from "../../src/cli/main.js";
import { PROJECT_ROOT } from "./paths.js";

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stdoutBytes: Uint8Array;
  readonly stderr: string;
}

/** Run the CLI in-process with `stdin` as its standard input. */
export async function runCliCaptured(argv: readonly string[], stdin: Uint8Array = new Uint8Array()): Promise<CliResult> {
  const out: Uint8Array[] = [];
  let stderr = "";
  const encoder = new TextEncoder();
  const io: CliIo = {
    stdout: (text) => out.push(encoder.encode(text)),
    stdoutBytes: (bytes) => out.push(bytes.slice()),
    stderr: (text) => { stderr += text; },
    readStdin: async () => stdin,
  };
  const code = await runCli(argv, io);
  const stdoutBytes = new Uint8Array(Buffer.concat(out));
  return { code, stdout: new TextDecoder().decode(stdoutBytes), stdoutBytes, stderr };
}

/** The built `llama3` executable (dist/src/cli/bin.js of the project's own build). */
export const CLI_BIN = join(PROJECT_ROOT, "dist", "src", "cli", "bin.js");

/** Run the built binary as a child process. */
export function runCliProcess(argv: readonly string[], stdin?: Uint8Array): CliResult {
  const result = spawnSync(process.execPath, [CLI_BIN, ...argv], { input: stdin ?? new Uint8Array(), maxBuffer: 64 << 20 });
  return {
    code: result.status ?? -1,
    stdout: result.stdout.toString("utf8"),
    stdoutBytes: new Uint8Array(result.stdout),
    stderr: result.stderr.toString("utf8"),
  };
}
