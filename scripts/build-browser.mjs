#!/usr/bin/env node
// The browser build: copies the compiled modules reachable from the browser entry points
// (dist/src/browser/index.js and engine-worker.js) into dist/browser/, with "#platform" rewritten to
// the relative path of platform-web.js and @huggingface/jinja to a copy of its ESM file, so a page
// (and its workers, which have no import maps) can load them from any static server without a
// bundler. Follows static imports, literal dynamic imports and `new URL("./x.js", import.meta.url)`
// (worker scripts, the kernel provider). Fails on any node:* import or unknown bare specifier;
// test/browser-graph.test.ts runs the same walk. Run after tsc: `node scripts/build-browser.mjs`.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST_SRC = join(ROOT, "dist", "src");
const OUT = join(ROOT, "dist", "browser");
export const BROWSER_ENTRIES = ["browser/index.js", "browser/engine-worker.js"].map((p) => join(DIST_SRC, p));

/** Bare specifiers the browser build maps, to the file they become under dist/browser/. */
const VENDORED = new Map([["@huggingface/jinja", { from: join(ROOT, "node_modules", "@huggingface", "jinja", "dist", "index.js"), to: join(OUT, "vendor", "huggingface-jinja.js") }]]);
const PLATFORM_WEB = join(DIST_SRC, "platform", "platform-web.js");

/** Code without comments (a specifier inside a comment is not an import). Strings keep "//" intact. */
function stripComments(code) {
  return code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'\\])\/\/[^\n]*/g, "$1");
}

const PATTERNS = [
  /\b(?:import|export)\s[^'";]*?\bfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  /\bnew URL\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g,
];

/** The specifiers a module names. */
export function specifiersOf(code) {
  const text = stripComments(code);
  return [...new Set(PATTERNS.flatMap((re) => [...text.matchAll(re)].map((m) => m[1])))];
}

/**
 * Walk the graph from `entries` (absolute .js paths).
 * @returns files (absolute path -> its specifiers), and the problems: node:* imports and bare
 *   specifiers the build cannot map, each with the file that names it
 */
export function browserGraph(entries = BROWSER_ENTRIES) {
  const files = new Map();
  const problems = [];
  const todo = [...entries];
  while (todo.length > 0) {
    const file = todo.pop();
    if (files.has(file)) continue;
    if (!existsSync(file)) {
      problems.push({ file, specifier: "(missing file)" });
      files.set(file, []);
      continue;
    }
    const specifiers = specifiersOf(readFileSync(file, "utf8"));
    files.set(file, specifiers);
    for (const specifier of specifiers) {
      if (specifier.startsWith("node:")) problems.push({ file, specifier });
      else if (specifier === "#platform") todo.push(PLATFORM_WEB);
      else if (specifier.startsWith(".")) todo.push(resolve(dirname(file), specifier));
      else if (VENDORED.has(specifier)) todo.push(VENDORED.get(specifier).from);
      else problems.push({ file, specifier });
    }
  }
  return { files, problems };
}

function outPath(file) {
  for (const v of VENDORED.values()) if (v.from === file) return v.to;
  return join(OUT, relative(DIST_SRC, file));
}

function relativeSpecifier(fromOut, toOut) {
  const rel = relative(dirname(fromOut), toOut).split(sep).join("/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/** Build dist/browser/; returns the number of files written. */
export function buildBrowser() {
  const { files, problems } = browserGraph();
  if (problems.length > 0) throw new Error(`browser build: ${problems.map((p) => `${relative(ROOT, p.file)} imports ${p.specifier}`).join("; ")}`);
  rmSync(OUT, { recursive: true, force: true });
  for (const file of files.keys()) {
    const target = outPath(file);
    let code = readFileSync(file, "utf8");
    const map = new Map([["#platform", relativeSpecifier(target, outPath(PLATFORM_WEB))]]);
    for (const [name, v] of VENDORED) map.set(name, relativeSpecifier(target, v.to));
    code = code.replace(/(["'])(#platform|@huggingface\/jinja)\1/g, (_, quote, name) => `${quote}${map.get(name)}${quote}`);
    code = code.replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, code);
  }
  return files.size;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const count = buildBrowser();
  console.log(`browser build: ${count} modules in ${relative(ROOT, OUT)}/`);
}
