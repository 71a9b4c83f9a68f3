// Which GGUF file a model path names: the path of a `.gguf` file, or a folder holding exactly one
// (besides no config.json / params.json / tokenizer.json, which make it another kind of folder;
// the callers check those first). Split GGUFs (`-00001-of-00003.gguf`) are not read yet.

import { existsSync, join, readdirSync, statSync } from "#platform";
import { FormatError, UnsupportedError } from "../../errors.js";

/** File name suffix of GGUF files. */
export const GGUF_SUFFIX = ".gguf";

const SPLIT_FILE = /-\d{5}-of-\d{5}\.gguf$/;

/**
 * The GGUF file `path` names, or undefined when it names none (a folder without .gguf files, or
 * a file of another kind).
 * @throws FormatError for a folder with several .gguf files; UnsupportedError for a split GGUF
 */
export function findGgufFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const info = statSync(path);
  let file: string | undefined;
  if (info.isFile()) {
    file = path.toLowerCase().endsWith(GGUF_SUFFIX) ? path : undefined;
  } else if (info.isDirectory()) {
    const found = readdirSync(path).filter((n) => n.toLowerCase().endsWith(GGUF_SUFFIX) && !n.startsWith(".")).sort();
    if (found.length > 1) throw new FormatError(path, `${found.length} .gguf files here (${found.slice(0, 4).join(", ")}${found.length > 4 ? ", ..." : ""}); give the file to load`);
    file = found.length === 1 ? join(path, found[0]!) : undefined;
  }
  if (file !== undefined && SPLIT_FILE.test(file)) throw new UnsupportedError(`${file}: split GGUF files are not supported yet; merge them with llama.cpp's gguf-split --merge`);
  return file;
}
