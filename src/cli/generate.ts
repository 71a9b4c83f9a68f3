// `llama3 generate`: new tokens after a prompt, greedy by default or sampled with --temperature,
// --top-k, --top-p and --seed. The prompt is token ids (--ids) or text (--prompt, optionally wrapped
// as a chat turn with --chat); text prompts print the generated text as it streams, id prompts the
// ids; --json prints one object at the end.

import { applyChatTemplate, type ChatMessage } from "../chat/index.js";
import { generateTokens } from "../generate/generate.js";
import type { Sampler } from "../generate/sampling.js";
import type { LlamaModel } from "../model/llama.js";
import { Rng } from "../tensor/rng.js";
import { Tokenizer } from "../tokenizer/index.js";
import { type ParsedArgs, booleanFlag, intFlag, numberFlag, parseFlags, parseIdList, stringFlag } from "./args.js";
import { type CliIo, type Command, UsageError } from "./command.js";
import { MODEL_FLAGS, MODEL_FLAGS_USAGE, loadModelFromFlags } from "./model-flags.js";

const USAGE = `llama3 generate ${MODEL_FLAGS_USAGE} (--ids 128000,791 | --prompt TEXT [--chat] [--system TEXT] [--tokenizer DIR]) [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--ignore-eos] [--json]`;

const SAMPLING_FLAGS = ["top-k", "top-p", "seed"];

/** The vocabulary size of the bundled Llama 3 tokenizer (128000 BPE ranks + 256 special tokens). */
const LLAMA3_VOCAB_SIZE = 128256;

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

/** The tokenizer for a text prompt: --tokenizer, else the model folder's, else (Llama 3 vocabulary) the bundled one. */
async function loadTokenizer(args: ParsedArgs, model: LlamaModel, io: CliIo): Promise<Tokenizer> {
  const dir = stringFlag(args, "tokenizer") ?? stringFlag(args, "model")!;
  try {
    return await Tokenizer.fromPretrained(dir);
  } catch (error) {
    if (stringFlag(args, "tokenizer") !== undefined || model.config.vocabSize !== LLAMA3_VOCAB_SIZE) throw error;
    io.stderr(`warning: ${dir} has no tokenizer; using the bundled Llama 3 tokenizer\n`);
    return Tokenizer.bundled();
  }
}

/** The prompt's ids from --prompt (plain or as a chat turn). */
function encodePrompt(args: ParsedArgs, tokenizer: Tokenizer, text: string): number[] {
  if (!booleanFlag(args, "chat")) {
    if (stringFlag(args, "system") !== undefined) throw new UsageError("--system needs --chat");
    return tokenizer.encode(text);
  }
  const system = stringFlag(args, "system");
  const messages: ChatMessage[] = [...(system === undefined ? [] : [{ role: "system" as const, content: system }]), { role: "user", content: text }];
  return applyChatTemplate(tokenizer, messages, { addGenerationPrompt: true }).ids;
}

export const generateCommand: Command = {
  name: "generate",
  summary: "generate tokens after a prompt of token ids or text",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, {
      ...MODEL_FLAGS,
      ids: { type: "string" },
      prompt: { type: "string" },
      chat: { type: "boolean" },
      system: { type: "string" },
      tokenizer: { type: "string" },
      "max-new-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      "ignore-eos": { type: "boolean" },
      json: { type: "boolean" },
    }, USAGE, 0);
    const idsFlag = stringFlag(args, "ids");
    const text = stringFlag(args, "prompt");
    if ((idsFlag === undefined) === (text === undefined)) throw new UsageError(`give exactly one of --ids and --prompt; usage: ${USAGE}`);
    if (text === undefined && ["chat", "system", "tokenizer"].some((flag) => args.values[flag] !== undefined)) {
      throw new UsageError("--chat, --system and --tokenizer go with --prompt");
    }
    const maxNewTokens = intFlag(args, "max-new-tokens", 32, 0, 1_000_000);
    const sampler = samplerFromFlags(args);
    const json = booleanFlag(args, "json");
    const promptIdsFromFlag = idsFlag === undefined ? undefined : parseIdList(idsFlag, "ids");
    const model = await loadModelFromFlags(args, USAGE, io);
    const tokenizer = text === undefined ? undefined : await loadTokenizer(args, model, io);
    const promptIds = promptIdsFromFlag ?? encodePrompt(args, tokenizer!, text!);
    // A text prompt stops on the tokenizer's stop tokens too (<|eot_id|> ends a chat turn).
    const stopTokenIds = booleanFlag(args, "ignore-eos") ? [] : [...new Set([...model.config.eosTokenIds, ...(tokenizer?.eosTokenIds ?? [])])];
    const decoder = tokenizer?.createDecodeStream({ skipSpecialTokens: true });
    const generated: number[] = [];
    let generatedText = "";
    for await (const id of generateTokens(model, promptIds, { maxNewTokens, sampler, stopTokenIds })) {
      generated.push(id);
      if (decoder === undefined) {
        if (!json) io.stdout(generated.length === 1 ? `${id}` : `,${id}`);
        continue;
      }
      const piece = decoder.push(id);
      generatedText += piece;
      if (!json) io.stdout(piece);
    }
    const tail = decoder?.flush() ?? "";
    generatedText += tail;
    if (json) {
      const result = { prompt_ids: promptIds, generated_ids: generated, ...(decoder === undefined ? {} : { text: generatedText }) };
      io.stdout(`${JSON.stringify(result)}\n`);
    } else {
      io.stdout(`${tail}\n`);
    }
  },
};
