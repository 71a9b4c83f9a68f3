// The error of a training data file: which file, which line (1-based, 0 for the file as a whole) and
// which field of the line's JSON object is wrong, so a user can fix a JSONL file of millions of lines
// without searching it. Thrown by `data.ts` and `data-format.ts`; the CLI prints its message.

import { LlamaError } from "../errors.js";

/** A training data file or one of its lines that cannot be used. */
export class DatasetError extends LlamaError {
  override readonly name = "DatasetError";
  readonly file: string;
  /** 1-based line number; 0 when the problem is the file as a whole (missing, empty). */
  readonly line: number;
  /** The offending field as a path into the line's object ("messages[2].content"), when one is. */
  readonly field: string | undefined;

  constructor(file: string, line: number, field: string | undefined, message: string, options?: { cause?: unknown }) {
    const where = line > 0 ? `${file}:${line}` : file;
    super(`${where}: ${field === undefined ? "" : `${field}: `}${message}`, options);
    this.file = file;
    this.line = line;
    this.field = field;
  }
}
