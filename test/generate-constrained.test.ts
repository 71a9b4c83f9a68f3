// Constrained decoding on the built-in default model (random weights: unconstrained, its output is
// noise, so every valid document here is the mask's doing). For several schemas (nested objects,
// arrays with bounds, enums, anyOf, $ref) the output parses and validates with ajv, greedy and
// sampled at temperature 1 with several seeds, and ends ("stop") when the document is complete;
// the same through model.generate() and pipeline(); maxNewTokens reached first gives "length"; a
// tool-call grammar forces a valid call; a regex grammar, a match.
// Strings carry maxLength so that a random model finishes them within the token budget.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import { createWasmBackend } from "../src/backend/wasm/index.js";
import { GenerationEngine } from "../src/generate/engine.js";
import { JsonGrammar } from "../src/generate/json-grammar.js";
import { compileJsonSchema } from "../src/generate/json-schema.js";
import { stepBytes } from "../src/generate/constraint.js";
import { RegexGrammar } from "../src/generate/regex-grammar.js";
import { toolCallGrammar } from "../src/generate/tool-call-grammar.js";
import { defaultModelDir } from "../src/loader/default-model.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { pipeline } from "../src/pipelines/text-generation.js";
import { Tokenizer } from "../src/tokenizer/index.js";

const dir = defaultModelDir();
const backend = await createWasmBackend(); // its worker threads do not keep the process alive
const model = await LlamaForCausalLM.fromPretrained(dir, { backend });
const tokenizer = await Tokenizer.fromPretrained(dir);
const engine = new GenerationEngine(model, { tokenizer, maxBatch: 8 });
const prompt = tokenizer.encode("Reply in JSON:");
const ajv = new Ajv({ strict: false });
/** Enough for every schema below: bounded strings, arrays and numbers, at most 20 bytes of whitespace per gap. */
const MAX_TOKENS = 400;

const SCHEMAS: Record<string, object> = {
  nested: {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 6 },
      address: { type: "object", properties: { city: { type: "string", minLength: 1, maxLength: 5 }, zip: { type: "integer" } }, required: ["city", "zip"], additionalProperties: false },
      ok: { type: "boolean" },
    },
    required: ["name", "address", "ok"],
    additionalProperties: false,
  },
  arraysAndEnums: {
    type: "object",
    properties: {
      tags: { type: "array", items: { enum: ["red", "green", 7, null] }, minItems: 1, maxItems: 3 },
      scores: { type: "array", items: { type: "number" }, maxItems: 2 },
      level: { type: "string", enum: ["low", "high"] },
    },
    required: ["tags", "level"],
    additionalProperties: false,
  },
  anyOf: { anyOf: [{ type: "integer" }, { type: "object", properties: { x: { type: ["number", "null"] } }, required: ["x"], additionalProperties: false }, { type: "string", maxLength: 4 }] },
  ref: {
    $defs: { point: { type: "object", properties: { x: { type: "integer" }, y: { type: "integer" } }, required: ["x", "y"], additionalProperties: false } },
    type: "object",
    properties: { from: { $ref: "#/$defs/point" }, to: { $ref: "#/$defs/point" }, label: { const: "line" } },
    required: ["from", "to", "label"],
    additionalProperties: false,
  },
};

const SAMPLINGS = [{ doSample: false }, ...[1, 2, 3].map((seed) => ({ doSample: true, temperature: 1, topK: 0, topP: 1, seed }))];

function assertValid(schema: object, text: string, where: string): void {
  let value: unknown;
  assert.doesNotThrow(() => (value = JSON.parse(text)), `${where}: not JSON: ${text}`);
  assert.ok(ajv.validate(schema, value), `${where}: ${text}: ${ajv.errorsText()}`);
}

test("unconstrained, the random model's output is not JSON", async () => {
  const out = await engine.submit(prompt, { maxNewTokens: 12, stopTokenIds: [] });
  assert.throws(() => JSON.parse(out.text), SyntaxError, out.text);
});

