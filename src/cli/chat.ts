// `llama3 chat`: an interactive multi-turn chat in the terminal. Each line typed is a user message;
// the conversation so far goes through the tokenizer's chat template and the reply streams to
// stdout. Ctrl-C stops the current reply (the conversation keeps what was said) and, at the prompt,
// leaves; `/reset` starts over, `/exit` (or end of input) leaves. Works the same when stdin is a
// pipe, which is how the end-to-end tests drive it.

import { applyChatTemplate, type ChatMessage } from "../chat/index.js";
import { ArgumentError } from "../errors.js";
import { GenerationEngine } from "../generate/engine.js";
import { booleanFlag, parseFlags, stringFlag } from "./args.js";
import { type Command, UsageError } from "./command.js";
import { loadTokenizer } from "./generate.js";
import { GENERATION_FLAGS, GENERATION_FLAGS_HELP, RunStats, backendFromFlags, generationOptionsFromFlags, kvDTypeFromFlags } from "./generation-flags.js";
import { MODEL_FLAGS, MODEL_FLAGS_HELP, MODEL_FLAGS_USAGE, loadModelFromFlags } from "./model-flags.js";

const USAGE = `llama3 chat ${MODEL_FLAGS_USAGE} [--system TEXT] [options]

An interactive chat: type a message and press Enter; the reply streams back.
Ctrl-C stops the reply; /reset clears the conversation; /exit (or Ctrl-D, or Ctrl-C at the prompt) quits.

  --system TEXT       a system message at the start of the conversation
  --tokenizer DIR     tokenizer folder (default: the model folder's)
${MODEL_FLAGS_HELP}
${GENERATION_FLAGS_HELP}`;

export const chatCommand: Command = {
  name: "chat",
  summary: "interactive multi-turn chat in the terminal, streaming",
  usage: USAGE,
  async run(argv, io) {
    const args = parseFlags(argv, { ...MODEL_FLAGS, ...GENERATION_FLAGS, system: { type: "string" }, tokenizer: { type: "string" } }, USAGE, 0);
    if (io.stdinLines === undefined || io.onInterrupt === undefined) throw new UsageError("llama3 chat needs an interactive standard input");
    const options = generationOptionsFromFlags(args);
    const kvCacheDType = kvDTypeFromFlags(args);
    const system = stringFlag(args, "system");
    const { backend, close } = await backendFromFlags(args);
    const input = io.stdinLines();
    let current: AbortController | undefined;
    const release = io.onInterrupt(() => {
      if (current !== undefined) current.abort(); // stop this reply, keep chatting
      else input.close(); // at the prompt: leave
    });
    try {
      const loadStart = performance.now();
      const model = await loadModelFromFlags(args, USAGE, io, backend);
      const tokenizer = await loadTokenizer(args, model, io);
      const loadSeconds = (performance.now() - loadStart) / 1000;
      const stopTokenIds = options.stopTokenIds ?? [...new Set([...model.config.eosTokenIds, ...tokenizer.eosTokenIds])];
      const engine = new GenerationEngine(model, { maxBatch: 1, tokenizer, defaults: model.generationConfig, kvCacheDType });
      const start: ChatMessage[] = system === undefined ? [] : [{ role: "system", content: system }];
      let messages = [...start];
      const prompt = (): void => {
        if (input.isTTY) io.stdout("> ");
      };
      if (input.isTTY) io.stderr("chat: type a message; Ctrl-C stops a reply, /reset clears, /exit quits\n");
      prompt();
      for await (const raw of input.lines) {
        const line = raw.trim();
        if (line === "/exit") break;
        if (line === "/reset") {
          messages = [...start];
          io.stdout("(conversation cleared)\n");
          prompt();
          continue;
        }
        if (line === "") {
          prompt();
          continue;
        }
        messages.push({ role: "user", content: raw });
        let promptIds: number[];
        try {
          promptIds = applyChatTemplate(tokenizer, messages, { addGenerationPrompt: true }).ids;
        } catch (error) {
          messages.pop();
          io.stderr(`chat: ${error instanceof Error ? error.message : String(error)}\n`);
          prompt();
          continue;
        }
        current = new AbortController();
        const stats = new RunStats(loadSeconds, promptIds.length);
        let reply = "";
        try {
          for await (const event of engine.submit(promptIds, { ...options, stopTokenIds, signal: current.signal })) {
            if (event.type !== "token") continue;
            stats.token();
            reply += event.text;
            io.stdout(event.text);
          }
          io.stdout("\n");
        } catch (error) {
          if (current.signal.aborted) io.stdout("\n[stopped]\n");
          else if (error instanceof ArgumentError) {
            // E.g. the conversation outgrew the context: say so and let the user /reset.
            messages.pop();
            io.stderr(`chat: ${error.message}\n`);
            prompt();
            continue;
          } else throw error;
        } finally {
          current = undefined;
        }
        messages.push({ role: "assistant", content: reply });
        if (booleanFlag(args, "stats")) io.stderr(stats.line());
        prompt();
      }
    } finally {
      release();
      input.close();
      await close();
    }
  },
};
