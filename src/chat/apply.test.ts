// applyChatTemplate: which path it takes, how each path tokenizes, continueFinalMessage, options.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { FakeChatTokenizer } from "../../test/chat-fake-tokenizer.js";
import { PROJECT_ROOT } from "../../test/support/paths.js";
import { ArgumentError, TokenizerError } from "../errors.js";
import { applyChatTemplate, formatChat, renderChatTemplate } from "./apply.js";
import type { ChatMessage } from "./messages.js";
import type { ChatTemplateOptions } from "./options.js";
import { segmentsToText } from "./segments.js";

const LLAMA33 = readFileSync(join(PROJECT_ROOT, "test", "fixtures", "chat", "llama-3.3-70b-instruct.jinja"), "utf8");
const HI: readonly ChatMessage[] = [{ role: "user", content: "Hi" }];

describe("applyChatTemplate chooses the path", () => {
  test("the tokenizer's template when it has one", () => {
    assert.equal(applyChatTemplate(new FakeChatTokenizer({ chatTemplate: LLAMA33 }), HI).format, "template");
  });

  test("else llama3.1 for a vocabulary with <|eom_id|>, llama3 without", () => {
    assert.equal(applyChatTemplate(new FakeChatTokenizer({ names: "3.1" }), HI).format, "llama3.1");
    assert.equal(applyChatTemplate(new FakeChatTokenizer({ names: "3.0" }), HI).format, "llama3");
  });

  test("options.format and options.chatTemplate override", () => {
    const withTemplate = new FakeChatTokenizer({ chatTemplate: LLAMA33 });
    assert.equal(applyChatTemplate(withTemplate, HI, { format: "llama3" }).format, "llama3");
    const custom = applyChatTemplate(new FakeChatTokenizer(), HI, { chatTemplate: "{{ bos_token }}{{ messages[0].content }}" });
    assert.equal(custom.format, "template");
    assert.equal(custom.text, "<|begin_of_text|>Hi");
  });

  test('format "template" without a template is an ArgumentError', () => {
    assert.throws(() => applyChatTemplate(new FakeChatTokenizer(), HI, { format: "template" }), ArgumentError);
  });
});

describe("applyChatTemplate tokenizes", () => {
  test("template text with special parsing and no added BOS: exactly one <|begin_of_text|>", () => {
    const tokenizer = new FakeChatTokenizer({ chatTemplate: LLAMA33 });
    const prompt = applyChatTemplate(tokenizer, HI, { addGenerationPrompt: true });
    assert.deepEqual(tokenizer.calls.map((c) => c.options), [{ addSpecialTokens: false, allowedSpecial: "all" }]);
    assert.equal(prompt.ids[0], 128000);
    assert.equal(prompt.ids.filter((id) => id === 128000).length, 1);
    assert.equal(tokenizer.decode(prompt.ids), prompt.text);
  });

  test("built-in segments with plain-text encoding; text and ids describe the same prompt", () => {
    const tokenizer = new FakeChatTokenizer({ names: "3.0" });
    const prompt = applyChatTemplate(tokenizer, [{ role: "user", content: "<|begin_of_text|>" }], { addGenerationPrompt: true });
    assert.ok(tokenizer.calls.every((c) => c.options?.allowedSpecial === "none"));
    assert.equal(prompt.ids.filter((id) => id === 128000).length, 1, "the typed BOS string stays text");
    assert.equal(tokenizer.decode(prompt.ids), prompt.text);
  });

  test("a built-in format needing a token the vocabulary lacks is a TokenizerError", () => {
    const messages: readonly ChatMessage[] = [
      { role: "assistant", toolCalls: [{ function: { name: "brave_search", arguments: { query: "x" } } }] },
    ];
    assert.throws(
      () =>
        applyChatTemplate(new FakeChatTokenizer({ names: "3.0" }), messages, {
          format: "llama3.1",
          builtinTools: ["brave_search"],
        }),
      (err: unknown) => err instanceof TokenizerError && err.message.includes("<|python_tag|>"),
    );
  });
});

