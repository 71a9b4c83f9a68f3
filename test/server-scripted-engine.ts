// A ServerEngine that answers with scripted replies instead of a model: the reply text (special tokens
// such as <|python_tag|> written as their strings) is tokenized with the real tokenizer and streamed
// token by token, as the engine streams a model's tokens (special tokens decode to ""), ending with
// the stop token <|eot_id|> or, after a built-in tool call, <|eom_id|>. The tool tests use it for the
// replies a random-weight model never gives: a well-formed tool call on demand, or a malformed one.
// Also a Llama 3.1 tokenizer (the real vocabulary with 3.1 special-token names and Meta's 3.1 chat
// template), since the bundled tokenizer carries the Llama 3 template, which has no tools.

import { readFileSync } from "node:fs";
import { LLAMA31_CHAT_TEMPLATE } from "../src/convert/chat-templates.js";
import type { GenerationEvent, GenerationOptions, SequenceOutput } from "../src/generate/types.js";
import type { ServerEngine, ServerRun } from "../src/server/index.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { exportHfTokenizer } from "../src/tokenizer/export-hf.js";
import { fixturePath } from "./support/paths.js";

/** What a scripted engine is asked: the prompt's text (decoded with special tokens) and the options. */
export interface ScriptedRequest {
  readonly promptText: string;
  readonly promptIds: readonly number[];
  readonly options: GenerationOptions;
}

/** The Llama 3.1 tokenizer with Meta's 3.1 Instruct template. */
export function llama31Tokenizer(): Tokenizer {
  const model = readFileSync(fixturePath("meta", "meta-tiny-scaled", "tokenizer.model"), "utf8");
  const files = exportHfTokenizer(model, "tokenizer.model", {
    specialTokenNames: "3.1", eosToken: "<|eot_id|>", chatTemplate: LLAMA31_CHAT_TEMPLATE, modelMaxLength: 131072,
  });
  return Tokenizer.fromHuggingFace({
    tokenizerJson: files.tokenizerJson, tokenizerJsonPath: "tokenizer.json", tokenizerConfig: files.tokenizerConfigJson, tokenizerConfigPath: "tokenizer_config.json",
  });
}

class ScriptedRun implements ServerRun {
  private readonly tokens: { id: number; text: string }[];
  private readonly finishReason: "stop" | "length";

  constructor(tokenizer: Tokenizer, private readonly promptIds: readonly number[], reply: string, maxNewTokens: number | undefined) {
    const ids = tokenizer.encode(reply, { addSpecialTokens: false, allowedSpecial: "all" });
    const stop = tokenizer.tokenToId(reply.includes("<|python_tag|>") ? "<|eom_id|>" : "<|eot_id|>")!;
    const all = [...ids, stop];
    const limit = maxNewTokens ?? all.length;
    this.finishReason = limit < all.length ? "length" : "stop";
    const decode = tokenizer.createDecodeStream({ skipSpecialTokens: true });
    this.tokens = all.slice(0, limit).map((id) => ({ id, text: decode.push(id) }));
  }

  private output(): SequenceOutput {
    // The stop token is in tokenIds, as the engine reports it; its text is "".
    return { tokenIds: this.tokens.map((t) => t.id), text: this.tokens.map((t) => t.text).join(""), finishReason: this.finishReason, promptTokens: this.promptIds.length };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GenerationEvent> {
    for (const t of this.tokens) {
      await new Promise((resolve) => setImmediate(resolve));
      yield { type: "token", sequence: 0, tokenId: t.id, text: t.text };
    }
    const out = this.output();
    yield { type: "done", sequence: 0, finishReason: out.finishReason, tokenIds: out.tokenIds, text: out.text, promptTokens: out.promptTokens };
  }

  then<A = SequenceOutput, B = never>(ok?: ((value: SequenceOutput) => A | PromiseLike<A>) | null, fail?: ((reason: unknown) => B | PromiseLike<B>) | null): PromiseLike<A | B> {
    return Promise.resolve(this.output()).then(ok, fail);
  }
}

/** An engine whose every reply is `script(request)`. */
export class ScriptedEngine implements ServerEngine {
  readonly activeCount = 0;
  readonly queuedCount = 0;
  readonly requests: ScriptedRequest[] = [];

  constructor(private readonly tokenizer: Tokenizer, public script: (request: ScriptedRequest) => string) {}

  submit(promptIds: readonly number[], options: GenerationOptions): ServerRun {
    const request = { promptText: this.tokenizer.decode([...promptIds]), promptIds, options };
    this.requests.push(request);
    return new ScriptedRun(this.tokenizer, promptIds, this.script(request), options.maxNewTokens);
  }
}
