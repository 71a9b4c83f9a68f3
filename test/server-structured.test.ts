// Structured output over HTTP, as clients ask for it: OpenAI's `response_format` (json_schema,
// json_object) through the official `openai` client on chat completions (whole and streamed) and
// completions, the AI SDK's `generateObject` and `generateText` with `Output.object` (zod schemas, on
// chat completions and on the default provider's /v1/responses), and LangChain's `withStructuredOutput`, against the server on loopback with the real
// engine and the tiny random-weight model (its unconstrained text is noise: valid JSON is the
// constraint's doing). Answers parse and validate with ajv; unsupported keywords are 400s naming them.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createOpenAI } from "@ai-sdk/openai";
import { ChatOpenAI } from "@langchain/openai";
import { Output, generateObject, generateText } from "ai";
import { Ajv } from "ajv";
import OpenAI from "openai";
import { z } from "zod";
import { MODEL_ID, type TestServer, startServer } from "./server-support.js";

let s: TestServer;
let client: OpenAI;
const ajv = new Ajv({ strict: false });

before(async () => {
  s = await startServer();
  client = new OpenAI({ baseURL: s.baseURL, apiKey: "none", maxRetries: 0 });
});
after(async () => {
  await s.close();
});

/** Bounded strings and arrays, so that a random model completes the document within the budget. */
const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 8 },
    age: { type: "integer" },
    pets: { type: "array", items: { enum: ["cat", "dog", "llama"] }, maxItems: 2 },
    address: { anyOf: [{ type: "null" }, { $ref: "#/$defs/address" }] },
  },
  required: ["name", "age", "pets", "address"],
  additionalProperties: false,
  $defs: { address: { type: "object", properties: { city: { type: "string", maxLength: 6 } }, required: ["city"], additionalProperties: false } },
};
const MESSAGES = [{ role: "user" as const, content: "Describe a person as JSON." }];
const MAX_TOKENS = 400;

function assertValid(text: string | null | undefined, schema: object = PERSON): void {
  assert.equal(typeof text, "string");
  const value = JSON.parse(text!) as unknown;
  assert.ok(ajv.validate(schema, value), `${text}: ${ajv.errorsText()}`);
}

test("chat completions with a json_schema response_format validate, greedy and sampled", async () => {
  for (const sampling of [{ temperature: 0 }, { temperature: 1, seed: 1 }, { temperature: 1, seed: 2 }]) {
    const completion = await client.chat.completions.create({
      model: MODEL_ID, messages: MESSAGES, max_tokens: MAX_TOKENS, ...sampling,
      response_format: { type: "json_schema", json_schema: { name: "person", strict: true, schema: PERSON } },
    });
    const choice = completion.choices[0]!;
    assert.equal(choice.finish_reason, "stop", choice.message.content ?? "");
    assertValid(choice.message.content);
  }
  // The client's parse() helper reads the content as JSON.
  const parsed = await client.chat.completions.parse({
    model: MODEL_ID, messages: MESSAGES, max_tokens: MAX_TOKENS, temperature: 0,
    response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON } },
  });
  assert.ok(ajv.validate(PERSON, parsed.choices[0]!.message.parsed), JSON.stringify(parsed.choices[0]!.message));
});

test("streamed: the deltas add up to a valid document", async () => {
  const stream = await client.chat.completions.create({
    model: MODEL_ID, messages: MESSAGES, max_tokens: MAX_TOKENS, temperature: 1, seed: 7, stream: true,
    response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON } },
  });
  let text = "";
  let finish: string | null = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.delta.content ?? "";
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(finish, "stop");
  assertValid(text);
});

