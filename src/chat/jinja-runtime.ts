// Typed access to the runtime of @huggingface/jinja 0.5.11, and the filters it lacks.
// Types: the package's .d.ts files import "./runtime" without a file extension, which NodeNext
// resolution cannot follow, so TypeScript sees `Environment` and `Interpreter` as `any`; the
// structural types below put the checks back for the members this module uses.
// Filters: it has `selectattr`/`rejectattr` but not Jinja's `select` and `reject`, and the Llama 3.1 /
// 3.3 templates write `builtin_tools | reject('equalto', 'code_interpreter')`. The library applies
// filters in a fixed (TypeScript-private) `applyFilter` method with no extension point, so
// `ChatInterpreter` is a subclass whose `applyFilter` handles those two on lists and hands every other
// filter to the library. Only our renderer uses the subclass; the library's `Interpreter` is left as
// it is. `interpreterInternalsPresent` lets the renderer fail clearly if a new version renames them.
// Semantics (Jinja docs, "select"): `select(test, *args)` keeps the items for which the named test,
// given the extra arguments, is true, `reject` the others; with no test name, truthiness decides.

import * as jinja from "@huggingface/jinja";

/** The parts of a @huggingface/jinja runtime value used here. */
interface RuntimeValueLike {
  readonly type: string;
  readonly value: unknown;
  __bool__(): { readonly value: boolean };
}

/** The parts of a @huggingface/jinja AST node used here (an Identifier or a CallExpression filter). */
interface FilterNodeLike {
  readonly type: string;
  readonly value?: unknown;
  readonly callee?: FilterNodeLike;
  readonly args?: readonly FilterNodeLike[];
}

type TestFunction = (...values: RuntimeValueLike[]) => boolean;

/** A variable scope of @huggingface/jinja (the members used here). */
export interface JinjaEnvironment {
  /** Declares a variable, converting a JS value (functions included) to a runtime value. */
  set(name: string, value: unknown): unknown;
  /** The `is` tests (`equalto`, `defined`, `mapping`...). */
  readonly tests: ReadonlyMap<string, TestFunction>;
}

/** An interpreter of @huggingface/jinja (the members used here). */
export interface JinjaInterpreter {
  /** Runs a parsed template (`Template.parsed`); the result's value is the rendered text. */
  run(program: unknown): { readonly value: unknown };
}

const EnvironmentClass = jinja.Environment as new (parent?: JinjaEnvironment) => JinjaEnvironment;
const InterpreterClass = jinja.Interpreter as new (environment?: JinjaEnvironment) => JinjaInterpreter;

/** A new scope, child of `parent` when given. */
export function createEnvironment(parent?: JinjaEnvironment): JinjaEnvironment {
  return new EnvironmentClass(parent);
}

/** The library's private interpreter methods the subclass builds on. */
interface InterpreterInternals {
  applyFilter(operand: RuntimeValueLike, filter: FilterNodeLike, environment: JinjaEnvironment): RuntimeValueLike;
  evaluate(node: FilterNodeLike, environment: JinjaEnvironment): RuntimeValueLike;
}

const base = InterpreterClass.prototype as unknown as Partial<InterpreterInternals>;

/** True when the installed @huggingface/jinja still has the private methods `ChatInterpreter` extends. */
export function interpreterInternalsPresent(): boolean {
  return typeof base.applyFilter === "function" && typeof base.evaluate === "function";
}

/** @huggingface/jinja's Interpreter plus the `select` and `reject` filters. */
export class ChatInterpreter extends InterpreterClass {}

function filterName(filter: FilterNodeLike): string | undefined {
  const id = filter.type === "CallExpression" ? filter.callee : filter;
  return id?.type === "Identifier" && typeof id.value === "string" ? id.value : undefined;
}

function applyFilter(
  this: InterpreterInternals,
  operand: RuntimeValueLike,
  filter: FilterNodeLike,
  environment: JinjaEnvironment,
): RuntimeValueLike {
  const name = filterName(filter);
  if ((name === "select" || name === "reject") && operand.type === "ArrayValue" && Array.isArray(operand.value)) {
    const [testName, ...testArgs] = (filter.args ?? []).map((arg) => this.evaluate(arg, environment));
    const test = resolveTest(testName, environment);
    const keep = name === "select";
    const items = (operand.value as RuntimeValueLike[]).filter((item) => test(item, ...testArgs) === keep);
    // A new list of the operand's own class (ArrayValue, which the package does not export).
    const ArrayValue = operand.constructor as new (value: RuntimeValueLike[]) => RuntimeValueLike;
    return new ArrayValue(items);
  }
  return (base.applyFilter as InterpreterInternals["applyFilter"]).call(this, operand, filter, environment);
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

Object.defineProperty(ChatInterpreter.prototype, "applyFilter", {
  value: applyFilter,
  writable: true,
  configurable: true,
});
