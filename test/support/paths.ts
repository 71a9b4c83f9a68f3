// Where tests find things: the project root (the folder with package.json, found by walking up from
// the compiled file, so tests work from any build folder) and the read-only ../shared fixtures.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "tsconfig.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("test support: project root (package.json + tsconfig.json) not found");
    dir = parent;
  }
}

/** The project root. */
export const PROJECT_ROOT = findRoot();

/** A path inside ../shared/fixtures (read-only; never copy these into the repo). */
export function fixturePath(...parts: string[]): string {
  return join(PROJECT_ROOT, "..", "shared", "fixtures", ...parts);
}
