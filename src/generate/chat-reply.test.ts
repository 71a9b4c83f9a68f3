// chatReplyEvents and chatReplyOf over scripted generation events: text passes through, a tool call is
// held back and parsed at the end (with <|python_tag|> restored from its token id), a malformed call
// ends as its text with "malformed_tool_call" ("length" when maxNewTokens cut it), and the streamed
// and whole readings agree.

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChatReplyEvent, type ChatReplyOptions, chatReplyEvents, chatReplyOf } from "./chat-reply.js";
import type { FinishReason, GenerationEvent } from "./types.js";

const TAG = 128010;
const STOP = 128009;
const OPTIONS: ChatReplyOptions = { parseToolCalls: true, pythonTagId: TAG };

// Tokens as [id, text]; ids are arbitrary except the tag and the stop token.
function events(tokens: readonly [number, string][], finishReason: FinishReason = "stop"): GenerationEvent[] {
  const all: GenerationEvent[] = tokens.map(([tokenId, text]) => ({ type: "token", sequence: 0, tokenId, text }));
  const text = tokens.map(([, t]) => t).join("");
  all.push({ type: "done", sequence: 0, finishReason, tokenIds: tokens.map(([id]) => id), text, promptTokens: 3 });
  return all;
}

async function collect(list: GenerationEvent[], options = OPTIONS): Promise<ChatReplyEvent[]> {
  async function* source(): AsyncGenerator<GenerationEvent> {
    yield* list;
  }
  const out: ChatReplyEvent[] = [];
  for await (const e of chatReplyEvents(source(), options)) out.push(e);
  return out;
}

const shown = (out: ChatReplyEvent[]): string => out.map((e) => (e.type === "text" ? e.text : "")).join("");
const last = (out: ChatReplyEvent[]): Extract<ChatReplyEvent, { type: "done" }> => out.at(-1) as Extract<ChatReplyEvent, { type: "done" }>;

test("text streams from its first character; the end is the sequence's", async () => {
  const list = events([[1, "Hel"], [2, "lo"], [STOP, ""]]);
  const out = await collect(list);
  assert.deepEqual(out.slice(0, 2).map((e) => [e.type, e.type === "text" ? e.text : ""]), [["text", "Hel"], ["text", "lo"]]);
  assert.deepEqual([last(out).finishReason, last(out).text, last(out).toolCalls], ["stop", "Hello", []]);
  assert.equal(chatReplyOf({ text: "Hello", tokenIds: [1, 2, STOP], finishReason: "stop" }, OPTIONS).finishReason, "stop");
});

test("a JSON call is held back (no text) and ends as tool_calls", async () => {
  const list = events([[1, '{"name": "f", '], [2, '"parameters": {"x": 1}}'], [STOP, ""]]);
  const out = await collect(list);
  assert.equal(shown(out), "");
  assert.ok(out.slice(0, 3).every((e) => e.type === "held"));
  assert.deepEqual([last(out).finishReason, last(out).toolCalls], ["tool_calls", [{ name: "f", arguments: { x: 1 } }]]);
  assert.deepEqual(chatReplyOf({ text: '{"name": "f", "parameters": {"x": 1}}', tokenIds: [1, 2, STOP], finishReason: "stop" }, OPTIONS).toolCalls, [{ name: "f", arguments: { x: 1 } }]);
});

test("<|python_tag|> (decoded as nothing) is restored from its id, so a built-in call parses", async () => {
  const list = events([[TAG, ""], [1, 'brave_search.call(query="x")'], [128008, ""]]);
  const out = await collect(list);
  assert.deepEqual(last(out).toolCalls, [{ name: "brave_search", arguments: { query: "x" } }]);
  const whole = chatReplyOf({ text: 'brave_search.call(query="x")', tokenIds: [TAG, 1, 128008], finishReason: "stop" }, OPTIONS);
  assert.deepEqual(whole.toolCalls, last(out).toolCalls);
  // Without the tag's id the same text is plain text.
  const untagged = await collect(list, { parseToolCalls: true, pythonTagId: undefined });
  assert.equal(last(untagged).finishReason, "stop");
  assert.equal(shown(untagged), 'brave_search.call(query="x")');
});

test("a malformed call ends as its text (the tag not shown) with malformed_tool_call; cut off, with length", async () => {
  const bad = await collect(events([[TAG, ""], [1, '{"name": "f", "parameters": 3}'], [STOP, ""]]));
  assert.equal(shown(bad), '{"name": "f", "parameters": 3}');
  assert.equal(last(bad).finishReason, "malformed_tool_call");
  assert.match(last(bad).malformedReason!, /not a JSON object/);
  const cut = await collect(events([[1, '{"name": "f", "param'], [2, "eters"]], "length"));
  assert.equal(shown(cut), '{"name": "f", "parameters');
  assert.deepEqual([last(cut).finishReason, last(cut).text], ["length", '{"name": "f", "parameters']);
  assert.match(last(cut).malformedReason!, /incomplete/);
  const whole = chatReplyOf({ text: '{"name": "f", "parameters', tokenIds: [1, 2], finishReason: "length" }, OPTIONS);
  assert.deepEqual([whole.finishReason, whole.text], ["length", '{"name": "f", "parameters']);
});

test("parseToolCalls false: everything is text, a call included", async () => {
  const list = events([[1, '{"name": "f", "parameters": {}}'], [STOP, ""]]);
  const out = await collect(list, { parseToolCalls: false, pythonTagId: TAG });
  assert.equal(shown(out), '{"name": "f", "parameters": {}}');
  assert.equal(last(out).finishReason, "stop");
});
