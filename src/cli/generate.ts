// `llama3 generate [options] PROMPT`: streams the continuation of a text prompt to stdout (or of
// token ids with --ids), optionally as a chat turn (--chat) and with every generation option;
// --json prints one object at the end (ids, text, finish reason, and the --stats numbers).

import { applyChatTemplate, type ChatMessage } from "../chat/index.js";
import { GenerationEngine } from "../generate/engine.js";
import type { LlamaForCausalLM } from "../loader/pretrained.js";
import { Tokenizer } from "../tokenizer/index.js";
import { type ParsedArgs, booleanFlag, parseFlags, parseIdList, stringFlag } from "./args.js";
import { type CliIo, type Command, UsageError } from "./command.js";
import { GENERATION_FLAGS, GENERATION_FLAGS_HELP, RunStats, backendFromFlags, generationOptionsFromFlags, kvDTypeFromFlags } from "./generation-flags.js";
import { MODEL_FLAGS, MODEL_FLAGS_HELP, MODEL_FLAGS_USAGE, loadModelFromFlags } from "./model-flags.js";

const USAGE = `llama3 generate ${MODEL_FLAGS_USAGE} [options] (PROMPT | --ids 128000,791)

Streams the text generated after PROMPT to stdout.

  PROMPT              the text to continue (use -- before a prompt that starts with "-")
  --ids LIST          comma-separated token ids instead of text (prints ids)
  --chat              wrap PROMPT as a user message with the tokenizer's chat template
  --system TEXT       with --chat: a system message first
  --tokenizer DIR     tokenizer folder (default: the model folder, else the bundled Llama 3 tokenizer)
  --json              print one JSON object at the end instead of streaming
${MODEL_FLAGS_HELP}
${GENERATION_FLAGS_HELP}`;

/** The vocabulary size of the bundled Llama 3 tokenizer (128000 BPE ranks + 256 special tokens). */
const LLAMA3_VOCAB_SIZE = 128256;

/** The tokenizer: --tokenizer, else the model folder's, else (Llama 3 vocabulary) the bundled one. */
export async function loadTokenizer(args: ParsedArgs, model: LlamaForCausalLM, io: CliIo): Promise<Tokenizer> {
  const dir = stringFlag(args, "tokenizer") ?? model.nameOrPath;
  try {
    return await Tokenizer.fromPretrained(dir);
  } catch (error) {
    if (stringFlag(args, "tokenizer") !== undefined || model.config.vocabSize !== LLAMA3_VOCAB_SIZE) throw error;
    io.stderr(`warning: ${dir} has no tokenizer; using the bundled Llama 3 tokenizer\n`);
    return Tokenizer.bundled();
  }
}

/** The prompt's ids from the text (plain or as a chat turn). */
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
  summary: "generate text (or token ids) after a prompt, streaming",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, {
      ...MODEL_FLAGS,
      ...GENERATION_FLAGS,
      ids: { type: "string" },
      chat: { type: "boolean" },
      system: { type: "string" },
      tokenizer: { type: "string" },
      json: { type: "boolean" },
    }, USAGE, 1);
    const idsFlag = stringFlag(args, "ids");
    const text = args.positionals[0];
    if ((idsFlag === undefined) === (text === undefined)) throw new UsageError(`give a PROMPT or --ids (not both); usage: llama3 generate [options] PROMPT (llama3 generate --help)`);
    if (text === undefined && ["chat", "system", "tokenizer", "stop"].some((flag) => args.values[flag] !== undefined)) {
      throw new UsageError("--chat, --system, --tokenizer and --stop need a text PROMPT");
    }
    const options = generationOptionsFromFlags(args);
    const kvCacheDType = kvDTypeFromFlags(args);
    const json = booleanFlag(args, "json");
    const promptIdsFromFlag = idsFlag === undefined ? undefined : parseIdList(idsFlag, "ids");
    const { backend, close } = await backendFromFlags(args);
    try {
      const loadStart = performance.now();
      const model = await loadModelFromFlags(args, USAGE, io, backend);
      const tokenizer = text === undefined ? undefined : await loadTokenizer(args, model, io);
      const loadSeconds = (performance.now() - loadStart) / 1000;
      const promptIds = promptIdsFromFlag ?? encodePrompt(args, tokenizer!, text!);
      // A text prompt also stops on the tokenizer's own stop tokens (<|eot_id|> ends a chat turn).
      const stopTokenIds = options.stopTokenIds ?? [...new Set([...model.config.eosTokenIds, ...(tokenizer?.eosTokenIds ?? [])])];
      const engine = new GenerationEngine(model, { maxBatch: 1, defaults: model.generationConfig, kvCacheDType, ...(tokenizer === undefined ? {} : { tokenizer }) });
      const stats = new RunStats(loadSeconds, promptIds.length);
      const generated: number[] = [];
      let done: { finishReason: string; text: string } | undefined;
      for await (const event of engine.submit(promptIds, { ...options, stopTokenIds })) {
        if (event.type === "done") {
          done = event;
          continue;
        }
        stats.token();
        generated.push(event.tokenId);
        if (json) continue;
        if (tokenizer === undefined) io.stdout(generated.length === 1 ? `${event.tokenId}` : `,${event.tokenId}`);
        else io.stdout(event.text);
      }
      if (json) {
        const result = {
          prompt_ids: promptIds,
          generated_ids: generated,
          ...(tokenizer === undefined ? {} : { text: done!.text }),
          finish_reason: done!.finishReason,
          ...(booleanFlag(args, "stats") ? { stats: stats.report() } : {}),
        };
        io.stdout(`${JSON.stringify(result)}\n`);
      } else {
        io.stdout("\n");
      }
      if (booleanFlag(args, "stats")) io.stderr(stats.line());
    } finally {
      await close();
    }
  },
};
