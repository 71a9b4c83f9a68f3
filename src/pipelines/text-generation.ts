// `pipeline("text-generation", dir)`: the one-call API with the shapes transformers' pipeline
// returns. A string prompt gives `[{ generated_text }]` (prompt + continuation, or only the
// continuation with `returnFullText: false`); a chat (a list of messages) is formatted with the
// tokenizer's chat template and gives the conversation plus the new assistant message; a list of
// inputs gives one such list per input. Generation runs on one engine per pipeline, so concurrent
// calls and batch inputs share batched forward passes. `stream()` yields the engine's events.

import { type ChatMessage, PYTHON_TAG, type ToolDefinition, applyChatTemplate } from "../chat/index.js";
import { chatReplyOf } from "../generate/chat-reply.js";
import { createWasmBackend } from "../backend/wasm/index.js";
import { ArgumentError } from "../errors.js";
import { GenerationEngine, type GenerationRun } from "../generate/engine.js";
import type { GenerationOptions, SequenceOutput } from "../generate/types.js";
import { type FromPretrainedOptions, LlamaForCausalLM } from "../loader/pretrained.js";
import { Tokenizer } from "../tokenizer/index.js";

/** One input: a text prompt or a conversation. */
export type TextGenerationInput = string | readonly ChatMessage[];

/** Options of one pipeline call: generation options plus how to shape the output. */
export interface TextGenerationCallOptions extends GenerationOptions {
  /** Prompt + continuation (default) or only the continuation; for chats, the whole conversation or only the reply text. */
  readonly returnFullText?: boolean;
  /**
   * Chats only: function tools for the chat template (`{type: "function", function: {name, parameters}}`).
   * A reply that is a Llama 3.1 tool call comes back as an assistant message with `toolCalls` and
   * null content (with returnFullText; the reply text otherwise). Pass `constraint:
   * toolCallGrammar(tools)` to force a call.
   */
  readonly tools?: readonly ToolDefinition[];
}

/** One result: text for a string prompt, the conversation for a chat (with returnFullText). */
export interface TextGenerationResult {
  readonly generated_text: string | ChatMessage[];
}

export interface TextGenerationPipelineOptions extends FromPretrainedOptions {
  /** Sequences generated together at most (default 8). */
  readonly maxBatch?: number;
}

/** A loaded text-generation pipeline: call it, or `stream()` it. */
export interface TextGenerationPipeline {
  (input: string, options?: TextGenerationCallOptions): Promise<[{ generated_text: string }]>;
  (input: readonly ChatMessage[], options?: TextGenerationCallOptions): Promise<[TextGenerationResult]>;
  (input: readonly TextGenerationInput[], options?: TextGenerationCallOptions): Promise<TextGenerationResult[][]>;
  /** The events (token deltas, then done) of generating after one input. */
  stream(input: TextGenerationInput, options?: GenerationOptions): GenerationRun<SequenceOutput>;
  readonly model: LlamaForCausalLM;
  readonly tokenizer: Tokenizer;
  readonly engine: GenerationEngine;
  /** Stop the worker threads of a backend the pipeline started itself (optional: they do not keep the process alive). */
  dispose(): Promise<void>;
}

/** Supported pipeline tasks. */
export type PipelineTask = "text-generation";

function isChat(input: unknown): input is readonly ChatMessage[] {
  return Array.isArray(input) && input.length > 0 && input.every((m) => typeof m === "object" && m !== null && !Array.isArray(m));
}

function checkInput(input: unknown, where: string): asserts input is TextGenerationInput {
  if (typeof input === "string") {
    if (input.length === 0) throw new ArgumentError(`${where}: the prompt is empty`);
    return;
  }
  if (!isChat(input)) throw new ArgumentError(`${where}: expected a string, a list of chat messages, or a list of those`);
}

/**
 * Build a pipeline around an already loaded model and tokenizer.
 * @example const generator = textGenerationPipeline(model, tokenizer);
 */
