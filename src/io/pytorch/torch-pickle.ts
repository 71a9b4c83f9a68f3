// The torch.save half of unpickling: the whitelist of globals a state dict of tensors needs, and the
// hooks that turn them into inert descriptors (a storage reference, a tensor reference) instead of
// objects. Follows what torch/serialization.py writes (`_save`: persistent ids
// ('storage', storage_type, key, location, numel)) and what torch/_utils.py's rebuild functions
// take (`_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
// metadata=None)`, `_rebuild_tensor_v3(..., dtype, metadata=None)`, `_rebuild_parameter`, and
// torch/_tensor.py `_rebuild_from_type_v2(func, new_type, args, state)`).
//
// Policy: a global outside the whitelist is a FormatError naming it and its offset (the file is not a
// plain tensor checkpoint, and nothing is imported or called); a torch global we recognise but do
// not implement (complex, quantized, sparse tensors...) is an UnsupportedError.

import { UnsupportedError } from "../../errors.js";
import { DTYPE_BYTES, type DType } from "../../tensor/dtype.js";
import { type PickleHooks, type PickleSite, pickleError } from "./pickle.js";
import { PickleDict, PickleObject, PickleTuple, type PickleValue, describeValue } from "./pickle-values.js";
import { ZIP_STORED, type ZipEntry } from "./zip.js";

/** What a whitelisted global stands for. */
export type TorchGlobalRole =
  | { readonly kind: "rebuild-tensor-v2" }
  | { readonly kind: "rebuild-tensor-v3" }
  | { readonly kind: "rebuild-parameter" }
  | { readonly kind: "rebuild-from-type-v2" }
  | { readonly kind: "ordered-dict" }
  | { readonly kind: "tensor-class" }
  | { readonly kind: "storage-type"; readonly dtype: DType }
  | { readonly kind: "dtype"; readonly dtype: DType };

/** Most dimensions a tensor may declare (PyTorch itself allows at most 64). */
export const MAX_TENSOR_RANK = 64;

/** Legacy typed storage classes (torch/storage.py) and the dtype of their elements. */
const STORAGE_TYPES: Readonly<Record<string, DType>> = {
  DoubleStorage: "f64", FloatStorage: "f32", HalfStorage: "f16", BFloat16Storage: "bf16",
  LongStorage: "i64", IntStorage: "i32", ShortStorage: "i16", CharStorage: "i8", ByteStorage: "u8", BoolStorage: "bool",
};

/** torch dtypes as pickled (a torch.dtype reduces to the global `torch.<name>`). */
const TORCH_DTYPES: Readonly<Record<string, DType>> = {
  float64: "f64", float32: "f32", float16: "f16", bfloat16: "bf16",
  int64: "i64", int32: "i32", int16: "i16", int8: "i8", uint64: "u64", uint32: "u32", uint16: "u16", uint8: "u8", bool: "bool",
};

/** The whitelist: every global a torch.save'd state dict of dense tensors uses. */
export const ALLOWED_GLOBALS: ReadonlyMap<string, TorchGlobalRole> = new Map<string, TorchGlobalRole>([
  ["collections.OrderedDict", { kind: "ordered-dict" }],
  ["torch._utils._rebuild_tensor_v2", { kind: "rebuild-tensor-v2" }],
  ["torch._utils._rebuild_tensor_v3", { kind: "rebuild-tensor-v3" }],
  ["torch._utils._rebuild_parameter", { kind: "rebuild-parameter" }],
  ["torch._utils._rebuild_parameter_with_state", { kind: "rebuild-parameter" }],
  ["torch._tensor._rebuild_from_type_v2", { kind: "rebuild-from-type-v2" }],
  ["torch.Tensor", { kind: "tensor-class" }],
  ["torch.nn.parameter.Parameter", { kind: "tensor-class" }],
  // An untyped storage (torch >= 2.0 can save one) holds bytes; its "numel" is its byte count.
  ["torch.UntypedStorage", { kind: "storage-type", dtype: "u8" }],
  ["torch.storage.UntypedStorage", { kind: "storage-type", dtype: "u8" }],
  ...Object.entries(STORAGE_TYPES).map(([name, dtype]): [string, TorchGlobalRole] => [`torch.${name}`, { kind: "storage-type", dtype }]),
  ...Object.entries(TORCH_DTYPES).map(([name, dtype]): [string, TorchGlobalRole] => [`torch.${name}`, { kind: "dtype", dtype }]),
]);