describe("continueFinalMessage", () => {
  const partial: readonly ChatMessage[] = [
    { role: "user", content: "Count to three." },
    { role: "assistant", content: "One, two, " },
  ];

  test("both paths stop right after the final message's text, as transformers does", () => {
    const options = { continueFinalMessage: true, dateString: "26 Jul 2024" } as const;
    const jinja = renderChatTemplate(LLAMA33, partial, { ...options, bosToken: "<|begin_of_text|>" });
    assert.ok(jinja.endsWith("<|start_header_id|>assistant<|end_header_id|>\n\nOne, two,"), jinja);
    assert.equal(segmentsToText(formatChat(partial, "llama3.1", options)), jinja);
  });

  test("keeps the message's own spacing when the template kept it", () => {
    const text = renderChatTemplate("{% for m in messages %}[{{ m.content }}]{% endfor %}", partial, { continueFinalMessage: true });
    assert.equal(text, "[Count to three.][One, two, ");
  });

  test("cannot be combined with addGenerationPrompt, nor continue a tool call", () => {
    const both = { continueFinalMessage: true, addGenerationPrompt: true } as const;
    assert.throws(() => formatChat(partial, "llama3", both), /cannot both be set/);
    const call: readonly ChatMessage[] = [{ role: "assistant", toolCalls: [{ function: { name: "f", arguments: {} } }] }];
    assert.throws(() => renderChatTemplate(LLAMA33, call, { continueFinalMessage: true }), /no text to continue/);
  });
});

describe("options", () => {
  test("templateVariables reach the template; reserved names are refused", () => {
    assert.equal(renderChatTemplate("{{ greeting }}", HI, { templateVariables: { greeting: "hey" } }), "hey");
    assert.throws(
      () => renderChatTemplate("x", HI, { templateVariables: { messages: [] } }),
      (err: unknown) => err instanceof ArgumentError && /templateVariables\.messages/.test(err.message),
    );
  });

  test("bad option values are ArgumentErrors naming the option", () => {
    const bad = { addGenerationPrompt: "yes" } as unknown as { addGenerationPrompt: boolean };
    assert.throws(() => formatChat(HI, "llama3", bad), /options\.addGenerationPrompt: expected a boolean/);
    assert.throws(() => formatChat(HI, "llama3.1", { now: new Date(Number.NaN) }), /options\.now: expected a valid Date/);
    const tools = [1] as unknown as [];
    assert.throws(() => formatChat(HI, "llama3.1", { tools }), /options\.tools\[0\]: expected an object/);
  });

  test("transformers passes tools=None when there are none; the template sees it", () => {
    const probe = "{{ tools is none }}|{{ tools is defined }}";
    assert.equal(renderChatTemplate(probe, HI), "true|true");
    assert.equal(renderChatTemplate(probe, HI, { tools: [] }), "false|true");
  });
});

// transformers' apply_chat_template(documents=...): the variable is always passed, None when not given.
// Expected strings from jinja2 semantics: `documents is not none` is false for None, so the `else`
// branch renders; with documents, the loop writes each one; `tojson` is json.dumps(documents).
describe("documents", () => {
  const RAG =
    "{% if documents is not none %}{% for d in documents %}[{{ d.title }}: {{ d.text }}]{% endfor %}" +
    "{{ documents | tojson }}{% else %}no documents{% endif %}";
  const docs = [
    { title: "A", text: "x" },
    { title: "B", text: "y" },
  ];

  test("None when not given, the list when given", () => {
    assert.equal(renderChatTemplate(RAG, HI), "no documents");
    const expected = '[A: x][B: y][{"title": "A", "text": "x"}, {"title": "B", "text": "y"}]';
    assert.equal(renderChatTemplate(RAG, HI, { documents: docs }), expected);
    const tokenizer = new FakeChatTokenizer({ chatTemplate: RAG });
    assert.equal(applyChatTemplate(tokenizer, HI, { documents: docs }).text.slice(0, 12), "[A: x][B: y]");
  });

  test("are checked like tools, and are a reserved variable", () => {
    const bad = [1] as unknown as [];
    assert.throws(() => renderChatTemplate(RAG, HI, { documents: bad }), /options\.documents\[0\]: expected an object/);
    assert.throws(() => renderChatTemplate(RAG, HI, { templateVariables: { documents: [] } }), /templateVariables\.documents/);
  });

  test("the built-in formats and the Llama templates ignore them", () => {
    const options = { documents: docs, dateString: "26 Jul 2024" } as const;
    const builtin = (o: ChatTemplateOptions): string => segmentsToText(formatChat(HI, "llama3.1", o));
    assert.equal(builtin(options), builtin({ dateString: "26 Jul 2024" }));
    assert.equal(renderChatTemplate(LLAMA33, HI, options), renderChatTemplate(LLAMA33, HI, { dateString: "26 Jul 2024" }));
  });
});

