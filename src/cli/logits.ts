// `llama3 logits`: one forward pass over token ids; prints the top-K ids and logits per position
// (text or JSON) and can write the raw float32 logits to a file.

import { writeFile } from "node:fs/promises";
import { LlamaError } from "../errors.js";
import { topKIds } from "../generate/sampling.js";
import { booleanFlag, intFlag, parseFlags, parseIdList, requiredString, stringFlag } from "./args.js";
import type { Command } from "./command.js";
import { MODEL_FLAGS, MODEL_FLAGS_USAGE, loadModelFromFlags } from "./model-flags.js";

const USAGE = `llama3 logits ${MODEL_FLAGS_USAGE} --ids 128000,791,6864 [--all] [--out FILE] [--top K] [--json]`;

export const logitsCommand: Command = {
  name: "logits",
  summary: "run a forward pass on token ids and print or save the logits",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, {
      ...MODEL_FLAGS,
      ids: { type: "string" },
      all: { type: "boolean" },
      out: { type: "string" },
      top: { type: "string" },
      json: { type: "boolean" },
    }, USAGE, 0);
    const ids = parseIdList(requiredString(args, "ids", USAGE), "ids");
    const all = booleanFlag(args, "all");
    const top = intFlag(args, "top", 10, 1, 1_000_000);
    const out = stringFlag(args, "out");
    const model = await loadModelFromFlags(args, USAGE, io);
    const vocabSize = model.config.vocabSize;
    const logits = await model.forward(ids, model.createKvCache({ maxSeqLen: ids.length }), { allLogits: all });
    if (out !== undefined) {
      // Raw little-endian float32: (positions, vocabSize) with --all, else (vocabSize).
      try {
        await writeFile(out, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
      } catch (cause) {
        throw new LlamaError(`${out}: cannot write logits: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      }
    }
    const firstPosition = all ? 0 : ids.length - 1;
    const positions = Array.from({ length: logits.length / vocabSize }, (_, row) => {
      const rowLogits = logits.subarray(row * vocabSize, (row + 1) * vocabSize);
      const topIds = topKIds(rowLogits, Math.min(top, vocabSize));
      return { position: firstPosition + row, ids: topIds, logits: topIds.map((id) => rowLogits[id]!) };
    });
    if (booleanFlag(args, "json")) {
      io.stdout(`${JSON.stringify({ prompt_ids: ids, positions })}\n`);
      return;
    }
    if (out !== undefined) io.stdout(`wrote ${logits.length} float32 logits (${all ? `${ids.length} x ` : ""}${vocabSize}) to ${out}\n`);
    for (const p of positions) {
      io.stdout(`position ${p.position} (token ${ids[p.position]}):\n`);
      p.ids.forEach((id, i) => io.stdout(`  ${String(id).padStart(7)}  ${p.logits[i]!.toFixed(6)}\n`));
    }
  },
};
