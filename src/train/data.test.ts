// The training data pipeline: each JSONL layout against the tokenizer and chat template it goes
// through (expected ids are computed here from the tokenizer and from the template's own rendered
// text, never written down), one test per kind of bad line asserting file, line and field, truncation,
// collation and seeded shuffling. Uses the bundled Llama 3 tokenizer and its Instruct chat template.

import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirsRemovedAfter } from "../../test/support/checkpoints.js";
import { type ChatMessage, renderChatTemplate } from "../chat/index.js";
import { LLAMA31_CHAT_TEMPLATE } from "../convert/chat-templates.js";
import { Tokenizer } from "../tokenizer/index.js";
import { IGNORE_INDEX } from "./batch.js";
import { DatasetError, collate, epochBatches, epochOrder, parseJsonlDataset, readJsonlDataset, scoredLabels } from "./data.js";
import type { DataTokenizer } from "./data-format.js";

const tempDir = tempDirsRemovedAfter();
const tokenizer = await Tokenizer.bundled();
const VOCAB = tokenizer.vocabSize;
const parse = (lines: readonly unknown[], extra: { maxSeqLen?: number; tokenizer?: DataTokenizer | undefined; vocabSize?: number } = {}) =>
  parseJsonlDataset(lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n"), "train.jsonl", { vocabSize: extra.vocabSize ?? VOCAB, tokenizer: "tokenizer" in extra ? extra.tokenizer : tokenizer, ...(extra.maxSeqLen === undefined ? {} : { maxSeqLen: extra.maxSeqLen }) });

/** The bundled tokenizer with another chat template. */
function withTemplate(template: string): DataTokenizer {
  return {
    encode: (text, options) => tokenizer.encode(text, options),
    tokenToId: (token) => tokenizer.tokenToId(token),
    idToBytes: (id) => tokenizer.idToBytes(id),
    chatTemplate: template,
    bosToken: tokenizer.bosToken,
    eosToken: tokenizer.eosToken,
    eosTokenId: tokenizer.eosTokenId,
  };
}

/** The texts of the runs of consecutive trained (label != -100) tokens. */
function trainedRuns(ids: Int32Array, labels: Int32Array): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  ids.forEach((id, t) => {
    if (labels[t] !== IGNORE_INDEX) run.push(id);
    else if (run.length > 0) (runs.push(tokenizer.decode(run)), (run = []));
  });
  if (run.length > 0) runs.push(tokenizer.decode(run));
  return runs;
}

function assertDatasetError(run: () => unknown, line: number, field: string | undefined, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DatasetError, `a DatasetError, got ${String(error)}`);
    assert.equal(error.file, "train.jsonl");
    assert.equal(error.line, line);
    assert.equal(error.field, field);
    assert.match(error.message, pattern);
    return true;
  });
}

test("text: the tokenizer's ids (BOS first) plus EOS, loss on every token", () => {
  const text = "Fine-tuning a Llama in TypeScript.";
  const [e] = parse([{ text }]).examples;
  const expected = [...tokenizer.encode(text), tokenizer.eosTokenId];
  assert.equal(expected[0], tokenizer.bosTokenId);
  assert.deepEqual([...e!.inputIds], expected);
  assert.deepEqual([...e!.labels], expected);
  assert.deepEqual([...e!.attentionMask], expected.map(() => 1));
});

test("prompt/completion: labels -100 on exactly the prompt's tokens, the completion (and EOS) trained", () => {
  const prompt = "Q: What is the capital of France?\nA:";
  const completion = " Paris.";
  const [e] = parse([{ prompt, completion }]).examples;
  const promptIds = tokenizer.encode(prompt);
  assert.deepEqual([...e!.inputIds.slice(0, promptIds.length)], promptIds);
  assert.ok(e!.labels.slice(0, promptIds.length).every((l) => l === IGNORE_INDEX));
  const trained = [...e!.labels.slice(promptIds.length)];
  assert.ok(trained.every((l) => l !== IGNORE_INDEX));
  assert.equal(tokenizer.decode(trained), completion + tokenizer.eosToken);
});

const CHAT: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Capital of France?" },
  { role: "assistant", content: "Paris." },
  { role: "user", content: "And of Italy?" },
  { role: "assistant", content: "  Rome, of course. <|eot_id|> is just text here? " },
];

for (const [name, tok] of [["Llama 3 template", tokenizer], ["Llama 3.1 template", withTemplate(LLAMA31_CHAT_TEMPLATE)]] as const) {
  test(`messages (${name}): ids are the rendered template's; the trained tokens spell each assistant turn's rendered text and nothing else`, () => {
    const [e] = parse([{ messages: CHAT }], { tokenizer: tok }).examples;
    const template = tok.chatTemplate!;
    const render = (messages: ChatMessage[], addGenerationPrompt: boolean): string => renderChatTemplate(template, messages, { bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken, addGenerationPrompt });
    const full = render(CHAT, false);
    assert.equal(tokenizer.decode([...e!.inputIds]), full, "the example is the whole rendered chat");
    // Both templates write an assistant turn as its header, the content stripped (Jinja's trim) and
    // <|eot_id|>: the trained text is that content and end-of-turn token, found in the render after
    // the assistant header, and no header, system or user text.
    const expected = [CHAT[2]!, CHAT[4]!].map((m) => `${(m.content as string).trim()}<|eot_id|>`);
    for (const turn of expected) assert.ok(full.includes(`<|start_header_id|>assistant<|end_header_id|>\n\n${turn}`), `the render holds ${JSON.stringify(turn)} after an assistant header`);
    assert.deepEqual(trainedRuns(e!.inputIds, e!.labels), expected);
  });
}

