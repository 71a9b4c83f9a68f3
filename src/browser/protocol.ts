// The messages between a page (browser/client.ts) and its engine worker (browser/engine-worker.ts).
// The Backend is synchronous (the wasm pool blocks in Atomics.wait, which a page's main thread may
// not do), so the model lives in a dedicated worker and the page talks to it by these messages.

import type { ChatMessage } from "../chat/index.js";
import type { DoneEvent, GenerationOptions, TokenEvent } from "../generate/types.js";
import type { DTypeOption } from "../loader/pretrained.js";
import type { NamedBlob } from "./model-folder.js";

/** Generation options that cross to the worker (all but the signal: Stop is an "abort" message). */
export type WorkerGenerationOptions = Omit<GenerationOptions, "signal">;

/** Page -> worker. */
export type ToWorker =
  | { readonly type: "load"; readonly source: string | readonly NamedBlob[] | Blob; readonly dtype?: DTypeOption; readonly threads?: number; readonly cache?: boolean }
  | { readonly type: "generate"; readonly id: number; readonly prompt?: string; readonly messages?: readonly ChatMessage[]; readonly options: WorkerGenerationOptions }
  | { readonly type: "abort"; readonly id: number }
  | { readonly type: "tokenize"; readonly id: number; readonly text: string }
  | { readonly type: "logits"; readonly id: number; readonly ids: readonly number[] };

/** What the worker reports once the model is loaded. */
export interface LoadedInfo {
  readonly nameOrPath: string;
  /** Threads computing each op (the engine worker's included). */
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  readonly vocabSize: number;
  readonly contextLength: number;
  /** Whether the tokenizer has a chat template (messages can be sent). */
  readonly chat: boolean;
}

/** Worker -> page. */
export type FromWorker =
  | { readonly type: "progress"; readonly loadedBytes: number; readonly totalBytes: number }
  /** Bytes downloaded into OPFS (a load with cache, when the copy was not there yet). */
  | { readonly type: "download"; readonly loadedBytes: number; readonly totalBytes: number }
  | { readonly type: "loaded"; readonly info: LoadedInfo }
  | { readonly type: "warning"; readonly message: string }
  | { readonly type: "token"; readonly id: number; readonly event: TokenEvent }
  | { readonly type: "done"; readonly id: number; readonly event: DoneEvent }
  | { readonly type: "result"; readonly id: number; readonly value: unknown }
  | { readonly type: "error"; readonly id?: number; readonly name: string; readonly message: string };