/** torch globals we recognise but do not load, with what they are for the error message. */
const UNSUPPORTED_GLOBALS: ReadonlyMap<string, string> = new Map([
  ...["ComplexFloatStorage", "ComplexDoubleStorage", "complex64", "complex128", "complex32"].map((n): [string, string] => [`torch.${n}`, "complex tensors"]),
  ...["QUInt8Storage", "QInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage", "quint8", "qint8", "qint32"].map((n): [string, string] => [`torch.${n}`, "quantized tensors"]),
  ["torch._utils._rebuild_qtensor", "quantized tensors"],
  ["torch._utils._rebuild_sparse_tensor", "sparse tensors"],
  ["torch._utils._rebuild_nested_tensor", "nested tensors"],
  ["torch._utils._rebuild_meta_tensor_no_storage", "tensors on the meta device (no data)"],
  ["torch._utils._rebuild_wrapper_subclass", "tensor wrapper subclasses"],
  ["torch._utils._rebuild_device_tensor_from_numpy", "tensors saved through numpy"],
  ["torch._utils._rebuild_device_tensor_from_cpu_tensor", "device tensors saved through a CPU copy"],
  ["torch.storage._load_from_bytes", "storages pickled outside torch.save's zip format"],
  ["torch.float8_e4m3fn", "float8 tensors"], ["torch.float8_e5m2", "float8 tensors"],
]);

/** A whitelisted global: only a name and a role, never a function. */
export class TorchGlobal extends PickleObject {
  constructor(readonly qualifiedName: string, readonly role: TorchGlobalRole) { super(); }
  describe(): string { return `global ${this.qualifiedName}`; }
}

/** A storage: the zip entry `<archive>/data/<key>`, holding `numel` elements of `dtype`. */
export class StorageRef extends PickleObject {
  constructor(readonly key: string, readonly dtype: DType, readonly numel: number, readonly entry: ZipEntry) { super(); }
  /** Bytes of the storage (numel * element size; equal to the entry's size). */
  get byteLength(): number { return this.numel * DTYPE_BYTES[this.dtype]; }
  describe(): string { return `storage ${JSON.stringify(this.key)}`; }
}

/** A tensor: a strided view of a storage. `storageOffset` and `stride` count elements of `dtype`. */
export class TensorRef extends PickleObject {
  constructor(
    readonly storage: StorageRef,
    readonly dtype: DType,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    /** Where the REDUCE that built it is, for errors found later. */
    readonly site: PickleSite,
  ) { super(); }
  describe(): string { return `tensor [${this.shape.join(", ")}] ${this.dtype}`; }
}

/**
 * Hooks that unpickle a torch.save data.pkl into descriptors.
 * @param archiveName The zip folder of the records (torch uses the first entry's folder).
 * @param findEntry Looks up a zip entry by its full name.
 */
