// `llama3 tokenize`: text to Llama 3 token ids. Input is TEXT, a file, or standard input, taken
// byte-exact (UTF-8, a BOM or CRLF stays what it is; invalid UTF-8 is an error, never replaced);
// `--jsonl` tokenizes many texts in one process (one JSON string per input line, one JSON array of
// ids per output line). Without --model the bundled Llama 3 tokenizer is used.

import { readFile } from "node:fs/promises";
import { FormatError } from "../errors.js";
import { invalidUtf8Offset, Tokenizer } from "../tokenizer/index.js";
import { booleanFlag, parseFlags, stringFlag } from "./args.js";
import { type CliIo, type Command, UsageError } from "./command.js";

const USAGE = [
  "llama3 tokenize [--model DIR] [--bos] [--no-special] [--json] (--file F | TEXT)",
  "       llama3 tokenize [--model DIR] [--bos] [--no-special] --jsonl [--file F]",
  "  prints the ids on one line, separated by single spaces (--json: a JSON array)",
  "  --file -     read the text from standard input (bytes, decoded as strict UTF-8)",
  "  --bos        add BOS (the special tokens the tokenizer adds around a text)",
  "  --no-special encode special-token strings such as <|eot_id|> as plain text (Meta's encode)",
  "  --jsonl      each input line (from --file, else stdin) is a JSON string; prints one JSON array per line",
  "  --model DIR  a folder with tokenizer.json or tokenizer.model (default: the bundled Llama 3 tokenizer)",
].join("\n");

/** The tokenizer of --model, or the bundled one. */
export async function tokenizerFromFlag(dir: string | undefined): Promise<Tokenizer> {
  return dir === undefined ? Tokenizer.bundled() : Tokenizer.fromPretrained(dir);
}

/** Bytes as text, strictly: invalid UTF-8 is a FormatError naming the source and the byte offset. */
function strictUtf8(bytes: Uint8Array, source: string): string {
  const bad = invalidUtf8Offset(bytes);
  if (bad >= 0) throw new FormatError(source, "input is not valid UTF-8", { byteOffset: bad });
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

async function readInput(file: string | undefined, io: CliIo): Promise<{ text: string; source: string }> {
  const source = file === undefined || file === "-" ? "<stdin>" : file;
  let bytes: Uint8Array;
  try {
    bytes = source === "<stdin>" ? await io.readStdin() : new Uint8Array(await readFile(source));
  } catch (error) {
    throw new FormatError(source, `cannot read --file: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return { text: strictUtf8(bytes, source), source };
}

export const tokenizeCommand: Command = {
  name: "tokenize",
  summary: "turn text into Llama 3 token ids",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, {
      model: { type: "string" },
      bos: { type: "boolean" },
      "no-special": { type: "boolean" },
      file: { type: "string" },
      json: { type: "boolean" },
      jsonl: { type: "boolean" },
    }, USAGE);
    const file = stringFlag(args, "file");
    const jsonl = booleanFlag(args, "jsonl");
    if (args.positionals.length > 1) throw new UsageError(`give the text as one argument (quote it)\nusage: ${USAGE}`);
    const positional = args.positionals[0];
    if (positional !== undefined && (file !== undefined || jsonl)) throw new UsageError(`give TEXT or --file/--jsonl, not both\nusage: ${USAGE}`);
    if (positional === undefined && file === undefined && !jsonl) throw new UsageError(`nothing to tokenize: give TEXT or --file F\nusage: ${USAGE}`);
    if (jsonl && booleanFlag(args, "json")) throw new UsageError("--jsonl already prints JSON; drop --json");

    const input = positional === undefined ? await readInput(file, io) : { text: positional, source: "TEXT" };
    // Bad input lines are reported before the (slower) tokenizer load.
    const texts = jsonl ? parseJsonl(input.text, input.source) : undefined;
    const tokenizer = await tokenizerFromFlag(stringFlag(args, "model"));
    const options = { addSpecialTokens: booleanFlag(args, "bos"), allowedSpecial: booleanFlag(args, "no-special") ? "none" : "all" } as const;
    if (texts === undefined) {
      const ids = tokenizer.encode(input.text, options);
      io.stdout(booleanFlag(args, "json") ? `${JSON.stringify(ids)}\n` : `${ids.join(" ")}\n`);
      return;
    }
    for (let i = 0; i < texts.length; i += JSONL_BATCH) {
      const rows = texts.slice(i, i + JSONL_BATCH).map((text) => JSON.stringify(tokenizer.encode(text, options)));
      io.stdout(`${rows.join("\n")}\n`);
    }
  },
};

/** Output lines written per stdout call in --jsonl mode. */
const JSONL_BATCH = 1024;

/** The JSON string of every line (a final newline ends the last line; CRLF is accepted). */
function parseJsonl(text: string, source: string): string[] {
  // A byte-order mark starts some UTF-8 files: it marks the encoding, not the first line's JSON.
  const lines = (text.startsWith("\uFEFF") ? text.slice(1) : text).split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((raw, index) => parseJsonlLine(raw.endsWith("\r") ? raw.slice(0, -1) : raw, index + 1, source));
}

function parseJsonlLine(line: string, lineNo: number, source: string): string {
  let value: unknown;
  try {
    value = JSON.parse(line) as unknown;
  } catch (error) {
    const why = line.trim() === "" ? "an empty line" : error instanceof Error ? error.message : String(error);
    throw new FormatError(source, `line ${lineNo}: expected a JSON string, got ${why}`, { cause: error });
  }
  if (typeof value !== "string") throw new FormatError(source, `line ${lineNo}: expected a JSON string, got ${value === null ? "null" : typeof value}`);
  return value;
}
