// The limits a chat template renders under (jinja-limits.ts): one malformed template per limit,
// asserting the error names it, and the real Llama 3.x templates on long chats staying within the
// figures the limits' comments give. Tests of the step and character budgets pass smaller limits, so
// that they stop in milliseconds instead of seconds; the others run under the real ones.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { PROJECT_ROOT } from "../../test/support/paths.js";
import { renderChatTemplate } from "./apply.js";
import { MAX_RANGE_LENGTH, renderJinja } from "./jinja.js";
import { MAX_TEMPLATE_DEPTH, TEMPLATE_LIMITS, type TemplateLimits } from "./jinja-limits.js";
import { normalizeMessages, type ChatMessage } from "./messages.js";
import { ChatTemplateError } from "./template-error.js";
import { toWireMessages } from "./wire.js";

const NOW = new Date(2024, 6, 26);

function stoppedBy(source: string, limit: RegExp, limits: TemplateLimits = TEMPLATE_LIMITS): void {
  assert.throws(
    () => renderJinja(source, {}, NOW, limits),
    (err: unknown) => {
      assert.ok(err instanceof ChatTemplateError, `expected ChatTemplateError, got ${String(err)}`);
      assert.equal(err.failure, "limit", err.message);
      assert.match(err.message, limit);
      return true;
    },
  );
}

describe("a hostile template is stopped", () => {
  // Without the step limit these nested loops run for minutes (1e8 passes); the timeout makes that a failure.
  test("nested loops: MAX_TEMPLATE_STEPS", { timeout: 20_000 }, () => {
    const source = "{% for i in range(10000) %}{% for j in range(10000) %}{{ j }}{% endfor %}{% endfor %}";
    stoppedBy(source, /MAX_TEMPLATE_STEPS = 20000\b/, { ...TEMPLATE_LIMITS, maxSteps: 20_000 });
  });

  test("a loop over an empty body still counts", { timeout: 20_000 }, () => {
    stoppedBy("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", /MAX_TEMPLATE_STEPS/, {
      ...TEMPLATE_LIMITS,
      maxSteps: 20_000,
    });
  });

  test("exponential recursion: MAX_TEMPLATE_STEPS", { timeout: 20_000 }, () => {
    const source = "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}";
    stoppedBy(source, /MAX_TEMPLATE_STEPS/, { ...TEMPLATE_LIMITS, maxSteps: 20_000 });
  });

  // Each pass below is a dozen steps, plus the 1000 items it walks: 1000 passes fit in 50,000 steps
  // only if the walk is not charged.
  test("walking a list in a loop (in, filters, spreads): MAX_TEMPLATE_STEPS per item walked", () => {
    const limits = { ...TEMPLATE_LIMITS, maxSteps: 50_000 };
    const walks = ["{{ -1 in xs }}", "{{ xs | sort | length }}", "{{ xs | select('equalto', -1) | length }}", "{{ f(*xs) }}"];
    for (const walk of walks) {
      // f takes any arguments (it names varargs) and does nothing with them.
      const macro = "{% macro f() %}{% if false %}{{ varargs }}{% endif %}{% endmacro %}";
      const source = `${macro}{% set xs = range(1000) %}{% for i in range(1000) %}${walk}{% endfor %}`;
      stoppedBy(source, /MAX_TEMPLATE_STEPS/, limits);
    }
    const cheap = "{% set xs = range(1000) %}{% for i in range(1000) %}{{ xs | length }}{{ xs[0] }}{% endfor %}";
    assert.equal(renderJinja(cheap, {}, NOW, limits), "10000".repeat(1000));
  });

  test("a macro calling itself: MAX_TEMPLATE_DEPTH, before the stack overflows", () => {
    // Without the limit the stack overflows inside the library's variable lookup, which swallows the
    // RangeError and reports "Cannot call something that is not a function".
    stoppedBy("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", /MAX_TEMPLATE_DEPTH = 250\b/);
    const nested = "{% macro f(n) %}{% if true %}{% for x in [n] %}{{ f(x + 1) }}{% endfor %}{% endif %}{% endmacro %}{{ f(0) }}";
    stoppedBy(nested, /MAX_TEMPLATE_DEPTH/);
  });

  test("a recursive macro within the depth limit renders", () => {
    // Two nested evaluations per level: the call and the body's one statement.
    const levels = Math.floor(MAX_TEMPLATE_DEPTH / 2) - 10;
    const source = `{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{{ n % 10 }}{% endmacro %}{{ f(${levels}) | length }}`;
    assert.equal(renderJinja(source, {}, NOW), String(levels + 1));
  });

  test("break and continue give their depth back", () => {
    const source =
      "{% for i in range(1000) %}{% if i % 2 %}{% continue %}{% endif %}{% if i > 998 %}{% break %}{% endif %}{% endfor %}ok";
    assert.equal(renderJinja(source, {}, NOW, { ...TEMPLATE_LIMITS, maxDepth: 8 }), "ok");
  });

  test("a string doubled in a loop: MAX_RENDERED_LENGTH", () => {
    const source = "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}";
    stoppedBy(source, /MAX_RENDERED_LENGTH = 16777216\b/);
  });

  test("output longer than allowed: MAX_RENDERED_LENGTH", () => {
    const source = "{% for i in range(2000) %}{{ s }}{% endfor %}";
    assert.throws(
      () => renderJinja(source, { s: "x".repeat(10_000) }, NOW),
      (err: unknown) => err instanceof ChatTemplateError && err.failure === "limit" && /MAX_RENDERED_LENGTH/.test(err.message),
    );
  });

  test("a list nested in itself twice per pass (cheap to make, exponential to print): MAX_VALUE_SIZE", () => {
    const source =
      "{% set ns = namespace(x=[1]) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}{{ ns.x | tojson }}";
    stoppedBy(source, /MAX_VALUE_SIZE/);
  });

  test("a long string worked on in a loop: MAX_TEMPLATE_CHARS", () => {
    const source = "{% for i in range(100000) %}{{ (s | trim) | length }}{% endfor %}";
    assert.throws(
      () => renderJinja(source, { s: "x".repeat(100_000) }, NOW, { ...TEMPLATE_LIMITS, maxChars: 2_000_000 }),
      (err: unknown) => err instanceof ChatTemplateError && err.failure === "limit" && /MAX_TEMPLATE_CHARS/.test(err.message),
    );
  });

  test("range(): MAX_RANGE_LENGTH", () => {
    assert.equal(renderJinja(`{{ range(${MAX_RANGE_LENGTH}) | length }}`, {}, NOW), String(MAX_RANGE_LENGTH));
    stoppedBy(`{{ range(${MAX_RANGE_LENGTH + 1}) | length }}`, /MAX_RANGE_LENGTH = 100000\b/);
  });
});

