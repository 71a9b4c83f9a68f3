// The shape of a benchmark registered in bench/run.ts.

export interface Bench {
  readonly name: string;
  readonly summary: string;
  /**
   * Whether run() itself runs its measurements on every Node of `--node` (node-binary.ts benchNodes)
   * and reports them side by side; otherwise run.ts repeats the whole benchmark on each Node.
   */
  readonly perNode?: boolean;
  /** Runs the benchmark with its own arguments; prints its report (markdown) to stdout. */
  run(argv: readonly string[]): Promise<void>;
}
