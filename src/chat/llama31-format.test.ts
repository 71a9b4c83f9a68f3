// The built-in Llama 3.1 format. Expected strings are written out by hand from the Llama 3.1 template
// text (test/fixtures/chat/llama-3.3-70b-instruct.jinja), not produced by the code under test;
// templates.test.ts checks the same agreement mechanically against the real templates.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FakeChatTokenizer } from "../../test/chat-fake-tokenizer.js";
import { ArgumentError } from "../errors.js";
import { formatChat } from "./apply.js";
import type { ChatMessage, ToolDefinition } from "./messages.js";
import type { ChatTemplateOptions } from "./options.js";
import { segmentsToIds, segmentsToText } from "./segments.js";

const DATE = "26 Jul 2024";
const PREAMBLE = `Cutting Knowledge Date: December 2023\nToday Date: ${DATE}\n\n`;
const NOW_TOOL: ToolDefinition = { type: "function", function: { name: "now", description: "Time" } };
const NOW_TOOL_JSON =
  '{\n    "type": "function",\n    "function": {\n        "name": "now",\n        "description": "Time"\n    }\n}';
const RESPOND =
  'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.\n\n';

function render(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
  return segmentsToText(formatChat(messages, "llama3.1", { dateString: DATE, ...options }));
}

describe("formatChat llama3.1", () => {
  test("system preamble, then the conversation", () => {
    const text = render(
      [
        { role: "system", content: " You are helpful. " },
        { role: "user", content: "Hi" },
      ],
      { addGenerationPrompt: true },
    );
    assert.equal(
      text,
      `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n${PREAMBLE}You are helpful.<|eot_id|>` +
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  test("the preamble is written even without a system message", () => {
    assert.equal(
      render([{ role: "user", content: "Hi" }]),
      `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n${PREAMBLE}<|eot_id|>` +
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    );
  });

  test("the date defaults to options.now as '%d %b %Y'", () => {
    const text = segmentsToText(formatChat([{ role: "user", content: "Hi" }], "llama3.1", { now: new Date(2025, 0, 9) }));
    assert.ok(text.includes("Today Date: 09 Jan 2025\n\n"));
  });

  test("custom tools go in the first user message; tool call and tool result", () => {
    const text = render(
      [
        { role: "user", content: "What time is it?" },
        { role: "assistant", toolCalls: [{ function: { name: "now", arguments: '{"tz": "UTC"}' } }] },
        { role: "tool", content: "12:00" },
      ],
      { tools: [NOW_TOOL] },
    );
    assert.equal(
      text,
      `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n${PREAMBLE}<|eot_id|>` +
        "<|start_header_id|>user<|end_header_id|>\n\n" +
        "Given the following functions, please respond with a JSON for a function call with its proper arguments " +
        `that best answers the given prompt.\n\n${RESPOND}${NOW_TOOL_JSON}\n\nWhat time is it?<|eot_id|>` +
        '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "now", "parameters": {"tz": "UTC"}}<|eot_id|>' +
        // The template JSON-quotes a string tool result (`content is iterable` holds for strings).
        '<|start_header_id|>ipython<|end_header_id|>\n\n"12:00"<|eot_id|>',
    );
  });

  test("toolsInUserMessage false puts the tools in the system message", () => {
    const text = render([{ role: "system", content: "Sys" }, { role: "user", content: "Q" }], {
      tools: [NOW_TOOL],
      toolsInUserMessage: false,
    });
    assert.equal(
      text,
      `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n${PREAMBLE}` +
        "You have access to the following functions. To call a function, please respond with JSON for a function call." +
        `${RESPOND}${NOW_TOOL_JSON}\n\nSys<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>`,
    );
  });

  test("built-in tools: Tools line, <|python_tag|> call, <|eom_id|>", () => {
    const tokenizer = new FakeChatTokenizer();
    const segments = formatChat(
      [
        { role: "user", content: "Weather?" },
        { role: "assistant", toolCalls: [{ function: { name: "brave_search", arguments: { query: "weather" } } }] },
        { role: "ipython", content: "sunny" },
      ],
      "llama3.1",
      { builtinTools: ["code_interpreter", "brave_search"], dateString: DATE },
    );
    assert.equal(
      segmentsToText(segments),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search\n\n" +
        `${PREAMBLE}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWeather?<|eot_id|>` +
        '<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>brave_search.call(query="weather")<|eom_id|>' +
        '<|start_header_id|>ipython<|end_header_id|>\n\n"sunny"<|eot_id|>',
    );
    const ids = segmentsToIds(tokenizer, segments);
    assert.equal(ids.filter((id) => id === 128010).length, 1, "one <|python_tag|> id");
    assert.equal(ids.filter((id) => id === 128008).length, 1, "one <|eom_id|> id");
  });

  test("a custom tool call ends with <|eom_id|> too once built-in tools are on", () => {
    const text = render([{ role: "assistant", toolCalls: [{ function: { name: "now", arguments: {} } }] }], { builtinTools: [] });
    assert.ok(text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "now", "parameters": {}}<|eom_id|>'));
    assert.ok(text.includes("Environment: ipython\nTools: \n\n"));
  });

  const errors: ReadonlyArray<readonly [string, readonly ChatMessage[], ChatTemplateOptions, RegExp]> = [
    ["tools but no user message", [{ role: "system", content: "s" }], { tools: [NOW_TOOL] }, /no message after the system message/],
    [
      "two tool calls in one message",
      [
        { role: "user", content: "q" },
        { role: "assistant", toolCalls: [{ function: { name: "a", arguments: {} } }, { function: { name: "b", arguments: {} } }] },
      ],
      {},
      /^messages\[1\]\.toolCalls: the Llama 3\.1 format takes one tool call per message, got 2/,
    ],
    [
      "a non-string argument to a built-in tool",
      [{ role: "assistant", toolCalls: [{ function: { name: "brave_search", arguments: { query: 3 } } }] }],
      { builtinTools: ["brave_search"] },
      /^messages\[0\]\.toolCalls\[0\]\.function\.arguments\.query: a built-in tool call takes string arguments/,
    ],
  ];
  for (const [what, messages, options, message] of errors) {
    test(`rejects ${what}`, () => {
      assert.throws(() => render(messages, options), (err: unknown) => err instanceof ArgumentError && message.test(err.message));
    });
  }
});
