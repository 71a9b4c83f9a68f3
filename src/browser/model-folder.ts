// A model "folder" in a web page: the base URL of a folder on an HTTP server (each file fetched
// relative to it) or the File objects a user picked (a folder picker, drag and drop), found by file
// name. Both give ByteSources; a missing file is undefined, so callers can look for optional files.

import { type ByteSource, type Fetch, blobSource, urlSource } from "./byte-source.js";

/** Where a model's files are. */
export interface ModelFolder {
  /** The base URL, or "picked files", for messages. */
  readonly name: string;
  /** The file `name` (e.g. "config.json"), or undefined when there is none. */
  open(name: string): Promise<ByteSource | undefined>;
}

/** A File as this file needs it (name and optional folder-relative path). */
export interface NamedBlob extends Blob {
  readonly name: string;
  readonly webkitRelativePath?: string;
}

/** What fromPretrained accepts: a folder URL (absolute, or relative to the page) or picked files. */
export type ModelSource = string | URL | ModelFolder | ArrayLike<NamedBlob>;

/** Whether a file name or URL path names a GGUF file (ends in .gguf, any case). */
export const isGgufName = (name: string): boolean => name.toLowerCase().endsWith(".gguf");

/**
 * The absolute URL of a model (a relative one against the page): a GGUF file's URL (its path ends
 * in .gguf) as it is, a folder's with a trailing slash ("models/tiny" and "models/tiny/" name the
 * same folder).
 */
export function modelUrl(url: string | URL): { readonly href: string; readonly gguf: boolean } {
  const page = (globalThis as { location?: { href: string } }).location?.href;
  const href = String(url);
  const absolute = new URL(href, page);
  if (isGgufName(absolute.pathname)) return { href: absolute.href, gguf: true };
  return { href: new URL(href.endsWith("/") ? href : `${href}/`, page).href, gguf: false };
}

/** The folder at `base`: "models/tiny" and "models/tiny/" name the same folder. */
export function urlFolder(base: string | URL, fetchFn?: Fetch): ModelFolder {
  const page = (globalThis as { location?: { href: string } }).location?.href;
  const href = String(base);
  const absolute = new URL(href.endsWith("/") ? href : `${href}/`, page).href;
  return { name: absolute, open: (name) => urlSource(new URL(name, absolute).href, fetchFn) };
}

/**
 * Picked files as a folder. Files are found by their name; from a folder picker, files in
 * subfolders (`original/` of an HF download) are skipped unless no top-level file has that name.
 */
export function fileFolder(files: ArrayLike<NamedBlob>): ModelFolder {
  const byName = new Map<string, NamedBlob>();
  const depth = (f: NamedBlob): number => (f.webkitRelativePath ?? "").split("/").length;
  for (const file of Array.from(files)) {
    const seen = byName.get(file.name);
    if (seen === undefined || depth(file) < depth(seen)) byName.set(file.name, file);
  }
  return {
    name: `picked files (${byName.size})`,
    open: (name) => {
      const file = byName.get(name);
      return Promise.resolve(file === undefined ? undefined : blobSource(file, file.webkitRelativePath || file.name));
    },
  };
}

/** The folder a ModelSource names. */
export function modelFolder(source: ModelSource, fetchFn?: Fetch): ModelFolder {
  if (typeof source === "string" || source instanceof URL) return urlFolder(source, fetchFn);
  if ("open" in source && typeof source.open === "function") return source;
  return fileFolder(source as ArrayLike<NamedBlob>);
}
