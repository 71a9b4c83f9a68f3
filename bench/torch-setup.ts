// The PyTorch the train benchmark compares against (train_torch.py): Debian's python3-torch under
// /usr/bin/python3, installed with apt-get when absent and the bench runs as root (else a message
// and no torch rows). Debian builds torch against the generic libblas.so.3, which the system's
// alternatives resolve to the netlib reference BLAS unless an optimized one is installed; its float32
// matmul then runs at a few GFLOP/s, no fair baseline. So the torch rows run with Debian's OpenBLAS
// (libopenblas0-pthread), fetched with `apt-get download` and unpacked into the bench cache (nothing
// system-wide changes), put first on LD_LIBRARY_PATH; a row with the system's own libblas.so.3 is
// kept for the record. Never a dependency of the package or of npm test.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

export const PYTHON = "/usr/bin/python3";
const MULTIARCH = "x86_64-linux-gnu";

export interface TorchSetup {
  /** environment of a torch child on the optimized BLAS */
  readonly env: NodeJS.ProcessEnv;
  /** environment with the system's own libblas.so.3 (the reference BLAS on a bare Debian) */
  readonly systemBlasEnv: NodeJS.ProcessEnv;
  /** the OpenBLAS folder used, or undefined when none could be had */
  readonly openblasDir: string | undefined;
}

const hasTorch = (): boolean => spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;

/** Debian's OpenBLAS (pthread build), unpacked under `cache` once; its libblas.so.3 folder. */
function ensureOpenblas(cache: string): string | undefined {
  const dir = join(cache, "openblas");
  const lib = join(dir, "root", "usr", "lib", MULTIARCH, "openblas-pthread");
  if (existsSync(join(lib, "libblas.so.3"))) return lib;
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync("apt-get", ["download", "libopenblas0-pthread"], { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
    const deb = readdirSync(dir).find((f) => f.startsWith("libopenblas0-pthread_") && f.endsWith(".deb"));
    if (deb === undefined) return undefined;
    execFileSync("dpkg", ["-x", join(dir, deb), join(dir, "root")]);
    return existsSync(join(lib, "libblas.so.3")) ? lib : undefined;
  } catch (e) {
    console.log(`(could not fetch Debian's libopenblas0-pthread: ${(e as Error).message}; torch runs on the system's libblas.so.3)`);
    return undefined;
  }
}

/**
 * torch for the comparison rows, installing it when absent and allowed; undefined (after saying
 * why) when it cannot be had.
 */
export function ensureTorch(cache: string, threads: number): TorchSetup | undefined {
  if (!existsSync(PYTHON)) {
    console.log(`(no ${PYTHON}: the PyTorch rows are skipped)`);
    return undefined;
  }
  if (!hasTorch()) {
    if (process.getuid?.() !== 0) {
      console.log(`(PyTorch is not installed and this is not root: run \`sudo apt-get install -y python3-torch\` for the PyTorch rows; skipped)`);
      return undefined;
    }
    console.log("installing Debian's python3-torch (apt-get install -y python3-torch) ...");
    const r = spawnSync("apt-get", ["install", "-y", "python3-torch"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (r.status !== 0 || !hasTorch()) {
      console.log("(apt-get install python3-torch failed: the PyTorch rows are skipped)");
      return undefined;
    }
  }
  const threadsEnv = { OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const openblasDir = ensureOpenblas(cache);
  const systemBlasEnv = { ...process.env, ...threadsEnv };
  const ld = [openblasDir, process.env["LD_LIBRARY_PATH"]].filter((p) => p !== undefined && p !== "").join(":");
  return { env: openblasDir === undefined ? systemBlasEnv : { ...systemBlasEnv, LD_LIBRARY_PATH: ld }, systemBlasEnv, openblasDir };
}
