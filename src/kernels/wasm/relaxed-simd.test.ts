// Runs the WebAssembly kernel conformance tests again in a child Node with relaxed SIMD switched on,
// when this runtime does not validate the relaxed-SIMD build by default (Node 20 needs
// --experimental-wasm-relaxed-simd), so both builds are tested by a plain `npm test`. Skipped where
// relaxed SIMD is on already (the conformance tests cover both builds then) or the flag is unknown.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { kernelBuildSupported } from "./module.js";

const FLAG = "--experimental-wasm-relaxed-simd";
const here = dirname(fileURLToPath(import.meta.url));
const SUITES = ["conformance-matmul.test.js", "conformance-ops.test.js", "conformance-quant.test.js"].map((name) => join(here, name));

const flagKnown = (): boolean => spawnSync(process.execPath, [FLAG, "-e", "0"], { encoding: "utf8" }).status === 0;

test("the relaxed-SIMD build passes the conformance tests (child process with the V8 flag)", (t) => {
  if (kernelBuildSupported("relaxed-simd")) return t.skip("relaxed SIMD is on in this runtime: the conformance tests ran both builds");
  if (!flagKnown()) return t.skip(`this Node does not know ${FLAG}`);
  // Without NODE_TEST_CONTEXT, which would make the child report to a parent runner, not to stdout.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== "NODE_TEST_CONTEXT"));
  const child = spawnSync(process.execPath, [FLAG, "--test", "--test-reporter=tap", ...SUITES], { encoding: "utf8", env, timeout: 120_000 });
  assert.equal(child.status, 0, `child conformance run failed:\n${child.stdout}\n${child.stderr}`);
  assert.match(child.stdout, /builds tested: simd, relaxed-simd/, "the child ran the relaxed-SIMD build");
  t.diagnostic("relaxed-simd build: conformance passed in a child with " + FLAG);
});
