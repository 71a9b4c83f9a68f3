// Child process of the convert benchmark: converts one Meta folder in a fresh process, so that its
// peak RSS is the converter's alone, and prints one JSON line (bench/convert.ts ConvertChildResult).
// Peak RSS is the kernel's high-water mark of this process's memory (/proc/self/status VmHWM, reset
// by exec), not process.resourceUsage().maxRSS: on Linux that survives exec and starts at the
// parent's RSS at fork time, which here (the parent just generated the checkpoint) can exceed the
// converter's own peak.

import { readFileSync } from "node:fs";
import { convertMetaCheckpoint } from "../src/loader/convert-meta.js";

function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (match !== null) return Number(match[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}

const [input, output] = process.argv.slice(2) as [string, string];
const baselineRssBytes = peakRssBytes();
const start = performance.now();
const result = await convertMetaCheckpoint(input, output, { llamaVersion: "3.1", maxShardBytes: 1_000_000_000 });
const seconds = (performance.now() - start) / 1000;
console.log(JSON.stringify({ seconds, weightBytes: result.weightBytes, baselineRssBytes, peakRssBytes: peakRssBytes(), files: result.files }));
