// The interpreter that renders chat templates: @huggingface/jinja 0.5.11's `Interpreter`, subclassed to
//  - bound the work a template may do (the limits and their reasons are in jinja-limits.ts). Every
//    node evaluated and every block run is a step; so is every item of a list or mapping the first
//    time it is seen (making it took that long) and every item an operation walks (a filter, `in`, a
//    spread into a call). Every string an evaluation yields or a block renders is charged by its
//    length, every new list or mapping by its size. Evaluations nest only so deep;
//  - add the `select`/`reject` filters it lacks (the Llama 3.1 / 3.3 templates write
//    `builtin_tools | reject('equalto', 'code_interpreter')`);
//  - use Python's rules for `trim`, `tojson` and the `str` methods (jinja-python.ts).
// The methods overridden here are TypeScript-private in the library, with no extension point;
// `interpreterInternalsPresent` lets the renderer fail clearly if a new version renames them. Only our
// renderer uses the subclass; the library's `Interpreter` is left as it is.
// Jinja semantics of select/reject (Jinja docs, "select"): keep the items for which the named test,
// given the extra arguments, is true (reject: false); with no test name, truthiness decides.

import * as jinja from "@huggingface/jinja";
import { LOOP_PASS_STEPS, TEMPLATE_LIMITS, type TemplateLimits } from "./jinja-limits.js";
import { PYTHON_STRING_METHODS, pythonStringMethod, tojsonFilter, trimFilter } from "./jinja-python.js";
import { ArrayValue, UndefinedValue, type JinjaEnvironment, type NodeLike, type RuntimeValueLike } from "./jinja-values.js";
import { ChatTemplateError } from "./template-error.js";

/** The library's private interpreter methods the subclass builds on. */
interface InterpreterInternals {
  evaluate(node: NodeLike | undefined, environment: JinjaEnvironment): RuntimeValueLike;
  evaluateBlock(statements: readonly NodeLike[], environment: JinjaEnvironment): RuntimeValueLike;
  evaluateFor(node: NodeLike, environment: JinjaEnvironment): RuntimeValueLike;
  evaluateMemberExpression(expr: NodeLike, environment: JinjaEnvironment): RuntimeValueLike;
  evaluateArguments(args: readonly NodeLike[], environment: JinjaEnvironment): [RuntimeValueLike[], Map<string, RuntimeValueLike>];
  applyFilter(operand: RuntimeValueLike, filter: NodeLike, environment: JinjaEnvironment): RuntimeValueLike;
}

const InterpreterClass = jinja.Interpreter as new (environment?: JinjaEnvironment) => InterpreterInternals & {
  /** Runs a parsed template (`Template.parsed`); the result's value is the rendered text. */
  run(program: unknown): RuntimeValueLike;
};

const INTERNALS = [
  "evaluate",
  "evaluateBlock",
  "evaluateFor",
  "evaluateMemberExpression",
  "evaluateArguments",
  "applyFilter",
] as const;

/** True when the installed @huggingface/jinja still has the private methods `ChatInterpreter` extends. */
export function interpreterInternalsPresent(): boolean {
  const proto = InterpreterClass.prototype as unknown as Record<string, unknown>;
  return INTERNALS.every((name) => typeof proto[name] === "function");
}

// Filters that take a list or mapping without walking it.
const CONSTANT_TIME_FILTERS: ReadonlySet<string> = new Set(["length", "first", "last", "list", "safe", "default"]);

/** @huggingface/jinja's Interpreter, metered, with select/reject and Python's trim, tojson and str methods. */
export class ChatInterpreter extends InterpreterClass {
  private readonly limits: TemplateLimits;
  private steps = 0;
  private chars = 0;
  private depth = 0;
  /** The bodies of the for loops met so far (the `statements` of their passes). */
  private readonly loopBodies = new WeakSet<readonly NodeLike[]>();
  /** Operands the library walks item by item without making a value of their size: `x in LIST`, `f(*LIST)`. */
  private readonly walkedOperands = new WeakSet<NodeLike>();
  /** Sizes of the lists and mappings seen so far (see MAX_VALUE_SIZE); a value seen before is not charged again. */
  private readonly sizes = new WeakMap<RuntimeValueLike, number>();