export function createTorchHooks(archiveName: string, findEntry: (name: string) => ZipEntry | undefined): PickleHooks {
  const storages = new Map<string, StorageRef>();

  const reduce = (callable: PickleValue, args: PickleTuple, site: PickleSite, nested = false): PickleValue => {
    if (!(callable instanceof TorchGlobal)) throw pickleError(site, `cannot call ${describeValue(callable)}`);
    const items = args.items;
    const role = callable.role;
    switch (role.kind) {
      case "ordered-dict":
        if (items.length !== 0) throw pickleError(site, `collections.OrderedDict with ${items.length} arguments is not supported (torch passes none)`);
        return new PickleDict();
      case "rebuild-tensor-v2":
        arity(callable, items, 6, 7, site);
        return rebuildTensor(items, undefined, site);
      case "rebuild-tensor-v3": {
        arity(callable, items, 7, 8, site);
        const dtype = items[6];
        if (!(dtype instanceof TorchGlobal) || dtype.role.kind !== "dtype") throw pickleError(site, `${callable.qualifiedName} expects a torch dtype as argument 7, got ${describeValue(dtype ?? null)}`);
        return rebuildTensor(items, dtype.role.dtype, site);
      }
      case "rebuild-parameter": {
        arity(callable, items, 3, 4, site);
        const data = items[0];
        if (!(data instanceof TensorRef)) throw pickleError(site, `${callable.qualifiedName} expects a tensor, got ${describeValue(data ?? null)}`);
        return data;
      }
      case "rebuild-from-type-v2": {
        arity(callable, items, 4, 4, site);
        const [func, newType, innerArgs] = items;
        // One level only: the inner function must build a tensor itself, which also bounds recursion.
        if (nested || !(func instanceof TorchGlobal) || func.role.kind === "rebuild-from-type-v2") throw pickleError(site, `${callable.qualifiedName} cannot call ${describeValue(func ?? null)}`);
        if (!(newType instanceof TorchGlobal) || newType.role.kind !== "tensor-class") throw pickleError(site, `${callable.qualifiedName}: type ${describeValue(newType ?? null)} is not torch.Tensor or Parameter`);
        if (!(innerArgs instanceof PickleTuple)) throw pickleError(site, `${callable.qualifiedName} expects an argument tuple, got ${describeValue(innerArgs ?? null)}`);
        const result = reduce(func, innerArgs, site, true);
        if (!(result instanceof TensorRef)) throw pickleError(site, `${callable.qualifiedName} must rebuild a tensor`);
        return result;
      }
      default:
        throw pickleError(site, `${callable.qualifiedName} is not callable`);
    }
  };

  return {
    global(module, name, site) {
      const qualifiedName = `${module}.${name}`;
      const role = ALLOWED_GLOBALS.get(qualifiedName);
      if (role !== undefined) return new TorchGlobal(qualifiedName, role);
      const feature = UNSUPPORTED_GLOBALS.get(qualifiedName);
      if (feature !== undefined) {
        throw new UnsupportedError(`${site.source}: pickle offset ${site.pickleOffset} (byte ${site.byteOffset}): ${qualifiedName}: ${feature} are not supported`);
      }
      throw pickleError(site, `global ${qualifiedName} is not in the whitelist of torch.save tensor globals; refused (nothing was imported or called)`);
    },
    reduce: (callable, args, site) => reduce(callable, args, site),
    newObject(cls, args, site) {
      if (cls instanceof TorchGlobal && cls.role.kind === "ordered-dict" && args.items.length === 0) return new PickleDict();
      throw pickleError(site, `cannot construct ${describeValue(cls)}`);
    },
    build(target, state, site) {
      // Python attributes set on a tensor or parameter (e.g. by _rebuild_parameter_with_state) do not change its data.
      if (target instanceof TensorRef) return;
      if (target instanceof PickleDict && state === null) return;
      throw pickleError(site, `cannot set the state of ${describeValue(target)} to ${describeValue(state)}`);
    },
    persistentLoad(pid, site) {
      if (!(pid instanceof PickleTuple) || pid.items.length !== 5 || pid.items[0] !== "storage") {
        throw pickleError(site, `persistent id must be ('storage', type, key, location, numel), got ${describeValue(pid)}`);
      }
      const [, type, key, location, numel] = pid.items;
      if (!(type instanceof TorchGlobal) || type.role.kind !== "storage-type") throw pickleError(site, `persistent id: ${describeValue(type ?? null)} is not a storage type`);
      if (typeof key !== "string") throw pickleError(site, `persistent id: storage key must be a str, got ${describeValue(key ?? null)}`);
      if (typeof location !== "string") throw pickleError(site, `persistent id: storage location must be a str, got ${describeValue(location ?? null)}`);
      const count = nonNegativeInt(numel ?? null, "storage numel", site);
      const dtype = type.role.dtype;
      const known = storages.get(key);
      if (known !== undefined) {
        if (known.dtype !== dtype || known.numel !== count) {
          throw pickleError(site, `storage ${JSON.stringify(key)} is declared as ${count} ${dtype} here but ${known.numel} ${known.dtype} before`);
        }
        return known;
      }
      const entryName = `${archiveName}/data/${key}`;
      const entry = findEntry(entryName);
      if (entry === undefined) throw pickleError(site, `storage ${JSON.stringify(key)} has no zip entry "${entryName}"`);
      const storage = new StorageRef(key, dtype, count, entry);
      if (!Number.isSafeInteger(storage.byteLength) || storage.byteLength !== entry.uncompressedSize) {
        throw pickleError(site, `storage ${JSON.stringify(key)} declares ${count} ${dtype} elements (${storage.byteLength} bytes) but zip entry "${entryName}" holds ${entry.uncompressedSize} bytes`);
      }
      if (entry.method !== ZIP_STORED) {
        throw new UnsupportedError(`${site.source}: zip entry "${entryName}" is compressed; tensor data must be stored uncompressed (as torch.save writes it) to be read by position`);
      }
      storages.set(key, storage);
      return storage;
    },
  };
}

function rebuildTensor(items: readonly PickleValue[], dtypeOverride: DType | undefined, site: PickleSite): TensorRef {
  const storage = items[0];
  if (!(storage instanceof StorageRef)) throw pickleError(site, `tensor rebuild expects a storage as argument 1, got ${describeValue(storage ?? null)}`);
  const storageOffset = nonNegativeInt(items[1] ?? null, "storage_offset", site);
  const shape = intTuple(items[2] ?? null, "size", site);
  const stride = intTuple(items[3] ?? null, "stride", site);
  if (shape.length !== stride.length) throw pickleError(site, `tensor size has ${shape.length} dimensions but stride has ${stride.length}`);
  if (shape.length > MAX_TENSOR_RANK) throw pickleError(site, `tensor of ${shape.length} dimensions, over the limit of ${MAX_TENSOR_RANK} (MAX_TENSOR_RANK)`);
  if (!Number.isSafeInteger(shape.reduce((n, d) => n * d, 1))) throw pickleError(site, `tensor size [${shape.join(", ")}] has too many elements`);
  return new TensorRef(storage, dtypeOverride ?? storage.dtype, storageOffset, shape, stride, site);
}

function arity(callable: TorchGlobal, items: readonly PickleValue[], min: number, max: number, site: PickleSite): void {
  if (items.length < min || items.length > max) {
    const expected = min === max ? `${min}` : `${min} or ${max}`;
    throw pickleError(site, `${callable.qualifiedName} takes ${expected} arguments, got ${items.length}`);
  }
}

function nonNegativeInt(value: PickleValue, what: string, site: PickleSite): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw pickleError(site, `${what} must be a non-negative int, got ${typeof value === "number" ? value : describeValue(value)}`);
  return value;
}

function intTuple(value: PickleValue, what: string, site: PickleSite): number[] {
  if (!(value instanceof PickleTuple)) throw pickleError(site, `tensor ${what} must be a tuple, got ${describeValue(value)}`);
  return value.items.map((item) => nonNegativeInt(item, `tensor ${what} entry`, site));
}
