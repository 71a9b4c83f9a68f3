// The values the pickle interpreter builds: inert data only. Python's tuples, lists and dicts become
// small classes (so a tuple and a list stay distinguishable); anything a whitelisted global would
// have made in Python becomes a `PickleObject` defined by the hooks (torch-pickle.ts). Nothing here
// can call code: a "global" is a name, never a function.

/** A value on the unpickler's stack. Python int is `number` when it is a safe integer, else `bigint`. */
export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleTuple | PickleList | PickleDict | PickleObject;

/** A Python tuple. */
export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

/** A Python list (mutable while unpickling: APPEND/APPENDS). */
export class PickleList {
  readonly items: PickleValue[] = [];
}

/**
 * A Python dict (or OrderedDict): insertion-ordered. Keys compare like JS Map keys: strings, numbers
 * and bigints by value, tuples and other objects by identity (good enough: torch state dict keys are
 * strings).
 */
export class PickleDict {
  readonly entries = new Map<PickleValue, PickleValue>();
}

/** Base of the inert descriptors that hooks make for whitelisted globals and what they build. */
export abstract class PickleObject {
  /** A short description for error messages, e.g. "global torch.BFloat16Storage". */
  abstract describe(): string;
}

/** A short, bounded description of a value's type for error messages (never the whole value). */
export function describeValue(value: PickleValue): string {
  if (value === null) return "None";
  switch (typeof value) {
    case "boolean": return "bool";
    case "number": return Number.isInteger(value) ? "int" : "float";
    case "bigint": return "int";
    case "string": return "str";
    default: break;
  }
  if (value instanceof Uint8Array) return "bytes";
  if (value instanceof PickleTuple) return `tuple of ${value.items.length}`;
  if (value instanceof PickleList) return `list of ${value.items.length}`;
  if (value instanceof PickleDict) return `dict of ${value.entries.size}`;
  return value.describe();
}