// transformers' get_chat_template for a list-form chat_template: the template passed in, else the
// one named by chat_template=, else "tool_use" when tools is not None and it exists, else "default",
// else ValueError listing sorted(names).
describe("choosing among named templates", () => {
  const templates = {
    default: "D:{{ messages[0].content }}",
    tool_use: "T:{% if tools is none %}none{% else %}{{ tools | length }}{% endif %}",
  };
  const tokenizer = new FakeChatTokenizer({ chatTemplates: templates });
  const tool = { type: "function", function: { name: "f" } };

  test('"tool_use" when tools are given (an empty list too: it is not None), else "default"', () => {
    assert.equal(applyChatTemplate(tokenizer, HI).text, "D:Hi");
    assert.equal(applyChatTemplate(tokenizer, HI, { tools: [tool] }).text, "T:1");
    assert.equal(applyChatTemplate(tokenizer, HI, { tools: [] }).text, "T:0");
    const noToolUse = new FakeChatTokenizer({ chatTemplates: { default: templates.default, other: "O" } });
    assert.equal(applyChatTemplate(noToolUse, HI, { tools: [tool] }).text, "D:Hi");
  });

  test("options.templateName picks one; chatTemplate still wins over the tokenizer's", () => {
    assert.equal(applyChatTemplate(tokenizer, HI, { tools: [tool], templateName: "default" }).text, "D:Hi");
    assert.equal(applyChatTemplate(tokenizer, HI, { templateName: "tool_use" }).text, "T:none");
    assert.equal(applyChatTemplate(tokenizer, HI, { tools: [tool], chatTemplate: "C" }).text, "C");
  });

  test("no template can be chosen: an ArgumentError listing the names", () => {
    const isListing =
      (names: string) =>
      (err: unknown): boolean =>
        err instanceof ArgumentError && err.message.includes(names);
    const onlyToolUse = new FakeChatTokenizer({ chatTemplates: { tool_use: "T", rag: "R" } });
    assert.throws(() => applyChatTemplate(onlyToolUse, HI), isListing('"rag", "tool_use"'));
    assert.equal(applyChatTemplate(onlyToolUse, HI, { tools: [tool] }).text, "T");
    assert.throws(() => applyChatTemplate(tokenizer, HI, { templateName: "rag" }), isListing('"default", "tool_use"'));
    assert.throws(() => applyChatTemplate(new FakeChatTokenizer(), HI, { templateName: "rag" }), /has no chat templates/);
  });

  test("contradictory options are ArgumentErrors; a built-in format needs no template", () => {
    assert.throws(() => applyChatTemplate(tokenizer, HI, { templateName: "default", chatTemplate: "C" }), /set one, not both/);
    assert.throws(() => applyChatTemplate(tokenizer, HI, { templateName: "default", format: "llama3" }), /options\.templateName/);
    const onlyToolUse = new FakeChatTokenizer({ chatTemplates: { tool_use: "T" } });
    assert.equal(applyChatTemplate(onlyToolUse, HI, { format: "llama3.1" }).format, "llama3.1");
  });
});
