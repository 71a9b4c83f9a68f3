// Checking Meta's `checklist.chk`: the md5 sum of every file of a downloaded model folder, one
// "<md5>  <file name>" line per file (the md5sum(1) format). Files are hashed as streams, so a 17 GB
// shard costs no more memory than a small one. The names come from the download: they must be plain
// names inside the folder (no separators, no "..").

import { createHash, createReadStream, join, readFile, stat } from "#platform";
import { FormatError } from "../../errors.js";

/** The checklist file Meta ships beside the weights. */
export const CHECKLIST_FILE_NAME = "checklist.chk";
/** Largest checklist read: Meta's list a dozen lines; this allows tens of thousands. */
export const MAX_CHECKLIST_BYTES = 1024 * 1024;
/** One line: 32 hex digits, one or two spaces (two in text mode, " *" in binary mode), a file name. */
const LINE = /^([0-9a-fA-F]{32}) [ *](.+)$/;

/** The outcome for one listed file. */
export interface ChecklistItem {
  readonly file: string;
  readonly expectedMd5: string;
  /** The file's md5 (lowercase hex), or null when the file is missing. */
  readonly actualMd5: string | null;
  readonly ok: boolean;
}

/** The outcome for a whole folder. */
export interface ChecklistResult {
  /** True when every listed file exists and matches. */
  readonly ok: boolean;
  readonly items: readonly ChecklistItem[];
}

/**
 * Hash every file listed in `<dir>/checklist.chk` and compare with the listed md5 sums.
 * @param dir The model folder.
 * @returns One item per listed file; mismatches and missing files are reported, not thrown.
 * @throws {FormatError} When the checklist is missing, too large, or has a malformed line or unsafe name.
 * @example
 * const result = await verifyChecklist("Meta-Llama-3-8B");
 * if (!result.ok) console.error(result.items.filter((i) => !i.ok));
 */
export async function verifyChecklist(dir: string): Promise<ChecklistResult> {
  const path = join(dir, CHECKLIST_FILE_NAME);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (cause) {
    throw new FormatError(path, `cannot read the checklist: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  if (size > MAX_CHECKLIST_BYTES) throw new FormatError(path, `checklist is ${size} bytes, over the limit of ${MAX_CHECKLIST_BYTES} (MAX_CHECKLIST_BYTES)`);
  const lines = (await readFile(path, "utf8")).split("\n");
  const items: ChecklistItem[] = [];
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const match = LINE.exec(line);
    if (match === null) throw new FormatError(path, `line ${index + 1} is not "<md5>  <file>": ${JSON.stringify(line.slice(0, 80))}`);
    const expectedMd5 = match[1]!.toLowerCase();
    const file = match[2]!;
    if (file === "." || file === ".." || /[\\/\0]/.test(file)) throw new FormatError(path, `line ${index + 1} names ${JSON.stringify(file)}, which is not a plain file name in this folder`);
    const actualMd5 = await md5OfFile(join(dir, file));
    items.push({ file, expectedMd5, actualMd5, ok: actualMd5 === expectedMd5 });
  }
  return { ok: items.every((item) => item.ok), items };
}

/** The md5 of a file as lowercase hex, streamed; null when the file does not exist. */
async function md5OfFile(path: string): Promise<string | null> {
  const hash = createHash("md5");
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  return hash.digest("hex");
}
