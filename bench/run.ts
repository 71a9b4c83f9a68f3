// `npm run bench [-- NAME...]`: runs the named benchmarks (all when none is named) and prints their
// reports. Benchmarks are not tests: they measure speed and memory and never run in CI.

import { attentionBench } from "./attention.js";
import type { Bench } from "./bench.js";
import { convertBench } from "./convert.js";
import { kernelsBench } from "./kernels.js";
import { loadBench } from "./load.js";
import { longContextBench } from "./long-context.js";
import { speedBench } from "./speed.js";
import { tokenizerBench } from "./tokenizer.js";

const BENCHES: readonly Bench[] = [loadBench, tokenizerBench, speedBench, convertBench, kernelsBench, attentionBench, longContextBench];

const [name, ...rest] = process.argv.slice(2);
if (name === "--help" || name === "-h") {
  for (const b of BENCHES) console.log(`${b.name.padEnd(12)} ${b.summary}`);
} else {
  const selected = name === undefined ? BENCHES : BENCHES.filter((b) => b.name === name);
  if (selected.length === 0) {
    console.error(`unknown benchmark "${name}"; choose one of: ${BENCHES.map((b) => b.name).join(", ")}`);
    process.exitCode = 2;
  }
  for (const b of selected) {
    console.log(`## ${b.name}`);
    await b.run(name === undefined ? [] : rest);
  }
}
