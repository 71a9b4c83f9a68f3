// The limits a chat template is rendered under. A chat template is untrusted input (it ships in a
// downloaded tokenizer_config.json) and Jinja has loops and recursive macros, so jinja-runtime.ts
// meters every render against these and stops it with a ChatTemplateError ("limit") naming the one it
// passed. transformers sets no such limits (jinja2's sandbox guards attribute access, not time); the
// numbers are chosen far above what the real Llama 3.x templates use, measured with their fixtures on
// long chats (jinja-limits.test.ts keeps the measurement honest), and low enough that a runaway
// template is stopped within seconds.

/**
 * Most steps one render may take. A step is one node evaluated or one block run, one item of a list
 * or mapping made (or seen for the first time), one item a filter, `in` or `f(*xs)` walks; a loop pass
 * counts LOOP_PASS_STEPS. The Llama 3.x templates take 36 to 38 steps per message of a plain chat, up
 * to 60 in a chat of custom tool calls and results, 75 in one of built-in tool calls and results, plus
 * under 300 for the system preamble and three tool definitions. A 128k-token context holds at most
 * about 21,000 messages (a header and end-of-turn are 5 tokens), some 1.6M steps in the costliest
 * layout; this allows three times that, and over 60 times a 1000-message chat. A step takes at most
 * about 0.8 microseconds (Node 20, measured on an empty nested loop), so a template stopped here has
 * run for about 4 seconds.
 */
export const MAX_TEMPLATE_STEPS = 5_000_000;

/**
 * Steps one pass of a for loop counts: the library makes a scope and a nine-entry `loop` record for
 * each pass, which takes as long as about four ordinary steps (measured: a loop over an empty body ran
 * four times slower per step than the Llama templates' mix of nodes).
 */
export const LOOP_PASS_STEPS = 4;

/**
 * Deepest nesting of evaluations (an expression in a statement in a loop...; a macro call adds its
 * call and its body). The Llama 3.x templates nest 10 deep. Node's default stack overflows at about
 * 800, and near that point the library's variable lookup swallows the RangeError and reads the
 * variable as undefined, so the limit must stop a template well before the stack does; 250 leaves
 * most of the stack to the caller. A macro calling itself gets about 100 levels, in the range
 * CPython's recursion limit (1000 frames, several per macro call) allows jinja2.
 */
export const MAX_TEMPLATE_DEPTH = 250;

/**
 * Longest string a render may produce, the output or any value on the way (UTF-16 units): 16M, over
 * 30 times the prompt of a full 128k-token Llama 3 context (about 4 characters a token).
 */
export const MAX_RENDERED_LENGTH = 1 << 24;

/**
 * Largest list or mapping a render may hold, counted as one per item plus the length of each string
 * and key in it, nested values included (a value held twice counts twice). Twice MAX_RENDERED_LENGTH,
 * so that a chat whose text fits the output limit fits here with its structure. It bounds what
 * printing one value (`tojson`, `{{ x }}`) costs, and stops a template that doubles a list
 * (`x + x`, `[x, x]`) in a loop.
 */
export const MAX_VALUE_SIZE = 2 * MAX_RENDERED_LENGTH;

/**
 * Total characters a render may charge: the length of every string an evaluation yields (a variable
 * read included, as string operations cost their operands' length) and of every block it renders,
 * plus the size of every list or mapping the first time it is seen. The Llama 3.x templates charge 7
 * to 15 times the length of their output (a message is read, trimmed, concatenated, then copied by
 * each enclosing block); this allows 32 times MAX_RENDERED_LENGTH. It stops a template that keeps
 * working on long strings (a 16M-character string trimmed in a loop) within a second.
 */
export const MAX_TEMPLATE_CHARS = 32 * MAX_RENDERED_LENGTH;

/** The limits of one render (the constants above; tests pass smaller ones). */
export interface TemplateLimits {
  readonly maxSteps: number;
  readonly maxDepth: number;
  readonly maxRenderedLength: number;
  readonly maxValueSize: number;
  readonly maxChars: number;
}

/** The limits every chat template is rendered under. */
export const TEMPLATE_LIMITS: TemplateLimits = {
  maxSteps: MAX_TEMPLATE_STEPS,
  maxDepth: MAX_TEMPLATE_DEPTH,
  maxRenderedLength: MAX_RENDERED_LENGTH,
  maxValueSize: MAX_VALUE_SIZE,
  maxChars: MAX_TEMPLATE_CHARS,
};
