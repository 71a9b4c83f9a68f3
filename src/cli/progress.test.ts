// The progress bar: silent off a terminal; on one, redrawn in place (carriage return, clear to end of
// line), throttled, fitted to the width, and ended with a newline by finish().

import { test } from "node:test";
import assert from "node:assert/strict";
import { createProgress, PROGRESS_REDRAW_MS, type ProgressTarget } from "./progress.js";

function recorder(isTTY: boolean, columns?: number): { target: ProgressTarget; writes: string[] } {
  const writes: string[] = [];
  return { target: { isTTY, columns, write: (text) => writes.push(text) }, writes };
}

test("nothing is written when the target is not a terminal", () => {
  const { target, writes } = recorder(false);
  const progress = createProgress(target, "converting", 100);
  progress.update(50, "x");
  progress.finish();
  assert.deepEqual(writes, []);
});

test("on a terminal: redraws in place, throttled, and finish ends the line at 100%", () => {
  const { target, writes } = recorder(true, 80);
  let clock = 0;
  const progress = createProgress(target, "converting", 4 * 1024 ** 3, { unit: "bytes", now: () => clock });
  progress.update(1024 ** 3, "layers.0.wq");
  assert.equal(writes.length, 1);
  assert.match(writes[0]!, /^\r\[#{5,10}-+\] converting {2}25% 1\.0 GiB\/4\.0 GiB layers\.0\.wq\x1b\[K$/);
  clock += PROGRESS_REDRAW_MS / 2;
  progress.update(2 * 1024 ** 3);
  assert.equal(writes.length, 1, "throttled");
  clock += PROGRESS_REDRAW_MS;
  progress.update(2 * 1024 ** 3);
  assert.equal(writes.length, 2);
  assert.match(writes[1]!, / 50% 2\.0 GiB\/4\.0 GiB 13\.3 GiB\/s layers\.0\.wq/);
  progress.update(4 * 1024 ** 3);
  progress.finish();
  progress.finish();
  assert.match(writes.at(-2)!, /100% 4\.0 GiB\/4\.0 GiB/);
  assert.equal(writes.at(-1), "\n");
  assert.equal(writes.filter((w) => w === "\n").length, 1, "finish is idempotent");
  for (const w of writes.slice(0, -1)) assert.ok(w.replace("\x1b[K", "").length - 1 <= 79, "never wider than the terminal");
});

test("items, a zero total, and a narrow terminal", () => {
  const { target, writes } = recorder(true, 40);
  const progress = createProgress(target, "loading", 0);
  progress.update(0, "a very long detail that would wrap a narrow terminal");
  assert.ok(writes[0]!.replace("\r", "").replace("\x1b[K", "").length <= 39);
  assert.match(writes[0]!, /100% 0\/0/);
});
