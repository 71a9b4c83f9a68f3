// `llama3 generate`: decode new tokens after a prompt of token ids, greedy by default or sampled
// with --temperature/--top-k/--top-p/--seed; prints ids as they come, or one JSON object at the end.

import { generateTokens } from "../generate/generate.js";
import type { Sampler } from "../generate/sampling.js";
import { Rng } from "../tensor/rng.js";
import { type ParsedArgs, booleanFlag, intFlag, numberFlag, parseFlags, parseIdList, requiredString } from "./args.js";
import { type Command, UsageError } from "./command.js";
import { MODEL_FLAGS, MODEL_FLAGS_USAGE, loadModelFromFlags } from "./model-flags.js";

const USAGE = `llama3 generate ${MODEL_FLAGS_USAGE} --ids 128000,791 [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--ignore-eos] [--json]`;

const SAMPLING_FLAGS = ["top-k", "top-p", "seed"];

function samplerFromFlags(args: ParsedArgs): Sampler {
  const temperature = numberFlag(args, "temperature", 0, 0, 1e6);
  if (temperature === 0) {
    const given = SAMPLING_FLAGS.filter((flag) => args.values[flag] !== undefined);
    if (given.length > 0) throw new UsageError(`--${given[0]} needs sampling: give --temperature above 0 (0, the default, is greedy)`);
    return { kind: "greedy" };
  }
  return {
    kind: "sample",
    temperature,
    topK: intFlag(args, "top-k", 0, 0, Number.MAX_SAFE_INTEGER),
    topP: numberFlag(args, "top-p", 1, Number.MIN_VALUE, 1),
    rng: new Rng(intFlag(args, "seed", 0, 0, 2 ** 32 - 1)),
  };
}

export const generateCommand: Command = {
  name: "generate",
  summary: "generate tokens after a prompt of token ids",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, {
      ...MODEL_FLAGS,
      ids: { type: "string" },
      "max-new-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      "ignore-eos": { type: "boolean" },
      json: { type: "boolean" },
    }, USAGE, 0);
    const promptIds = parseIdList(requiredString(args, "ids", USAGE), "ids");
    const maxNewTokens = intFlag(args, "max-new-tokens", 32, 0, 1_000_000);
    const sampler = samplerFromFlags(args);
    const json = booleanFlag(args, "json");
    const model = await loadModelFromFlags(args, USAGE, io);
    const generated: number[] = [];
    const stream = generateTokens(model, promptIds, {
      maxNewTokens,
      sampler,
      ...(booleanFlag(args, "ignore-eos") ? { stopTokenIds: [] } : {}),
    });
    for await (const id of stream) {
      if (!json) io.stdout(generated.length === 0 ? `${id}` : `,${id}`);
      generated.push(id);
    }
    io.stdout(json ? `${JSON.stringify({ prompt_ids: promptIds, generated_ids: generated })}\n` : "\n");
  },
};