describe("the real templates stay well within the limits", () => {
  const fixture = (name: string): string => readFileSync(join(PROJECT_ROOT, "test", "fixtures", "chat", name), "utf8");
  const LLAMA33 = fixture("llama-3.3-70b-instruct.jinja");
  const parameters = { type: "object", properties: { city: { type: "string" } } };
  const tool = { type: "function", function: { name: "get_weather", parameters } };

  function longChat(turns: number): ChatMessage[] {
    const messages: ChatMessage[] = [{ role: "system", content: "Be brief." }];
    for (let i = 0; i < turns; i++) {
      messages.push({ role: "user", content: `Question ${i}?` }, { role: "assistant", content: `Answer ${i}.` });
      messages.push({ role: "assistant", toolCalls: [{ function: { name: "wolfram_alpha", arguments: { query: `${i}+1` } } }] });
      messages.push({ role: "ipython", content: `${i + 1}` });
    }
    return messages;
  }

  // The figures of jinja-limits.ts: at most 75 steps per message plus 300, nesting 10 deep, and 15
  // characters charged per character of output. A render under exactly those limits must succeed.
  test("Llama 3.3 with tools: 75 steps per message, depth 10, 15 chars per output char", () => {
    const messages = longChat(50);
    const options = { builtinTools: ["wolfram_alpha"], tools: [tool], toolsInUserMessage: false, addGenerationPrompt: true } as const;
    const text = renderChatTemplate(LLAMA33, messages, options);
    const tight: TemplateLimits = {
      ...TEMPLATE_LIMITS,
      maxSteps: 75 * messages.length + 300,
      maxDepth: 10,
      maxChars: 15 * text.length,
    };
    const variables = {
      messages: toWireMessages(normalizeMessages(messages)),
      tools: [tool],
      builtin_tools: ["wolfram_alpha"],
      tools_in_user_message: false,
      add_generation_prompt: true,
    };
    assert.equal(renderJinja(LLAMA33, variables, NOW, tight), text);
    // And the step limit is over three times such a chat at its longest (21,000 messages in 128k tokens).
    assert.ok(TEMPLATE_LIMITS.maxSteps >= 3 * 75 * 21_000);
  });
});
