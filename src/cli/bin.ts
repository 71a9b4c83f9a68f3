#!/usr/bin/env node
// The executable behind `llama3`: runs the CLI on the process arguments and sets the exit code.

import { runCli } from "./main.js";

process.exitCode = await runCli(process.argv.slice(2));
