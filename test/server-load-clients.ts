// The client side of server-load.test.ts, run in a worker thread so that the clients' HTTP work does
// not compete with the server's event loop: N concurrent streaming chat requests with the official
// openai client; posts back each answer (text, finish reason, usage, chunk count) in request order.

import { parentPort, workerData } from "node:worker_threads";
import OpenAI from "openai";

/** What the test sends the worker. */
export interface LoadClientsInput {
  readonly baseURL: string;
  readonly model: string;
  readonly clients: number;
  readonly maxTokens: number;
}

/** One streamed answer. */
export interface StreamedAnswer {
  readonly text: string;
  readonly finishReason: string | null;
  readonly completionTokens: number;
  readonly chunks: number;
  /** Every chunk's choices had index 0 and the stream's chunks shared one id. */
  readonly wellFormed: boolean;
}

/** The prompt of request i (distinct per request, so answers can be told apart). */
export function loadPrompt(i: number): string {
  return `Request ${i}: say something about the number ${i * 7}.`;
}

async function streamOne(client: OpenAI, input: LoadClientsInput, i: number): Promise<StreamedAnswer> {
  const stream = await client.chat.completions.create({
    model: input.model,
    messages: [{ role: "user", content: loadPrompt(i) }],
    max_tokens: input.maxTokens,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finishReason: string | null = null;
  let completionTokens = -1;
  let chunks = 0;
  let wellFormed = true;
  let id: string | undefined;
  for await (const chunk of stream) {
    chunks++;
    id ??= chunk.id;
    if (chunk.id !== id) wellFormed = false;
    for (const choice of chunk.choices) {
      if (choice.index !== 0) wellFormed = false;
      text += choice.delta.content ?? "";
      finishReason = choice.finish_reason ?? finishReason;
    }
    if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
  }
  return { text, finishReason, completionTokens, chunks, wellFormed };
}

if (parentPort !== null) {
  const input = workerData as LoadClientsInput;
  const client = new OpenAI({ baseURL: input.baseURL, apiKey: "none", maxRetries: 0, timeout: 60_000 });
  const port = parentPort;
  Promise.all(Array.from({ length: input.clients }, (_, i) => streamOne(client, input, i))).then(
    (answers) => port.postMessage({ answers }),
    (error: unknown) => port.postMessage({ error: String(error) }),
  );
}
