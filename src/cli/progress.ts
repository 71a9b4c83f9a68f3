// A small progress bar for long CLI operations (converting a checkpoint, loading a model): one line
// on stderr, redrawn in place with a carriage return, throttled, and only when stderr is a terminal.
// When it is not (a pipe, a file, tests) nothing is written, so logs and captured output stay clean.
// Generic: it knows a label, a total and units, nothing about what is being counted.

import type { CliIo } from "./command.js";

/** Where a progress bar draws: a stream-like writer and whether it is a terminal. */
export interface ProgressTarget {
  /** Only a terminal gets a bar; otherwise the reporter is silent. */
  readonly isTTY: boolean;
  /** Terminal width in columns, when known (the bar shrinks to fit). */
  readonly columns?: number | undefined;
  readonly write: (text: string) => void;
}

/** A running progress bar. */
export interface Progress {
  /**
   * Report how much is done (absolute, not an increment) and optionally what is being worked on.
   * Redraws at most every PROGRESS_REDRAW_MS milliseconds.
   */
  update(done: number, detail?: string): void;
  /** Draw the final state and end the line (a no-op when silent). Safe to call twice. */
  finish(): void;
}

/** How the numbers are shown. */
export type ProgressUnit = "bytes" | "items";

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** "bytes" shows "1.2/4.0 GiB" and a rate; "items" shows "12/40". Default "items". */
  readonly unit?: ProgressUnit;
  /** The clock, for tests (default performance.now). */
  readonly now?: () => number;
}

/** Least time between two redraws: often enough to look live, rarely enough to cost nothing. */
export const PROGRESS_REDRAW_MS = 100;
/** Width of the bar itself, in characters, on a terminal of unknown width. */
const DEFAULT_BAR_WIDTH = 30;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/**
 * The progress target of a CLI run: process.stderr's terminal status and width, writing through
 * `io.stderr` (so in-process tests, whose process stderr is not a terminal, get no bar).
 */
export function stderrProgressTarget(io: CliIo): ProgressTarget {
  return { isTTY: process.stderr.isTTY === true, columns: process.stderr.columns, write: io.stderr };
}

/**
 * Start a progress bar.
 * @param target where to draw; nothing is drawn unless target.isTTY
 * @param label what is in progress ("converting")
 * @param total the amount that means done (0 is allowed: shown as complete)
 * @example
 * const progress = createProgress(stderrProgressTarget(io), "converting", totalBytes, { unit: "bytes" });
 * for (const t of tensors) { await write(t); done += t.byteLength; progress.update(done, t.name); }
 * progress.finish();
 */
export function createProgress(target: ProgressTarget, label: string, total: number, options: ProgressOptions = {}): Progress {
  if (!target.isTTY) return { update: () => undefined, finish: () => undefined };
  const now = options.now ?? (() => performance.now());
  const unit = options.unit ?? "items";
  const start = now();
  let lastDraw = Number.NEGATIVE_INFINITY;
  let done = 0;
  let detail = "";
  let finished = false;
  const draw = (): void => {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const seconds = (now() - start) / 1000;
    const amount = unit === "bytes" ? `${formatBytes(done)}/${formatBytes(total)}` : `${done}/${total}`;
    const rate = unit === "bytes" && seconds > 0 ? ` ${formatBytes(done / seconds)}/s` : "";
    const text = `${label} ${(fraction * 100).toFixed(0).padStart(3)}% ${amount}${rate}`;
    const columns = target.columns ?? 0;
    // Leave room for the text and a little of the detail; never wrap the line.
    const barWidth = columns > 0 ? Math.max(10, Math.min(DEFAULT_BAR_WIDTH, columns - text.length - 20)) : DEFAULT_BAR_WIDTH;
    const filled = Math.round(fraction * barWidth);
    let line = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${text}${detail === "" ? "" : ` ${detail}`}`;
    if (columns > 1 && line.length > columns - 1) line = line.slice(0, columns - 1);
    // \r returns to the start of the line; \x1b[K clears what a longer previous line left.
    target.write(`\r${line}\x1b[K`);
    lastDraw = now();
  };
  return {
    update(value, what) {
      if (finished) return;
      done = value;
      if (what !== undefined) detail = what;
      if (now() - lastDraw >= PROGRESS_REDRAW_MS) draw();
    },
    finish() {
      if (finished) return;
      finished = true;
      detail = "";
      draw();
      target.write("\n");
    },
  };
}

/** Bytes in GiB or MiB, one decimal. */
function formatBytes(bytes: number): string {
  return bytes >= GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${(bytes / MIB).toFixed(1)} MiB`;
}