  constructor(environment: JinjaEnvironment, limits: TemplateLimits = TEMPLATE_LIMITS) {
    super(environment);
    this.limits = limits;
  }

  override evaluate(node: NodeLike | undefined, environment: JinjaEnvironment): RuntimeValueLike {
    this.step(1);
    // Restored on the way out, also when `{% break %}` or `{% continue %}` unwinds by exception.
    this.depth++;
    try {
      if (this.depth > this.limits.maxDepth) {
        throw limitError(`nested evaluations more than MAX_TEMPLATE_DEPTH = ${this.limits.maxDepth} deep (a recursive macro?)`);
      }
      if (node?.type === "BinaryExpression" && node.right !== undefined && MEMBERSHIP.has(String(node.operator?.value))) {
        this.walkedOperands.add(node.right);
      }
      const value = this.meter(super.evaluate(node, environment));
      if (node !== undefined && this.walkedOperands.has(node)) this.step(itemCount(value));
      return value;
    } finally {
      this.depth--;
    }
  }

  override evaluateArguments(args: readonly NodeLike[], environment: JinjaEnvironment): [RuntimeValueLike[], Map<string, RuntimeValueLike>] {
    for (const arg of args) {
      if ((arg.type === "SpreadExpression" || arg.type === "KeywordSpreadExpression") && arg.argument !== undefined) {
        this.walkedOperands.add(arg.argument);
      }
    }
    return super.evaluateArguments(args, environment);
  }

  override evaluateFor(node: NodeLike, environment: JinjaEnvironment): RuntimeValueLike {
    if (Array.isArray(node.body)) this.loopBodies.add(node.body);
    return super.evaluateFor(node, environment);
  }

  // A block is a step of its own (a loop over an empty body evaluates no node, yet each pass costs),
  // and a pass of a loop counts LOOP_PASS_STEPS.
  override evaluateBlock(statements: readonly NodeLike[], environment: JinjaEnvironment): RuntimeValueLike {
    this.step(this.loopBodies.has(statements) ? LOOP_PASS_STEPS : 1);
    return this.meter(super.evaluateBlock(statements, environment));
  }

  override evaluateMemberExpression(expr: NodeLike, environment: JinjaEnvironment): RuntimeValueLike {
    const name = expr.computed !== true && expr.property?.type === "Identifier" ? expr.property.value : undefined;
    if (typeof name !== "string" || !PYTHON_STRING_METHODS.has(name)) return super.evaluateMemberExpression(expr, environment);
    const object = this.evaluate(expr.object, environment);
    if (object.type === "StringValue") return pythonStringMethod(object.value as string, name);
    // Not a string: what the library gives for this name, a key of a mapping or namespace, else undefined.
    const value: unknown = object.value instanceof Map ? object.value.get(name) : undefined;
    return (value as RuntimeValueLike | undefined) ?? new UndefinedValue(undefined);
  }

  override applyFilter(operand: RuntimeValueLike, filter: NodeLike, environment: JinjaEnvironment): RuntimeValueLike {
    const name = filterName(filter);
    // Filters walk their list or mapping (sort, join, unique, selectattr, tojson...), whatever they return.
    if (name === undefined || !CONSTANT_TIME_FILTERS.has(name)) this.step(itemCount(operand));
    const args = (): [RuntimeValueLike[], Map<string, RuntimeValueLike>] => this.evaluateArguments(filter.args ?? [], environment);
    if (name === "tojson") return tojsonFilter(operand, args());
    if (name === "trim" && operand.type === "StringValue") return trimFilter(operand.value as string, args());
    if ((name === "select" || name === "reject") && operand.type === "ArrayValue" && Array.isArray(operand.value)) {
      const [testName, ...testArgs] = (filter.args ?? []).map((arg) => this.evaluate(arg, environment));
      const test = resolveTest(testName, environment);
      const keep = name === "select";
      return new ArrayValue((operand.value as RuntimeValueLike[]).filter((item) => test(item, ...testArgs) === keep));
    }
    return super.applyFilter(operand, filter, environment);
  }