export function textGenerationPipeline(model: LlamaForCausalLM, tokenizer: Tokenizer, options: { maxBatch?: number; dispose?: () => Promise<void> } = {}): TextGenerationPipeline {
  const engine = new GenerationEngine(model, { tokenizer, defaults: model.generationConfig, ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }) });
  const promptIds = (input: TextGenerationInput, tools?: readonly ToolDefinition[]): number[] =>
    typeof input === "string" ? tokenizer.encode(input) : applyChatTemplate(tokenizer, input, { addGenerationPrompt: true, ...(tools === undefined ? {} : { tools }) }).ids;
  const pythonTagId = tokenizer.tokenToId(PYTHON_TAG);

  const shape = (input: TextGenerationInput, output: SequenceOutput, returnFullText: boolean, tools: readonly ToolDefinition[] | undefined): TextGenerationResult => {
    if (typeof input === "string") return { generated_text: returnFullText ? input + output.text : output.text };
    const reply = tools === undefined ? undefined : chatReplyOf(output, { parseToolCalls: true, pythonTagId });
    const message: ChatMessage = reply?.finishReason === "tool_calls"
      ? { role: "assistant", content: null, toolCalls: reply.toolCalls.map((c) => ({ type: "function" as const, function: { name: c.name, arguments: c.arguments } })) }
      : { role: "assistant", content: output.text };
    return { generated_text: returnFullText ? [...input, message] : output.text };
  };

  async function call(input: unknown, options: TextGenerationCallOptions = {}): Promise<unknown> {
    const { returnFullText = true, tools, ...generation } = options;
    if (typeof returnFullText !== "boolean") throw new ArgumentError("returnFullText must be true or false");
    const batch = Array.isArray(input) && !isChat(input);
    const inputs = (batch ? input : [input]) as unknown[];
    if (inputs.length === 0) throw new ArgumentError("pipeline input: the list of inputs is empty");
    inputs.forEach((x, i) => checkInput(x, batch ? `pipeline input ${i}` : "pipeline input"));
    const typed = inputs as TextGenerationInput[];
    const outputs = await engine.submitBatch(typed.map((x) => promptIds(x, tools)), generation);
    const results = outputs.map((o, i) => [shape(typed[i]!, o, returnFullText, tools)]);
    return batch ? results : results[0];
  }

  const stream = (input: TextGenerationInput, options: GenerationOptions = {}): GenerationRun<SequenceOutput> => {
    checkInput(input, "pipeline input");
    return engine.submit(promptIds(input), options);
  };
  const dispose = options.dispose ?? (async (): Promise<void> => {});
  return Object.assign(call, { stream, model, tokenizer, engine, dispose }) as TextGenerationPipeline;
}

/**
 * Load a pipeline from a checkpoint folder (transformers' `pipeline("text-generation", model=dir)`).
 * @param task "text-generation"
 * @param dir a Hugging Face or Meta checkpoint folder with its tokenizer
 * @param options dtype (default "auto": the stored width), backend (default: a new wasm backend on every core), progress and warning callbacks, maxBatch
 * @throws ArgumentError for an unknown task; the loaders' errors for a bad folder
 * @example
 * const generator = await pipeline("text-generation", "models/Llama-3.2-1B-Instruct", { dtype: "bfloat16" });
 * const [{ generated_text }] = await generator([{ role: "user", content: "Hi!" }], { maxNewTokens: 64 });
 */
export async function pipeline(task: PipelineTask, dir: string, options: TextGenerationPipelineOptions = {}): Promise<TextGenerationPipeline> {
  if (task !== "text-generation") throw new ArgumentError(`unknown pipeline task ${JSON.stringify(task)}; supported: "text-generation"`);
  const { maxBatch, ...loadOptions } = options;
  const tokenizer = await Tokenizer.fromPretrained(dir);
  const own = loadOptions.backend === undefined ? await createWasmBackend() : undefined;
  try {
    const model = await LlamaForCausalLM.fromPretrained(dir, own === undefined ? loadOptions : { ...loadOptions, backend: own });
    return textGenerationPipeline(model, tokenizer, { ...(maxBatch === undefined ? {} : { maxBatch }), ...(own === undefined ? {} : { dispose: () => own.close() }) });
  } catch (error) {
    await own?.close();
    throw error;
  }
}