test("messages through the built-in format (no template) mask the same turns", () => {
  const noTemplate = { ...withTemplate(""), chatTemplate: undefined };
  const [e] = parse([{ messages: CHAT.slice(0, 3) }], { tokenizer: noTemplate }).examples;
  assert.deepEqual(trainedRuns(e!.inputIds, e!.labels), ["Paris.<|eot_id|>"]);
});

test("pre-tokenized lines are used exactly; missing labels = input_ids, missing mask = ones", () => {
  const data = parse([
    { input_ids: [5, 6, 7, 8], attention_mask: [1, 1, 1, 0], labels: [-100, 6, 7, -100] },
    { input_ids: [9, 10] },
  ], { tokenizer: undefined, vocabSize: 512 });
  const [a, b] = data.examples;
  assert.deepEqual([...a!.inputIds], [5, 6, 7, 8]);
  assert.deepEqual([...a!.attentionMask], [1, 1, 1, 0]);
  assert.deepEqual([...a!.labels], [-100, 6, 7, -100]);
  assert.deepEqual([...b!.labels], [9, 10]);
  assert.deepEqual([...b!.attentionMask], [1, 1]);
  assert.equal(data.labelTokens, 2 + 1);
  assert.deepEqual(data.formats, { text: 0, "prompt-completion": 0, messages: 0, tokens: 2 });
});

