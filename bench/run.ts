// `npm run bench [-- NAME...] [--node 24|none|24,26]`: runs the named benchmarks (all when none is
// named) and prints their reports. Benchmarks are not tests: they measure speed and memory and never
// run in CI. Every report is made on the machine's Node and again on each Node of `--node` (default:
// the current LTS, fetched once from the npm registry, see node-binary.ts), one after the other in
// the same run; a benchmark that compares Nodes row by row itself (`perNode`) runs once.

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { attentionBench } from "./attention.js";
import type { Bench } from "./bench.js";
import { browserBench } from "./browser.js";
import { constraintBench } from "./constraint.js";
import { convertBench } from "./convert.js";
import { kernelsBench } from "./kernels.js";
import { loadBench } from "./load.js";
import { longContextBench } from "./long-context.js";
import { benchNodes, withoutNodeFlag } from "./node-binary.js";
import { speedBench } from "./speed.js";
import { tokenizerBench } from "./tokenizer.js";
import { trainBench } from "./train.js";

const BENCHES: readonly Bench[] = [loadBench, tokenizerBench, speedBench, convertBench, kernelsBench, attentionBench, longContextBench, constraintBench, trainBench, browserBench];

const [name, ...rest] = process.argv.slice(2);
if (name === "--help" || name === "-h") {
  for (const b of BENCHES) console.log(`${b.name.padEnd(12)} ${b.summary}`);
} else {
  const selected = name === undefined || name.startsWith("--") ? BENCHES : BENCHES.filter((b) => b.name === name);
  const argv = name === undefined ? [] : name.startsWith("--") ? [name, ...rest] : rest;
  if (selected.length === 0) {
    console.error(`unknown benchmark "${name}"; choose one of: ${BENCHES.map((b) => b.name).join(", ")}`);
    process.exitCode = 2;
  }
  const nodes = benchNodes(argv);
  for (const b of selected) {
    console.log(`## ${b.name}`);
    if (b.perNode === true) {
      await b.run(argv);
      continue;
    }
    if (nodes.length > 1) console.log(`\n### ${nodes[0]!.label} (this machine's)\n`);
    await b.run(withoutNodeFlag(argv));
    for (const node of nodes.slice(1)) {
      console.log(`\n### ${node.label}\n`);
      const child = [fileURLToPath(import.meta.url), b.name, ...withoutNodeFlag(argv), "--node", "none"];
      execFileSync(node.path, child, { stdio: "inherit" });
    }
  }
}