test("json_object on chat and completions; max_tokens reached mid-document is finish_reason length", async () => {
  const completion = await client.completions.create({
    model: MODEL_ID, prompt: "JSON:", max_tokens: 2, temperature: 0,
    response_format: { type: "json_object" },
  } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
  assert.equal(completion.choices[0]!.finish_reason, "length");
  assert.ok(completion.choices[0]!.text.startsWith("{"), completion.choices[0]!.text);
  const chat = await client.chat.completions.create({ model: MODEL_ID, messages: MESSAGES, max_tokens: 3, temperature: 0, response_format: { type: "json_object" } });
  assert.equal(chat.choices[0]!.finish_reason, "length");
  assert.ok(chat.choices[0]!.message.content!.startsWith("{"));
});

test("an unsupported keyword is a 400 naming it; the client sees a BadRequestError", async () => {
  const bad = { type: "object", properties: { email: { type: "string", format: "uri-reference" } }, required: ["email"], additionalProperties: false };
  await assert.rejects(
    client.chat.completions.create({ model: MODEL_ID, messages: MESSAGES, response_format: { type: "json_schema", json_schema: { name: "x", schema: bad } } }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === "response_format.json_schema.schema" && /"format"/.test(e.message) && /#\/properties\/email\/format/.test(e.message),
  );
});

test("LangChain withStructuredOutput (json schema method) returns a validated object", async () => {
  const model = new ChatOpenAI({ model: MODEL_ID, apiKey: "none", temperature: 0, maxTokens: MAX_TOKENS, maxRetries: 0, configuration: { baseURL: s.baseURL } });
  const structured = model.withStructuredOutput({ ...PERSON, title: "person" }, { method: "jsonSchema", name: "person" });
  const result = await structured.invoke("Describe a person.");
  assert.ok(ajv.validate(PERSON, result), `${JSON.stringify(result)}: ${ajv.errorsText()}`);
});

/** PERSON as a zod schema (bounded, as above, so the random model finishes the document). */
const ZOD_PERSON = z.object({
  name: z.string().max(8),
  age: z.number().int(),
  pets: z.array(z.enum(["cat", "dog", "llama"])).max(2),
  address: z.object({ city: z.string().max(6) }).nullable(),
});

for (const [name, api] of [["chat completions", "chat"], ["the default provider (/v1/responses)", "responses"]] as const) {
  test(`AI SDK generateObject and generateText with Output.object, zod schema: a validated object (${name})`, async () => {
    const provider = createOpenAI({ baseURL: s.baseURL, apiKey: "none" });
    const model = api === "chat" ? provider.chat(MODEL_ID) : provider(MODEL_ID);
    const settings = { model, prompt: "Describe a person.", maxOutputTokens: MAX_TOKENS, temperature: 0, maxRetries: 0 } as const;
    const generated = await generateObject({ ...settings, schema: ZOD_PERSON, schemaName: "person" });
    // The SDK has parsed and validated it with the zod schema already; check it independently too.
    assert.equal(generated.finishReason, "stop");
    assert.deepEqual(ZOD_PERSON.parse(generated.object), generated.object);
    assert.ok(ajv.validate(PERSON, generated.object), `${JSON.stringify(generated.object)}: ${ajv.errorsText()}`);
    const text = await generateText({ ...settings, temperature: 1, seed: 3, output: Output.object({ schema: ZOD_PERSON, name: "person" }) });
    assert.ok(ajv.validate(PERSON, text.output), `${JSON.stringify(text.output)}: ${ajv.errorsText()}`);
  });
}

/** zod's string formats and number bounds, as the AI SDK sends them (format + pattern, min/max). */
const ZOD_CONTACT = z.object({
  email: z.string().email().max(24),
  id: z.string().uuid(),
  // Bounded, as the other strings here: the pattern allows any number of fraction digits, and a
  // random-weight model may well keep writing them.
  at: z.string().datetime().max(32),
  score: z.number().min(0).max(1),
  rank: z.number().int().positive().max(9),
});

test("AI SDK generateObject: zod's email, uuid and datetime patterns and number bounds hold (sampled)", async () => {
  const provider = createOpenAI({ baseURL: s.baseURL, apiKey: "none" });
  for (const seed of [1, 2]) {
    const generated = await generateObject({ model: provider.chat(MODEL_ID), prompt: "A contact.", schema: ZOD_CONTACT, maxOutputTokens: 400, temperature: 1, seed, maxRetries: 0 });
    // generateObject throws unless zod accepts the object; parse again to show what was checked.
    assert.deepEqual(ZOD_CONTACT.parse(generated.object), generated.object);
  }
});

test("LangChain withStructuredOutput with a zod schema (its default method and jsonSchema) returns an object zod accepts", async () => {
  const model = new ChatOpenAI({ model: MODEL_ID, apiKey: "none", temperature: 0, maxTokens: MAX_TOKENS, maxRetries: 0, configuration: { baseURL: s.baseURL } });
  for (const method of [undefined, "jsonSchema"] as const) {
    const structured = model.withStructuredOutput(ZOD_CONTACT, { name: "contact", ...(method && { method }) });
    const result = await structured.invoke("A contact.");
    assert.deepEqual(ZOD_CONTACT.parse(result), result, `${method ?? "default"}: ${JSON.stringify(result)}`);
  }
});