test("every schema, greedy and sampled at temperature 1 with three seeds: the output validates and ends when complete", async () => {
  const runs = Object.entries(SCHEMAS).flatMap(([name, schema]) =>
    SAMPLINGS.map(async (sampling) => ({ name, schema, sampling, out: await engine.submit(prompt, { ...sampling, maxNewTokens: MAX_TOKENS, responseFormat: { type: "json_schema", schema } }) })),
  );
  for (const { name, schema, sampling, out } of await Promise.all(runs)) {
    const where = `${name} ${JSON.stringify(sampling)}`;
    assert.equal(out.finishReason, "stop", `${where}: ${out.text}`);
    assertValid(schema, out.text, where);
    // Ended by the grammar (nothing may follow) or by a stop token where the document was complete.
    const last = out.tokenIds.at(-1)!;
    if (model.config.eosTokenIds.includes(last)) assert.equal(out.stoppedBy, last);
    else assert.equal(out.text, tokenizer.decode(out.tokenIds));
  }
});

test("json_object: any JSON object, as a valid prefix when the token budget runs out", async () => {
  const g = new JsonGrammar(compileJsonSchema({ type: "object" }));
  for (const sampling of SAMPLINGS) {
    const out = await engine.submit(prompt, { ...sampling, maxNewTokens: 24, responseFormat: { type: "json_object" } });
    assert.ok(out.text.startsWith("{"), out.text);
    if (out.finishReason === "stop") {
      const value = JSON.parse(out.text) as unknown;
      assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), out.text);
    } else {
      assert.equal(out.tokenIds.length, 24);
      assert.notEqual(stepBytes(g, g.initial(), new TextEncoder().encode(out.text)), undefined, out.text);
    }
  }
});

test("maxNewTokens reached mid-document: finishReason length", async () => {
  const out = await engine.submit(prompt, { maxNewTokens: 3, responseFormat: { type: "json_schema", schema: SCHEMAS["nested"] } });
  assert.equal(out.finishReason, "length");
  assert.throws(() => JSON.parse(out.text), SyntaxError);
});

test("model.generate() and pipeline() take responseFormat too", async () => {
  const schema = SCHEMAS["ref"]!;
  const { outputs } = await model.generate(prompt, { tokenizer, maxNewTokens: MAX_TOKENS, doSample: false, responseFormat: { type: "json_schema", schema } });
  assertValid(schema, outputs[0]!.text, "generate");
  const generator = await pipeline("text-generation", dir, { backend });
  const [result] = await generator([{ role: "user", content: "A line, as JSON" }], { maxNewTokens: MAX_TOKENS, doSample: true, seed: 5, returnFullText: false, responseFormat: { type: "json_schema", schema } });
  assertValid(schema, result.generated_text as string, "pipeline");
});

test("a tool-call grammar forces a valid Llama 3.1 call of the named function, greedy and sampled", async () => {
  const weather = { type: "object", properties: { city: { type: "string", maxLength: 8 }, unit: { enum: ["c", "f"] } }, required: ["city", "unit"], additionalProperties: false };
  const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: weather } }, { name: "noop", parameters: { type: "object", properties: {} } }];
  for (const [choice, names] of [["required", ["get_weather", "noop"]], [{ name: "get_weather" }, ["get_weather"]]] as const) {
    for (const sampling of SAMPLINGS.slice(0, 2)) {
      const out = await engine.submit(prompt, { ...sampling, maxNewTokens: MAX_TOKENS, constraint: toolCallGrammar(tools, choice) });
      assert.equal(out.finishReason, "stop", out.text);
      const call = JSON.parse(out.text) as { name: string; parameters: unknown };
      assert.deepEqual(Object.keys(call), ["name", "parameters"]);
      assert.ok((names as readonly string[]).includes(call.name), out.text);
      if (call.name === "get_weather") assert.ok(ajv.validate(weather, call.parameters), `${out.text}: ${ajv.errorsText()}`);
      else assert.deepEqual(call.parameters, {});
    }
  }
});

test("a regex grammar as the constraint: the output matches the whole pattern", async () => {
  const pattern = "\\d{3}-[a-z]{2,4}( (cat|dog|llama)s?)?|[é-ü]{2}€";
  const re = new RegExp(`^(?:${pattern})$`, "u");
  for (const sampling of SAMPLINGS) {
    const out = await engine.submit(prompt, { ...sampling, maxNewTokens: 64, constraint: new RegexGrammar(pattern) });
    assert.equal(out.finishReason, "stop", out.text);
    assert.match(out.text, re);
  }
});
