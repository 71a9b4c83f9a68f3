// From the unpickled object of a torch.save file to named tensor entries. The top-level object must
// be a dict (Meta's consolidated.NN.pth: an OrderedDict or dict of name -> tensor); nested dicts are
// flattened with dotted names ({"model": {"norm.weight": t}} -> "model.norm.weight"), as PyTorch's
// own `state_dict` naming does; any other value (ints, strings, lists, None...) is skipped and
// reported. Then each tensor is placed: its bytes checked to lie inside its storage, its file offset
// computed from the storage's zip entry.

import { FormatError, UnsupportedError } from "../../errors.js";
import { DTYPE_BYTES } from "../../tensor/dtype.js";
import { numel } from "../../tensor/tensor.js";
import type { TensorEntry } from "../tensor-source.js";
import { PickleDict, type PickleValue, describeValue } from "./pickle-values.js";
import { isContiguous, stridedExtent } from "./strided.js";
import { TensorRef } from "./torch-pickle.js";

/** Deepest dict nesting flattened. {"model": {...}} is 2; deeper is not a checkpoint layout anyone uses. */
export const MAX_NESTING_DEPTH = 16;
/** Most dict values visited while flattening: memo references can make a small pickle a wide graph. */
export const MAX_VISITED_VALUES = 1_000_000;

/** A tensor of a torch.save file: a (possibly strided) view of a storage entry. */
export interface PytorchTensorEntry extends TensorEntry {
  /** The storage's key: its bytes are the zip entry `<archive>/data/<storageKey>`. */
  readonly storageKey: string;
  /** Offset of the first element in the storage, in elements. */
  readonly storageOffset: number;
  /** Strides in elements. */
  readonly stride: readonly number[];
  /**
   * Row-major without gaps. When false, `byteOffset` is the first element and `byteLength` the dense
   * size read() returns, but the bytes in between are not the tensor: read() gathers them.
   */
  readonly contiguous: boolean;
}

/** A value of the checkpoint's dict that is not a tensor (skipped). */
export interface IgnoredValue {
  /** Its dotted name, or the key's description when the key is not a str. */
  readonly name: string;
  /** Its Python type, e.g. "int", "str", "list of 3". */
  readonly kind: string;
}

/** The tensors of a checkpoint by name, and what was skipped. */
export interface StateDict {
  readonly tensors: ReadonlyMap<string, TensorRef>;
  readonly ignored: readonly IgnoredValue[];
}

/**
 * Flatten the top-level dict of a checkpoint into named tensors.
 * @throws {UnsupportedError} When the top-level object is not a dict.
 * @throws {FormatError} On a cycle, nesting past MAX_NESTING_DEPTH, too many values, or a name that two paths flatten to.
 */
export function collectStateDict(root: PickleValue, path: string): StateDict {
  if (!(root instanceof PickleDict)) {
    throw new UnsupportedError(`${path}: the checkpoint holds a ${describeValue(root)}, not a dict of name -> tensor`);
  }
  const tensors = new Map<string, TensorRef>();
  const ignored: IgnoredValue[] = [];
  const open = new Set<PickleDict>();
  let visited = 0;
  const walk = (dict: PickleDict, prefix: string, depth: number): void => {
    if (depth > MAX_NESTING_DEPTH) throw new FormatError(path, `dicts nested deeper than ${MAX_NESTING_DEPTH} levels at "${prefix}" (MAX_NESTING_DEPTH)`);
    if (open.has(dict)) throw new FormatError(path, `the dict at "${prefix}" contains itself`);
    open.add(dict);
    for (const [key, value] of dict.entries) {
      if (++visited > MAX_VISITED_VALUES) throw new FormatError(path, `more than ${MAX_VISITED_VALUES} values in the checkpoint's dicts (MAX_VISITED_VALUES)`);
      if (typeof key !== "string") {
        ignored.push({ name: `${prefix}<${describeValue(key)} key>`, kind: describeValue(value) });
        continue;
      }
      const name = prefix + key;
      if (value instanceof TensorRef) {
        if (tensors.has(name)) throw new FormatError(path, `two tensors are named "${name}" once nested dicts are flattened`);
        tensors.set(name, value);
      } else if (value instanceof PickleDict) {
        walk(value, `${name}.`, depth + 1);
      } else {
        ignored.push({ name, kind: describeValue(value) });
      }
    }
    open.delete(dict);
  };
  walk(root, "", 1);
  return { tensors, ignored };
}

/**
 * Place tensor `name` in the file: check that its elements lie inside its storage, compute offsets.
 * @throws {FormatError} When the tensor runs past its storage, or its dtype does not divide the storage.
 */
export function placeTensor(name: string, tensor: TensorRef, path: string): PytorchTensorEntry {
  const { storage, dtype, shape, stride, storageOffset } = tensor;
  const elementBytes = DTYPE_BYTES[dtype];
  const at = { byteOffset: tensor.site.byteOffset };
  if (storage.byteLength % elementBytes !== 0) {
    throw new FormatError(path, `tensor "${name}": storage "${storage.key}" of ${storage.byteLength} bytes does not hold whole ${dtype} elements`, at);
  }
  const capacity = storage.byteLength / elementBytes;
  const extent = stridedExtent(shape, stride);
  if (storageOffset > capacity || storageOffset + extent > capacity) {
    throw new FormatError(path, `tensor "${name}" [${shape.join(", ")}] at offset ${storageOffset} spans elements ${storageOffset} to ${storageOffset + extent} of storage "${storage.key}", which holds ${capacity}`, at);
  }
  return {
    name, dtype, shape, path,
    byteOffset: storage.entry.dataOffset + storageOffset * elementBytes,
    byteLength: numel(shape) * elementBytes,
    storageKey: storage.key, storageOffset, stride,
    contiguous: isContiguous(shape, stride),
  };
}
