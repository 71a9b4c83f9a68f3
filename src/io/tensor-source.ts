// The contract between checkpoint readers (safetensors files, sharded safetensors checkpoints,
// later PyTorch .pth archives) and their consumers (the model loader, the converters): a set of
// named tensors whose bytes are read one tensor at a time, on demand, into memory the size of that
// tensor. Nothing here reads files; see safetensors-reader.ts and safetensors-checkpoint.ts.

import { bufferConstants, endianness } from "#platform";
import { ArgumentError, FormatError, UnsupportedError } from "../errors.js";
import { type DType, viewAs } from "../tensor/dtype.js";
import { type Tensor, makeTensor, numel } from "../tensor/tensor.js";

/** Where one tensor's bytes are and how to interpret them. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: DType;
  /** Row-major dimensions; `[]` is a scalar. */
  readonly shape: readonly number[];
  /** The file holding the bytes. */
  readonly path: string;
  /** Absolute offset of the first byte in `path`. */
  readonly byteOffset: number;
  /** numel(shape) x DTYPE_BYTES[dtype]. */
  readonly byteLength: number;
}

/**
 * Named tensors that can be read one at a time (a safetensors file, a sharded checkpoint, later a
 * PyTorch .pth). Reads may run concurrently; close() releases the open files.
 *
 * @example
 * ```ts
 * const source = await openSafetensorsCheckpoint("models/Llama-3.2-1B");
 * try {
 *   const embed = await source.read("model.embed_tokens.weight"); // (vocabSize, dim), bf16 bits
 * } finally {
 *   await source.close();
 * }
 * ```
 */
export interface TensorSource {
  /** Every tensor of the source by name. */
  readonly entries: ReadonlyMap<string, TensorEntry>;
  /**
   * Reads one tensor into a freshly allocated buffer of exactly its size, in its stored dtype.
   * @throws FormatError (missing tensor, file shorter than its header says...).
   */
  read(name: string): Promise<Tensor>;
  /**
   * Reads one tensor's raw little-endian bytes into `target` (length must equal byteLength).
   * @throws FormatError for a missing tensor; ArgumentError for a target of the wrong length.
   */
  readInto(name: string, target: Uint8Array): Promise<void>;
  /** Closes the files; reads after close() fail. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Most elements one tensor may have: the longest typed array Node allows
 * (`buffer.constants.MAX_LENGTH`, V8's TypedArray::kMaxLength: 2^32 on 64-bit Node 20, 2^53 - 1
 * from Node 22). The ArrayBuffer itself may be longer; its typed-array view may not.
 */
export const MAX_TENSOR_ELEMENTS = bufferConstants.MAX_LENGTH;

/**
 * The shared body of TensorSource.read(): allocates one buffer of exactly entry.byteLength, lets
 * `fill` write the tensor's little-endian bytes into it, and wraps it as a typed tensor.
 * @param path the source, for error messages
 * @throws UnsupportedError for a tensor past MAX_TENSOR_ELEMENTS, a failed allocation, or a
 *   big-endian host (typed arrays would read the bytes swapped)
 */
export async function readWholeTensor(entry: TensorEntry, path: string, fill: (target: Uint8Array) => Promise<void>): Promise<Tensor> {
  if (endianness() !== "LE") throw new UnsupportedError("tensors are little-endian and this host is big-endian; byte swapping is not implemented");
  const nElements = numel(entry.shape);
  if (nElements > MAX_TENSOR_ELEMENTS) {
    const limit = `${MAX_TENSOR_ELEMENTS} one typed array may hold in this Node (buffer.constants.MAX_LENGTH)`;
    throw new UnsupportedError(`${path}: tensor "${entry.name}" has ${nElements} elements, more than the ${limit}`);
  }
  let buffer: ArrayBuffer;
  try {
    buffer = new ArrayBuffer(entry.byteLength);
  } catch (cause) {
    throw new UnsupportedError(`${path}: cannot allocate ${entry.byteLength} bytes for tensor "${entry.name}"`, { cause });
  }
  await fill(new Uint8Array(buffer));
  return makeTensor(entry.dtype, entry.shape, viewAs(entry.dtype, buffer, 0, nElements), entry.name);
}

/**
 * The entry of tensor `name` in `entries`, the lookup every TensorSource starts with.
 * @param path the source (file or folder), for the error
 * @throws FormatError naming the tensor, the source and how many tensors it has
 */
export function entryOf<E extends TensorEntry>(entries: ReadonlyMap<string, E>, name: string, path: string): E {
  const entry = entries.get(name);
  if (entry === undefined) throw new FormatError(path, `no tensor named "${name}" (${entries.size} tensors here)`);
  return entry;
}

/**
 * Check the target of TensorSource.readInto.
 * @throws ArgumentError when its length is not the tensor's byteLength
 */
export function checkReadTarget(entry: TensorEntry, target: Uint8Array, path: string): void {
  if (target.byteLength !== entry.byteLength) {
    throw new ArgumentError(`${path}: tensor "${entry.name}" is ${entry.byteLength} bytes but the target holds ${target.byteLength}`);
  }
}
