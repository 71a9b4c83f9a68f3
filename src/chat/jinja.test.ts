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

  test("a mapping built in the template keeps its key order", () => {
    // jinja2 dict literals are Python dicts (insertion order): json.dumps({'2': 'a', '1': 'b'})
    assert.equal(render("{{ {'2': 'a', '1': 'b'} | tojson }}"), '{"2": "a", "1": "b"}');
  });

  test("a template may be rendered many times (cached) with different variables", () => {
    const source = "{{ who }}!";
    assert.equal(render(source, { who: "a" }), "a!");
    assert.equal(render(source, { who: "b" }), "b!");
  });
});

// Expected strings below follow Python's semantics, written from the Python docs and checked with
// CPython 3.10 on the same values (`s.strip()`, `s.split()`, `json.dumps(...)`); jinja2 passes these
// calls straight to Python's str and to transformers' tojson.
describe("Python whitespace in trim and the str methods", () => {
  // U+001C and U+001F are whitespace to Python (not to JS); U+FEFF the other way round; U+0085 is
  // whitespace to Python only.
  const s = "\x1c\ufeffa b\x85\x1f";

  test("trim and trim(chars) (jinja2 do_trim: str(value).strip(chars))", () => {
    assert.equal(render("[{{ s | trim }}]", { s }), "[\ufeffa b]");
    assert.equal(render("[{{ s | trim('\x1c\x1f') }}]", { s }), "[\ufeffa b\x85]");
    assert.equal(render("[{{ '--a--' | trim(chars='-') }}]"), "[a]");
  });

  test("strip, lstrip, rstrip", () => {
    const rendered = render("[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}]", { s });
    assert.equal(rendered, "[\ufeffa b][\ufeffa b\x85\x1f][\x1c\ufeffa b]");
    assert.equal(render("[{{ 'xxaxx'.strip('x') }}]"), "[a]");
  });

  test("split with no separator, with one, and maxsplit", () => {
    assert.equal(render("{{ s.split() | join('|') }}", { s }), "\ufeffa|b");
    assert.equal(render("{{ s.split(' ') | join('|') }}", { s }), "\x1c\ufeffa|b\x85\x1f");
    assert.equal(render("{{ '  a  b  c  '.split(none, 1) | join('|') }}"), "a|b  c  ");
    assert.equal(render("{{ 'a,b,c'.split(',', maxsplit=1) | join('|') }}"), "a|b,c");
  });

  test("a mapping's key of the same name is still a key; bad arguments are errors", () => {
    assert.equal(render("{{ m.strip }}", { m: { strip: "key" } }), "key");
    assert.throws(() => render("{{ 'a'.split('') }}"), /empty separator/);
    assert.throws(() => render("{{ 'a'.strip(chars='a') }}"), /takes no keyword arguments/);
  });
});

describe("tojson is Python's json.dumps", () => {
  test("floats as repr writes them", () => {
    // json.dumps([1e-07, 1e-05, 1e+16, 1.5e+300, 0.1, 3])
    const x = [1e-7, 0.00001, 1e16, 1.5e300, 0.1, 3];
    assert.equal(render("{{ x | tojson }}", { x }), "[1e-07, 1e-05, 1e+16, 1.5e+300, 0.1, 3]");
    assert.equal(render("{{ x | tojson(indent=2) }}", { x: { a: 1e-7 } }), '{\n  "a": 1e-07\n}');
  });

  test("Jinja floats stay floats: 4 / 2 is 2.0", () => {
    assert.equal(render("{{ (4 / 2) | tojson }} {{ 2.5 | tojson }} {{ 7 | tojson }}"), "2.0 2.5 7");
  });

  test("sort_keys, separators and ensure_ascii, by keyword and by position", () => {
    assert.equal(render("{{ {'b': 1, 'a': [1, 2]} | tojson(sort_keys=true, separators=(',', ':')) }}"), '{"a":[1,2],"b":1}');
    assert.equal(render("{{ 'é' | tojson(ensure_ascii=true) }}|{{ 'é' | tojson(true) }}"), '"\\u00e9"|"\\u00e9"');
  });

  test("undefined is an error, as in Python (the library wrote null)", () => {
    assert.throws(
      () => render("{{ nothing | tojson }}"),
      (err: unknown) =>
        err instanceof ChatTemplateError && err.failure === "runtime" && /Undefined is not JSON serializable/.test(err.message),
    );
  });
});
