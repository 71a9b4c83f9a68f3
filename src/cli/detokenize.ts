// `llama3 detokenize`: Llama 3 token ids back to text. Ids come as arguments, separated by spaces or
// commas, or as a JSON array (so `llama3 tokenize` output, plain or --json, can be pasted back). The
// text is printed exactly, with no newline added, so tokenize -> detokenize round-trips byte for byte.

import { booleanFlag, parseFlags, stringFlag } from "./args.js";
import { type Command, UsageError } from "./command.js";
import { tokenizerFromFlag } from "./tokenize.js";

const USAGE = [
  "llama3 detokenize [--model DIR] [--skip-special] IDS...",
  "  IDS: token ids separated by spaces or commas, or a JSON array: 9906 1917 | 9906,1917 | [9906,1917]",
  "  prints the decoded text exactly (no newline is added)",
  "  --skip-special  leave out special tokens (<|begin_of_text|>, <|eot_id|>, ...)",
  "  --model DIR     a folder with tokenizer.json or tokenizer.model (default: the bundled Llama 3 tokenizer)",
].join("\n");

/** Ids from the arguments: "1 2", "1,2", "[1, 2]" or several such arguments. */
export function parseIds(positionals: readonly string[]): number[] {
  const joined = positionals.join(" ").trim();
  const inner = joined.startsWith("[") && joined.endsWith("]") ? joined.slice(1, -1) : joined;
  const parts = inner.split(/[\s,]+/).filter((p) => p !== "");
  if (parts.length === 0) throw new UsageError(`no token ids given\nusage: ${USAGE}`);
  return parts.map((part) => {
    if (!/^\d+$/.test(part)) throw new UsageError(`"${part}" is not a token id (a non-negative integer)\nusage: ${USAGE}`);
    return Number(part);
  });
}

export const detokenizeCommand: Command = {
  name: "detokenize",
  summary: "turn Llama 3 token ids into text",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, { model: { type: "string" }, "skip-special": { type: "boolean" } }, USAGE);
    const ids = parseIds(args.positionals);
    const tokenizer = await tokenizerFromFlag(stringFlag(args, "model"));
    io.stdout(tokenizer.decode(ids, { skipSpecialTokens: booleanFlag(args, "skip-special") }));
  },
};
