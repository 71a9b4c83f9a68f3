// The Jinja renderer: transformers' globals, the filters added to @huggingface/jinja, and errors.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderJinja } from "./jinja.js";
import { ChatTemplateError, type ChatTemplateFailure } from "./template-error.js";

const NOW = new Date(2024, 6, 26, 12, 0, 0);

function render(source: string, variables: Record<string, unknown> = {}): string {
  return renderJinja(source, variables, NOW);
}

function throwsTemplate(source: string, failure: ChatTemplateFailure, message: RegExp): void {
  assert.throws(() => render(source), (err: unknown) => {
    assert.ok(err instanceof ChatTemplateError, `expected ChatTemplateError, got ${String(err)}`);
    assert.equal(err.failure, failure);
    assert.match(err.templateMessage, message);
    return true;
  });
}

describe("renderJinja", () => {
  test("raise_exception becomes a ChatTemplateError carrying the template's message", () => {
    throwsTemplate("{{ raise_exception('Conversation roles must alternate!') }}", "raised", /^Conversation roles must alternate!$/);
  });

  test("a template that does not parse is a syntax error", () => {
    throwsTemplate("{% if %}", "syntax", /./);
  });

  test("a failure while rendering is a runtime error", () => {
    throwsTemplate("{{ 'a' | no_such_filter }}", "runtime", /no_such_filter/);
  });

  test("strftime_now formats the caller's clock in English", () => {
    assert.equal(render('{{ strftime_now("%d %b %Y") }}'), "26 Jul 2024");
  });

  test("reject and select with a test, and by truthiness", () => {
    const tools = ["brave_search", "code_interpreter", "wolfram_alpha"];
    assert.equal(render("{{ t | reject('equalto', 'code_interpreter') | join(', ') }}", { t: tools }), "brave_search, wolfram_alpha");
    assert.equal(render("{{ t | select('equalto', 'wolfram_alpha') | join(', ') }}", { t: tools }), "wolfram_alpha");
    assert.equal(render("{{ t | select | join(',') }}", { t: ["a", "", "b"] }), "a,b");
    assert.equal(render("{{ t | reject | length }}", { t: ["a", "", "b"] }), "1");
  });

  test("filters the library has still work (tojson with indent, trim, items, range)", () => {
    assert.equal(render("{{ x | tojson(indent=2) }}", { x: { a: [1] } }), '{\n  "a": [\n    1\n  ]\n}');
    assert.equal(render("{{ '  a ' | trim }}|{% for k, v in x | items %}{{ k }}={{ v }}{% endfor %}", { x: { k: 1 } }), "a|k=1");
    assert.equal(render("{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}{{ range(3) | length }}"), "1353");
  });

  test("constants and caller variables", () => {
    assert.equal(render("{{ true }} {{ None is none }} {{ x }}", { x: "v" }), "true true v");
  });

  test("a template may be rendered many times (cached) with different variables", () => {
    const source = "{{ who }}!";
    assert.equal(render(source, { who: "a" }), "a!");
    assert.equal(render(source, { who: "b" }), "b!");
  });
});
