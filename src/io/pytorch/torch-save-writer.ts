// Writes small torch.save-format files in memory: a state dict pickled the way torch/serialization.py
// `_save` pickles one (protocol 2, a dict of `torch._utils._rebuild_tensor_v2` calls whose storages
// are persistent ids ('storage', torch.<T>Storage, key, 'cpu', numel)), in a zip laid out like
// PyTorch's writer (records under "<archive>/", 64-byte aligned, `version` and `byteorder` records).
// For round-trip tests and hand-built malformed checkpoints; it holds everything in memory, so it is
// not meant for model-sized output.

import { ArgumentError } from "../../errors.js";
import { DTYPE_BYTES, type DType } from "../../tensor/dtype.js";
import { OP } from "./pickle-opcodes.js";
import { PickleWriter } from "./pickle-writer.js";
import { type ZipWriterEntry, type ZipWriterOptions, writeZip } from "./zip-writer.js";

/** The torch storage class of each dtype that has one (torch/storage.py legacy typed storages). */
const STORAGE_CLASS: Partial<Record<DType, string>> = {
  f64: "DoubleStorage", f32: "FloatStorage", f16: "HalfStorage", bf16: "BFloat16Storage",
  i64: "LongStorage", i32: "IntStorage", i16: "ShortStorage", i8: "CharStorage", u8: "ByteStorage", bool: "BoolStorage",
};

/** A storage: raw little-endian bytes of `dtype` elements, saved as the record `data/<key>`. */
export interface StorageSpec {
  readonly key: string;
  readonly dtype: DType;
  readonly data: Uint8Array;
}

/** A tensor to save: a view of a storage (offset and stride in elements; stride defaults to row-major). */
export interface TensorSpec {
  readonly name: string;
  readonly storage: StorageSpec;
  readonly shape: readonly number[];
  readonly storageOffset?: number;
  readonly stride?: readonly number[];
}

/** One extra record of a torch.save archive, or a replacement for a standard one. */
export interface RecordSpec {
  /** Name under the archive folder, e.g. "version". */
  readonly name: string;
  readonly data: Uint8Array;
  readonly deflate?: boolean;
}

/** Options of {@link writeTorchSave}. */
export interface TorchSaveOptions {
  /** The zip folder (torch: the file's base name). Default "archive". */
  readonly archiveName?: string;
  /** Replace data.pkl with these bytes (hand-built pickles). */
  readonly pickle?: Uint8Array;
  /** Records written instead of the standard ones of the same name, or in addition. */
  readonly records?: readonly RecordSpec[];
  /** Leave out standard records (e.g. "byteorder", or "data/3" for a missing storage). */
  readonly omit?: readonly string[];
  readonly zip?: ZipWriterOptions;
}

/** Row-major strides of a shape, in elements. */
export function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let step = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    stride[k] = step;
    step *= shape[k]!;
  }
  return stride;
}

/**
 * Pickle a state dict of tensors as torch.save does (protocol 2, a plain dict).
 * @throws {ArgumentError} For a dtype without a torch storage class (u16, u32, u64).
 */
export function pickleStateDict(tensors: readonly TensorSpec[]): Uint8Array {
  const w = new PickleWriter().proto(2).emptyDict().mark();
  for (const tensor of tensors) {
    const { storage } = tensor;
    const storageClass = STORAGE_CLASS[storage.dtype];
    if (storageClass === undefined) throw new ArgumentError(`torch has no storage class for ${storage.dtype}`);
    w.str(tensor.name).global("torch._utils", "_rebuild_tensor_v2").mark();
    w.mark().str("storage").global("torch", storageClass).str(storage.key).str("cpu").int(storage.data.length / DTYPE_BYTES[storage.dtype]).tuple().op(OP.BINPERSID);
    w.int(tensor.storageOffset ?? 0);
    intTuple(w, tensor.shape);
    intTuple(w, tensor.stride ?? contiguousStride(tensor.shape));
    w.bool(false).global("collections", "OrderedDict").emptyTuple().op(OP.REDUCE);
    w.tuple().op(OP.REDUCE);
  }
  return w.op(OP.SETITEMS).stop().bytes();
}

/**
 * A torch.save archive of `tensors` (zip bytes): data.pkl, one `data/<key>` per distinct storage,
 * `version` ("3") and `byteorder` ("little").
 * @example writeFile("t.pth", writeTorchSave([{ name: "w", storage: { key: "0", dtype: "f32", data }, shape: [2, 2] }]))
 */
export function writeTorchSave(tensors: readonly TensorSpec[], options: TorchSaveOptions = {}): Uint8Array {
  const archive = options.archiveName ?? "archive";
  const records = new Map<string, RecordSpec>();
  const add = (record: RecordSpec): void => { records.set(record.name, record); };
  add({ name: "data.pkl", data: options.pickle ?? pickleStateDict(tensors) });
  for (const { storage } of tensors) add({ name: `data/${storage.key}`, data: storage.data });
  add({ name: "version", data: new TextEncoder().encode("3\n") });
  add({ name: "byteorder", data: new TextEncoder().encode("little") });
  for (const record of options.records ?? []) add(record);
  for (const name of options.omit ?? []) records.delete(name);
  const entries: ZipWriterEntry[] = [...records.values()].map((r) => ({ name: `${archive}/${r.name}`, data: r.data, ...(r.deflate === true ? { deflate: true } : {}) }));
  return writeZip(entries, options.zip);
}

function intTuple(w: PickleWriter, values: readonly number[]): void {
  if (values.length >= 1 && values.length <= 3) {
    for (const v of values) w.int(v);
    w.tuple(values.length as 1 | 2 | 3);
  } else if (values.length === 0) {
    w.emptyTuple();
  } else {
    w.mark();
    for (const v of values) w.int(v);
    w.tuple();
  }
}
