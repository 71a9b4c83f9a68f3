// The shape of a benchmark registered in bench/run.ts.

export interface Bench {
  readonly name: string;
  readonly summary: string;
  /** Runs the benchmark with its own arguments; prints its report (markdown) to stdout. */
  run(argv: readonly string[]): Promise<void>;
}