test("bad lines: a DatasetError naming file, line and field", () => {
  const ok = { text: "fine" };
  assertDatasetError(() => parse([ok, "{not json"]), 2, undefined, /not valid JSON/);
  assertDatasetError(() => parse(["[1, 2]"]), 1, undefined, /JSON object/);
  assertDatasetError(() => parse([{ txt: "x" }]), 1, undefined, /no "text"/);
  assertDatasetError(() => parse([{ text: 3 }]), 1, "text", /must be a string, got number 3/);
  assertDatasetError(() => parse([{ text: "" }]), 1, "text", /empty/);
  assertDatasetError(() => parse([{ prompt: "a" }]), 1, "completion", /missing/);
  assertDatasetError(() => parse([{ text: "a", messages: [] }]), 1, "messages", /mixes/);
  assertDatasetError(() => parse([{ input_ids: [1] }, "", { input_ids: [1, 2, 600] }], { vocabSize: 512 }), 3, "input_ids[2]", /outside the model's vocabulary \[0, 512\)/);
  assertDatasetError(() => parse([{ input_ids: [1, 2.5] }]), 1, "input_ids[1]", /integer/);
  assertDatasetError(() => parse([{ input_ids: [] }]), 1, "input_ids", /empty/);
  assertDatasetError(() => parse([{ input_ids: [1, 2], labels: [1] }]), 1, "labels", /has 1 entries; input_ids has 2/);
  assertDatasetError(() => parse([{ input_ids: [1, 2], labels: [1, -5] }]), 1, "labels[1]", /-100/);
  assertDatasetError(() => parse([{ input_ids: [1, 2], attention_mask: [1, 2] }]), 1, "attention_mask[1]", /0 or 1/);
  assertDatasetError(() => parse([{ labels: [1, 2] }]), 1, "input_ids", /missing/);
  assertDatasetError(() => parse([{ messages: [{ role: "user", content: "hi" }] }]), 1, "messages", /no assistant/);
  assertDatasetError(() => parse([{ messages: [{ role: "wizard", content: "hi" }, { role: "assistant", content: "x" }] }]), 1, "messages[0].role", /unknown role/);
  assertDatasetError(() => parse([{ text: "hi" }], { tokenizer: undefined }), 1, "text", /needs a tokenizer/);
  assertDatasetError(() => parse(["", "  "]), 0, undefined, /no examples/);
});

test("maxSeqLen truncates to the first tokens and counts it; an example left without labels is dropped and counted", () => {
  const data = parse([
    { input_ids: [1, 2, 3, 4, 5, 6] },
    { input_ids: [1, 2, 3], labels: [-100, -100, 3] },
    { input_ids: [7, 8] },
  ], { tokenizer: undefined, vocabSize: 512, maxSeqLen: 2 });
  assert.equal(data.truncated, 2);
  assert.equal(data.dropped, 1);
  assert.deepEqual(data.examples.map((e) => [...e.inputIds]), [[1, 2], [7, 8]]);
  assert.match(data.warnings.join("\n"), /2 of 3 examples were longer than 2 tokens/);
  assert.match(data.warnings.join("\n"), /1 of 3 examples have no label/);
  assertDatasetError(() => parse([{ input_ids: [1, 2, 3], labels: [-100, -100, 3] }], { tokenizer: undefined, vocabSize: 512, maxSeqLen: 2 }), 0, undefined, /none of its 1 examples/);
});

test("unknown fields are reported once, not silently dropped", () => {
  const data = parse([{ text: "a b", source: "web" }, { text: "c", source: "x" }]);
  assert.deepEqual(data.warnings, ['field "source" (first on line 1) is not a training field and was ignored']);
});

test("collate right-pads with the pad id, mask 0 and label -100, and needs a pad id only when padding", () => {
  const data = parse([{ input_ids: [1, 2, 3] }, { input_ids: [4, 5], labels: [-100, 5] }], { tokenizer: undefined, vocabSize: 512 });
  const batch = collate(data.examples, 9);
  assert.equal(batch.rows, 2);
  assert.equal(batch.seqLen, 3);
  assert.deepEqual([...batch.inputIds], [1, 2, 3, 4, 5, 9]);
  assert.deepEqual([...batch.attentionMask], [1, 1, 1, 1, 1, 0]);
  assert.deepEqual([...batch.labels], [1, 2, 3, -100, 5, -100]);
  assert.throws(() => collate(data.examples, undefined), /pad token/);
  assert.doesNotThrow(() => collate([data.examples[0]!], undefined));
  assert.equal(scoredLabels(batch.labels.subarray(3)), 1);
});

test("epoch order: a seeded permutation, the same per (seed, epoch), different across epochs and seeds", () => {
  const a = epochOrder(50, 42, 0);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(epochOrder(50, 42, 0), a);
  assert.notDeepEqual(epochOrder(50, 42, 1), a);
  assert.notDeepEqual(epochOrder(50, 43, 0), a);
  const data = parse(Array.from({ length: 5 }, (_, i) => ({ input_ids: [i + 1, i + 1] })), { tokenizer: undefined, vocabSize: 512 });
  const batches = epochBatches(data, 0, { batchSize: 2, padTokenId: undefined, seed: 42 });
  assert.deepEqual(batches.map((b) => b.rows), [2, 2, 1], "the last batch is smaller (no drop_last)");
  const firsts = batches.flatMap((b) => Array.from({ length: b.rows }, (_, r) => b.inputIds[r * b.seqLen]! - 1));
  assert.deepEqual(firsts, epochOrder(5, 42, 0));
  const inOrder = epochBatches(data, 0, { batchSize: 5, padTokenId: undefined, shuffle: false });
  assert.deepEqual(Array.from({ length: 5 }, (_, r) => inOrder[0]!.inputIds[r * 2]), [1, 2, 3, 4, 5]);
});

test("readJsonlDataset: a file with CRLF line ends and a BOM; invalid UTF-8 and a missing file name the line or file", async () => {
  const dir = tempDir("data");
  const good = join(dir, "good.jsonl");
  writeFileSync(good, `\uFEFF${JSON.stringify({ input_ids: [1, 2] })}\r\n\r\n${JSON.stringify({ input_ids: [3, 4, 5] })}`);
  const data = await readJsonlDataset(good, { vocabSize: 512 });
  assert.deepEqual(data.examples.map((e) => [e.line, ...e.inputIds]), [[1, 1, 2], [3, 3, 4, 5]]);
  const bad = join(dir, "bad.jsonl");
  writeFileSync(bad, Buffer.concat([Buffer.from('{"input_ids": [1, 2]}\n{"text": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]));
  await assert.rejects(readJsonlDataset(bad, { vocabSize: 512, tokenizer }), (e: unknown) => e instanceof DatasetError && e.line === 2 && /UTF-8/.test(e.message));
  await assert.rejects(readJsonlDataset(join(dir, "missing.jsonl"), { vocabSize: 512 }), (e: unknown) => e instanceof DatasetError && e.line === 0 && /cannot read/.test(e.message));
});

test("microBatches runs across epochs and a resumed start gives the same batches as the uninterrupted run", async () => {
  const { microBatches } = await import("./data.js");
  const data = parse(Array.from({ length: 5 }, (_, i) => ({ input_ids: [i + 1, i + 1] })), { tokenizer: undefined, vocabSize: 512 });
  const take = (start: number, n: number) => {
    const out = [];
    for (const b of microBatches(data, { batchSize: 2, padTokenId: undefined, seed: 7, start })) {
      out.push([b.epoch, b.index, ...b.batch.inputIds]);
      if (out.length === n) break;
    }
    return out;
  };
  const all = take(0, 9);
  assert.deepEqual(all.map((b) => [b[0], b[1]]), [[0, 0], [0, 1], [0, 2], [1, 3], [1, 4], [1, 5], [2, 6], [2, 7], [2, 8]]);
  assert.notDeepEqual(all.slice(0, 3).map((b) => b.slice(2)), all.slice(3, 6).map((b) => b.slice(2)), "each epoch is reshuffled");
  assert.deepEqual(take(4, 5), all.slice(4));
});
