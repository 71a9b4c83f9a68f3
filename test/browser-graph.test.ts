// The browser entry's import graph (scripts/build-browser.mjs walks it from the compiled entry
// points, following static imports, literal dynamic imports and `new URL("./x.js", import.meta.url)`
// workers): no node:* module and no bare specifier the browser build cannot map; "#platform" is
// platform-web there; the worker scripts and the kernel provider are in it; and in the sources, no
// file outside the Node-only folders imports node:* (type imports included, which tsc erases and
// the walk cannot see), so host access goes through #platform. Runs without a browser.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { PROJECT_ROOT } from "./support/paths.js";

interface Graph {
  readonly files: Map<string, string[]>;
  readonly problems: { file: string; specifier: string }[];
}
const script = (await import(pathToFileURL(join(PROJECT_ROOT, "scripts", "build-browser.mjs")).href)) as {
  browserGraph: (entries?: string[]) => Graph;
  specifiersOf: (code: string) => string[];
};

test("nothing reachable from the browser entry imports node:* (or an unmapped package)", () => {
  const { files, problems } = script.browserGraph();
  assert.deepEqual(problems.map((p) => `${relative(PROJECT_ROOT, p.file)} -> ${p.specifier}`), []);
  const reached = new Set([...files.keys()].map((f) => relative(join(PROJECT_ROOT, "dist", "src"), f).split("\\").join("/")));
  for (const expected of ["browser/index.js", "browser/engine-worker.js", "platform/platform-web.js", "backend/wasm/worker.js", "backend/wasm/wasm-kernels.js", "tokenizer/tokenizer.js", "generate/engine.js"]) {
    assert.ok(reached.has(expected), `${expected} is in the graph`);
  }
  for (const nodeOnly of ["platform/platform-node.js", "backend/wasm/platform-node.js", "loader/pretrained.js", "io/safetensors-reader.js"]) {
    assert.ok(!reached.has(nodeOnly), `${nodeOnly} is not in the graph`);
  }
});

test("a node:* import anywhere down the graph is a problem the build refuses", () => {
  const dir = mkdtempSync(join(tmpdir(), "browser-graph-"));
  writeFileSync(join(dir, "entry.js"), 'import { b } from "./b.js";\n');
  writeFileSync(join(dir, "b.js"), 'export { b } from "./c.js";\n');
  writeFileSync(join(dir, "c.js"), 'import { open } from "node:fs/promises";\nexport const b = open;\n');
  const { problems } = script.browserGraph([join(dir, "entry.js")]);
  assert.deepEqual(problems, [{ file: join(dir, "c.js"), specifier: "node:fs/promises" }]);
});

/** Folders (and files) of src/ that run on Node only and may import node:* directly. */
const NODE_ONLY = ["cli/", "server/", "train/", "platform/platform-node.ts", "backend/wasm/platform-node.ts"];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [join(dir, e.name)] : []);
}

test("outside the Node-only folders no source file imports node:* (host access is #platform)", () => {
  const src = join(PROJECT_ROOT, "src");
  const offenders = sourceFiles(src)
    .map((f) => relative(src, f).split("\\").join("/"))
    .filter((f) => !NODE_ONLY.some((n) => f.startsWith(n)))
    .flatMap((f) => script.specifiersOf(readFileSync(join(src, f), "utf8")).filter((s) => s.startsWith("node:")).map((s) => `${f} -> ${s}`));
  assert.deepEqual(offenders, []);
});

test("the walk finds every kind of import and ignores comments", () => {
  const code = [
    'import { a } from "./a.js";',
    'import {\n  b,\n  c,\n} from "node:fs";',
    'export { d } from "../d.js";',
    'import "./side-effect.js";',
    'const m = await import("node:os");',
    'const w = new URL("./worker.js", import.meta.url);',
    '// import { x } from "node:path";',
    '/* import "node:child_process"; */',
    'const s = "http://example.com"; import { e } from "#platform";',
  ].join("\n");
  assert.deepEqual(script.specifiersOf(code).sort(), ["#platform", "../d.js", "./a.js", "./side-effect.js", "./worker.js", "node:fs", "node:os"].sort());
});

test("platform-node and platform-web export the same names", async () => {
  const node = await import("../src/platform/platform-node.js");
  const web = await import("../src/platform/platform-web.js");
  assert.deepEqual(Object.keys(web).sort(), Object.keys(node).sort());
  assert.equal(web.join("https://h.test/models/", "/tiny/", "config.json"), "https://h.test/models/tiny/config.json");
  assert.equal(web.endianness(), node.endianness());
  assert.throws(() => web.existsSync("/tmp"), /no file system/);
});
