// Typed access to the runtime values and scopes of @huggingface/jinja 0.5.11. The package's .d.ts
// files import "./runtime" without a file extension, which NodeNext resolution cannot follow, so
// TypeScript sees `Environment` and `Interpreter` as `any`, and the value classes (`StringValue`,
// `ArrayValue`...) are not exported at all. The structural types below put the checks back for the
// members src/chat uses, and the value classes are taken from values the library itself makes.

import * as jinja from "@huggingface/jinja";

/** The parts of a @huggingface/jinja runtime value used here (`type` is its class name). */
export interface RuntimeValueLike {
  readonly type: string;
  readonly value: unknown;
  __bool__(): { readonly value: boolean };
}

/** The parts of a @huggingface/jinja AST node used here. */
export interface NodeLike {
  readonly type: string;
  readonly value?: unknown;
  /** CallExpression: the called expression; `args` its arguments. */
  readonly callee?: NodeLike;
  readonly args?: readonly NodeLike[];
  /** MemberExpression: `object.property`, or `object[property]` when `computed`. */
  readonly object?: NodeLike;
  readonly property?: NodeLike;
  readonly computed?: boolean;
  /** For, If, Macro...: the statements of the body. */
  readonly body?: readonly NodeLike[];
  /** BinaryExpression: `left operator right` (the operator a token, e.g. `{value: "in"}`). */
  readonly operator?: { readonly value: string };
  readonly right?: NodeLike;
  /** SpreadExpression, KeywordSpreadExpression: the spread value (`*argument`, `**argument`). */
  readonly argument?: NodeLike;
}

type TestFunction = (...values: RuntimeValueLike[]) => boolean;

/** A variable scope of @huggingface/jinja (the members used here). */
export interface JinjaEnvironment {
  /** Declares a variable, converting a JS value (functions included) to a runtime value, and returns it. */
  set(name: string, value: unknown): RuntimeValueLike;
  /** The `is` tests (`equalto`, `defined`, `mapping`...). */
  readonly tests: ReadonlyMap<string, TestFunction>;
}

const EnvironmentClass = jinja.Environment as new (parent?: JinjaEnvironment) => JinjaEnvironment;

/** A new scope, child of `parent` when given. */
export function createEnvironment(parent?: JinjaEnvironment): JinjaEnvironment {
  return new EnvironmentClass(parent);
}

type ValueClass<T> = new (value: T) => RuntimeValueLike;

// The classes of the values the library converts JS values to (its `convertToRuntimeValues`).
const probe = createEnvironment();
let probeCount = 0;
function classOf<T>(value: unknown): ValueClass<T> {
  return probe.set(`probe${probeCount++}`, value).constructor as ValueClass<T>;
}

/** `StringValue`. */
export const StringValue: ValueClass<string> = classOf("");
/** `ArrayValue` (a Jinja list). */
export const ArrayValue: ValueClass<RuntimeValueLike[]> = classOf([]);
/** `UndefinedValue`. */
export const UndefinedValue: ValueClass<undefined> = classOf(undefined);
/** `FunctionValue`: a callable; the library passes positional values, then a `KeywordArgumentsValue` if any. */
export const FunctionValue: ValueClass<(args: RuntimeValueLike[], scope: JinjaEnvironment) => RuntimeValueLike> =
  classOf(() => null);

/** Positional arguments and keyword arguments of a call as the library passes them to a `FunctionValue`. */
export function splitArguments(args: readonly RuntimeValueLike[]): [RuntimeValueLike[], ReadonlyMap<string, RuntimeValueLike>] {
  const last = args.at(-1);
  if (last?.type === "KeywordArgumentsValue" && last.value instanceof Map) {
    return [args.slice(0, -1), last.value as ReadonlyMap<string, RuntimeValueLike>];
  }
  return [[...args], new Map()];
}
