// Writing a whole output folder atomically: everything is written into a hidden temporary sibling
// folder, which is renamed to the final name only when complete, so a failed or interrupted
// conversion never leaves a folder that looks like a finished checkpoint. On failure the temporary
// folder is removed. An existing non-empty folder is replaced only when asked (it is moved aside,
// the new one renamed in, then the old one deleted). A rename within one parent folder is atomic on
// POSIX file systems; both folders are siblings for that reason.

import { basename, dirname, isAbsolute, join, mkdir, randomBytes, readdir, realpath, relative, rename, resolve, rm, rmdir, stat } from "#platform";
import { ArgumentError } from "../errors.js";

/** Options of {@link writeFolderAtomically}. */
export interface AtomicFolderOptions {
  /** Replace an existing non-empty folder (default false: refuse it). */
  readonly overwrite?: boolean;
  /** Folders the output must not contain or be (the input: replacing the output must not delete it). */
  readonly protect?: readonly string[];
}

/** Prefix of the temporary folders, so a leftover of a killed process is recognisable. */
export const TEMP_FOLDER_MARKER = ".llama3-ts-tmp-";

/** What is at `path`: nothing, an empty folder, a folder with files, or something else. */
async function describe(path: string): Promise<"missing" | "empty" | "full" | "other"> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw error;
  }
  if (!info.isDirectory()) return "other";
  return (await readdir(path)).length === 0 ? "empty" : "full";
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** `path` with symbolic links resolved as far as it exists (the rest appended as written). */
async function canonicalPath(path: string): Promise<string> {
  const rest: string[] = [];
  for (let existing = resolve(path); ; existing = dirname(existing)) {
    try {
      return join(await realpath(existing), ...rest.reverse());
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || dirname(existing) === existing) return resolve(path);
    }
    rest.push(basename(existing));
  }
}

/**
 * Check that `outputDir` may be written: not a file, not a non-empty folder unless `overwrite`, and
 * not one of the protected folders or a folder that contains one. Call before any work is done.
 * @throws ArgumentError saying what is in the way and how to proceed
 */
export async function checkOutputFolder(outputDir: string, options: AtomicFolderOptions = {}): Promise<void> {
  const out = resolve(outputDir);
  const realOut = await canonicalPath(outputDir);
  for (const protectedDir of options.protect ?? []) {
    // Compared through symbolic links too: replacing `link/model` must not delete `real/model`.
    if (isInside(resolve(protectedDir), out) || isInside(await canonicalPath(protectedDir), realOut)) {
      throw new ArgumentError(`output folder ${outputDir} is or contains the input folder ${protectedDir}; choose another output folder`);
    }
  }
  const state = await describe(out);
  if (state === "other") throw new ArgumentError(`output ${outputDir} exists and is not a folder`);
  if (state === "full" && options.overwrite !== true) {
    throw new ArgumentError(`output folder ${outputDir} exists and is not empty; choose a new folder or allow replacing it (llama3 convert --force)`);
  }
  if (state === "full" && !(await looksLikeCheckpoint(out))) {
    // Replacing deletes the old folder: only ever one that holds a checkpoint, never e.g. a folder of models.
    throw new ArgumentError(`output folder ${outputDir} does not look like a checkpoint folder (only files, with config.json or .safetensors), so it is not replaced even when asked; choose another folder`);
  }
}

/** A folder of files only, among them config.json or a .safetensors file. */
async function looksLikeCheckpoint(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.every((e) => e.isFile()) && entries.some((e) => e.name === "config.json" || e.name.endsWith(".safetensors"));
}

/**
 * Run `write` on a new temporary folder beside `outputDir`, then move the result to `outputDir`.
 * On any failure the temporary folder is removed and `outputDir` is left as it was.
 * @param write fills the folder it is given
 * @returns what `write` returned
 * @throws ArgumentError from checkOutputFolder; whatever `write` throws
 * @example
 * await writeFolderAtomically("out", async (dir) => { await writeFile(join(dir, "config.json"), text); });
 */
export async function writeFolderAtomically<T>(outputDir: string, write: (tempDir: string) => Promise<T>, options: AtomicFolderOptions = {}): Promise<T> {
  await checkOutputFolder(outputDir, options);
  const out = resolve(outputDir);
  const parent = dirname(out);
  const createdTop = await mkdir(parent, { recursive: true }); // the first folder it had to create, if any
  const tag = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const temp = join(parent, `${TEMP_FOLDER_MARKER}${basename(out)}-${tag}`);
  await mkdir(temp);
  let result: T;
  try {
    result = await write(temp);
    await moveIntoPlace(temp, out, join(parent, `${TEMP_FOLDER_MARKER}${basename(out)}-${tag}-old`), options.overwrite === true);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    if (createdTop !== undefined) await removeEmptyFolders(parent, createdTop);
    throw error;
  }
  return result;
}

/** Remove the folders this write created for the output's parent (from `dir` up to `top`), while empty. */
async function removeEmptyFolders(dir: string, top: string): Promise<void> {
  for (let folder = dir; isInside(folder, top); folder = dirname(folder)) {
    try {
      await rmdir(folder);
    } catch {
      return; // not empty (someone else wrote there) or already gone: leave it
    }
    if (folder === top) return;
  }
}

/** Rename `temp` to `out`, replacing an empty `out`, or a full one when `overwrite`. */
async function moveIntoPlace(temp: string, out: string, aside: string, overwrite: boolean): Promise<void> {
  // Checked again: the folder may have changed while the conversion ran.
  const state = await describe(out);
  if (state === "missing") return rename(temp, out);
  if (state === "empty") {
    await rmdir(out);
    return rename(temp, out);
  }
  if (state === "other" || !overwrite) throw new ArgumentError(`output ${out} appeared or changed during the conversion; nothing was written there`);
  await rename(out, aside);
  try {
    await rename(temp, out);
  } catch (error) {
    await rename(aside, out);
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
}

/**
 * Write one output file atomically: `write` fills a hidden temporary sibling, renamed to `outputFile`
 * when it returns (rename(2) replaces a file atomically); on failure the temporary file is removed
 * and nothing is at `outputFile`. Refuses a folder, and an existing file unless `overwrite`.
 * @throws ArgumentError for an output in the way (before any work is done)
 */
export async function writeFileAtomically<T>(outputFile: string, write: (tempFile: string) => Promise<T>, options: { readonly overwrite?: boolean } = {}): Promise<T> {
  const out = resolve(outputFile);
  const state = await describe(out);
  if (state === "empty" || state === "full") throw new ArgumentError(`output ${out} is a folder; give the file to write`);
  if (state === "other" && options.overwrite !== true) throw new ArgumentError(`output ${out} exists; pass overwrite (--force) to replace it`);
  await mkdir(dirname(out), { recursive: true });
  const temp = join(dirname(out), `${TEMP_FOLDER_MARKER}${basename(out)}-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    const result = await write(temp);
    await rename(temp, out);
    return result;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
