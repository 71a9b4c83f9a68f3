// Renders a Jinja chat template (`chat_template` of `tokenizer_config.json`) the way Hugging Face
// transformers' `apply_chat_template(..., tokenize=False)` does, on `@huggingface/jinja`. Variables are
// the ones transformers passes: `messages` (wire form), `tools` and `documents` (None when not given),
// `add_generation_prompt`, the special tokens, extra keyword arguments; and its two globals:
// `raise_exception` (here it throws a `ChatTemplateError` carrying the template's message) and
// `strftime_now` (C-locale, from strftime.ts, driven by the caller's clock). Slicing, `items` and the
// tests the Llama 3.x templates use come with the library; jinja-runtime.ts meters the render against
// named limits, adds the `select`/`reject` filters the library lacks, and gives `trim`, `tojson` and
// the `str` methods Python's semantics (jinja-python.ts).
// Reference: transformers `utils/chat_template_utils.py` `render_jinja_template` and
// `_compile_jinja_template`.

import { Template } from "@huggingface/jinja";
import { TEMPLATE_LIMITS, type TemplateLimits } from "./jinja-limits.js";
import { ChatInterpreter, interpreterInternalsPresent } from "./jinja-runtime.js";
import { createEnvironment } from "./jinja-values.js";
import { ChatTemplateError } from "./template-error.js";
import { strftime } from "./strftime.js";

// Parsed templates by text. A program uses one or two templates; the cap keeps a long-running server
// that is handed many from growing without bound.
const TEMPLATE_CACHE_SIZE = 8;
const templateCache = new Map<string, Template>();

/** What `raise_exception` throws inside the renderer, so that it can be told apart from engine errors. */
class TemplateRaise extends Error {}

function compile(source: string): Template {
  const cached = templateCache.get(source);
  if (cached !== undefined) return cached;
  let template: Template;
  try {
    template = new Template(source);
  } catch (err) {
    throw new ChatTemplateError("syntax", errorMessage(err), { cause: err });
  }
  if (templateCache.size >= TEMPLATE_CACHE_SIZE) {
    const oldest = templateCache.keys().next();
    if (oldest.done !== true) templateCache.delete(oldest.value);
  }
  templateCache.set(source, template);
  return template;
}

/**
 * Renders `source` with `variables` plus the transformers globals `raise_exception` and `strftime_now`
 * (which formats `now`), under `limits` (jinja-limits.ts; tests pass smaller ones).
 * @throws {ChatTemplateError} when the template does not parse ("syntax"), calls `raise_exception`
 * ("raised", with its message), fails while rendering ("runtime"), or runs past one of `limits`
 * or MAX_RANGE_LENGTH ("limit", naming the limit).
 */
export function renderJinja(
  source: string,
  variables: Readonly<Record<string, unknown>>,
  now: Date,
  limits: TemplateLimits = TEMPLATE_LIMITS,
): string {
  const template = compile(source);
  if (!interpreterInternalsPresent()) {
    const why = "the installed @huggingface/jinja lacks the interpreter methods that jinja-runtime.ts extends";
    throw new ChatTemplateError("runtime", why);
  }
  // `Template.render` installs the library's own globals and refuses to redeclare them, so this does
  // what it does with ours: globals in a parent scope, the caller's variables in a child scope.
  const globals = createEnvironment();
  const globalValues: Record<string, unknown> = {
    ...JINJA_CONSTANTS,
    range: pythonRange,
    raise_exception: (message?: unknown): never => {
      throw new TemplateRaise(String(message ?? ""));
    },
    strftime_now: (format?: unknown): string => strftime(now, String(format ?? "")),
  };
  for (const [name, value] of Object.entries(globalValues)) globals.set(name, value);
  const scope = createEnvironment(globals);
  let result: unknown;
  try {
    for (const [name, value] of Object.entries(variables)) scope.set(name, value);
    result = new ChatInterpreter(scope, limits).run(template.parsed).value;
  } catch (err) {
    if (err instanceof TemplateRaise) throw new ChatTemplateError("raised", err.message, { cause: err });
    if (err instanceof ChatTemplateError) throw err;
    throw new ChatTemplateError("runtime", errorMessage(err), { cause: err });
  }
  if (typeof result !== "string") throw new ChatTemplateError("runtime", "the template did not render to a string");
  return result;
}

// Jinja's constants, in both spellings it accepts (as @huggingface/jinja's own globals).
const JINJA_CONSTANTS = { true: true, false: false, none: null, True: true, False: false, None: null } as const;

/**
 * Longest list `range()` may build. Templates loop over messages or tools with it; a 128k-token
 * context holds at most about 21,000 messages (a header and end-of-turn are 5 tokens), so this is
 * about five times what a real template can need. The steps and sizes of a render are limited as well
 * (jinja-limits.ts); this stops one call from building a huge list in a single step.
 */
export const MAX_RANGE_LENGTH = 100_000;

// Python's range(stop) / range(start, stop[, step]) over integers.
function pythonRange(...args: unknown[]): number[] {
  if (args.length < 1 || args.length > 3 || !args.every((a): a is number => Number.isInteger(a))) {
    throw new Error("range() takes 1 to 3 integer arguments");
  }
  const [start, stop, step] = args.length === 1 ? [0, args[0] ?? 0, 1] : [args[0] ?? 0, args[1] ?? 0, args[2] ?? 1];
  if (step === 0) throw new Error("range() arg 3 must not be zero");
  const length = Math.max(0, Math.ceil((stop - start) / step));
  if (length > MAX_RANGE_LENGTH) {
    throw new ChatTemplateError("limit", `range() of ${length} items is over MAX_RANGE_LENGTH = ${MAX_RANGE_LENGTH}`);
  }
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