  private step(count: number): void {
    this.steps += count;
    if (this.steps > this.limits.maxSteps) throw limitError(`took more than MAX_TEMPLATE_STEPS = ${this.limits.maxSteps} steps`);
  }

  /**
   * Charges a value an evaluation yielded: a string its length (MAX_TEMPLATE_CHARS); a list or mapping
   * seen for the first time its size (MAX_TEMPLATE_CHARS) and a step per item, as making it took.
   */
  private meter(value: RuntimeValueLike): RuntimeValueLike {
    const { maxRenderedLength, maxValueSize, maxChars } = this.limits;
    let charge = 0;
    if (value.type === "StringValue") {
      charge = (value.value as string).length;
      if (charge > maxRenderedLength) {
        throw limitError(`made a string of ${charge} characters, over MAX_RENDERED_LENGTH = ${maxRenderedLength}`);
      }
    } else if (isContainer(value) && value.type !== "NamespaceValue" && !this.sizes.has(value)) {
      charge = this.sizeOf(value);
      if (charge > maxValueSize) throw limitError(`made a list or mapping of size ${charge}, over MAX_VALUE_SIZE = ${maxValueSize}`);
      this.step(itemCount(value));
    }
    this.chars += charge;
    if (this.chars > maxChars) throw limitError(`produced more than MAX_TEMPLATE_CHARS = ${maxChars} characters in all`);
    return value;
  }

  // One per value, plus string and key lengths, nested values included. A namespace can change (`{% set
  // ns.x = ... %}`), so its size is not remembered; the library never changes a list or mapping in place.
  private sizeOf(value: RuntimeValueLike): number {
    const inner = value.value;
    if (typeof inner === "string") return 1 + inner.length;
    if (!isContainer(value)) return 1;
    const known = this.sizes.get(value);
    if (known !== undefined) return known;
    let size = 1;
    if (inner instanceof Map) for (const [key, item] of inner as Map<string, RuntimeValueLike>) size += key.length + this.sizeOf(item);
    else for (const item of inner as RuntimeValueLike[]) size += this.sizeOf(item);
    if (value.type !== "NamespaceValue") this.sizes.set(value, size);
    return size;
  }
}

const MEMBERSHIP: ReadonlySet<string> = new Set(["in", "not in"]);

/** Items of a list, entries of a mapping, 0 for anything else. */
function itemCount(value: RuntimeValueLike): number {
  const inner = value.value;
  return Array.isArray(inner) ? inner.length : inner instanceof Map ? inner.size : 0;
}

function isContainer(value: RuntimeValueLike): boolean {
  return Array.isArray(value.value) || value.value instanceof Map;
}

function limitError(what: string): ChatTemplateError {
  return new ChatTemplateError("limit", `the template ${what}`);
}

type TestFunction = (...values: RuntimeValueLike[]) => boolean;

function filterName(filter: NodeLike): string | undefined {
  const id = filter.type === "CallExpression" ? filter.callee : filter;
  return id?.type === "Identifier" && typeof id.value === "string" ? id.value : undefined;
}

function resolveTest(testName: RuntimeValueLike | undefined, environment: JinjaEnvironment): TestFunction {
  if (testName === undefined) return (item) => item.__bool__().value;
  if (testName.type !== "StringValue" || typeof testName.value !== "string") {
    throw new Error("select/reject: the test name must be a string");
  }
  const test = environment.tests.get(testName.value);
  if (test === undefined) throw new Error(`select/reject: unknown test "${testName.value}"`);
  return test;
}
