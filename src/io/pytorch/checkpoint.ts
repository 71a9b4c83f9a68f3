// Reading a torch.save file (PyTorch >= 1.6 zip format, e.g. Meta's consolidated.NN.pth) as a
// TensorSource, without executing its pickle. Layout, after caffe2/serialize/inline_container.cc
// and torch/serialization.py (`_save`, `_load`): every record sits in one zip folder, the "archive
// name" (the first entry's folder); `data.pkl` is the pickled object, `data/<key>` the raw
// little-endian bytes of each storage, `version` (or `.data/version`) the format version and
// `byteorder` (torch >= 1.11) the storages' byte order. Opening reads the directory, those records
// and the pickle; tensor bytes are read on demand, by position, one tensor at a time.
//
// Decisions: nested dicts are flattened with dotted names and non-tensor values are skipped and
// listed in `ignored` (state-dict.ts); a non-contiguous tensor is gathered into a dense buffer on
// read (bounded by MAX_GATHER_SPAN_BYTES); big-endian storages and the legacy pre-1.6 formats are
// refused with UnsupportedError.

import { type FileHandle, open } from "#platform";
import { FormatError, UnsupportedError } from "../../errors.js";
import { DTYPE_BYTES } from "../../tensor/dtype.js";
import type { Tensor } from "../../tensor/tensor.js";
import { type TensorSource, checkReadTarget, entryOf, readWholeTensor } from "../tensor-source.js";
import { DEFAULT_PICKLE_LIMITS, type PickleLimits, unpickle } from "./pickle.js";
import { type IgnoredValue, type PytorchTensorEntry, collectStateDict, placeTensor } from "./state-dict.js";
import { gatherStrided, stridedExtent } from "./strided.js";
import { createTorchHooks } from "./torch-pickle.js";
import { ZIP_STORED, ZipArchive, type ZipEntry } from "./zip.js";

/** Zip format versions torch.save writes: 1 (PyTorch 1.6), 2, and 3 (1.8 to now; kProducedFileFormatVersion for torch.save). */
export const SUPPORTED_FORMAT_VERSIONS: readonly number[] = [1, 2, 3];
/** The version and byteorder records are a few bytes ("3\n", "little"). */
const MAX_SMALL_RECORD_BYTES = 64;
/** Most bytes read at once to gather a non-contiguous tensor (its span in the storage). */
export const MAX_GATHER_SPAN_BYTES = 2 ** 30;
/**
 * First byte of a legacy (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`) torch.save file:
 * it is a sequence of pickles, the first being PROTO n then the magic number 0x1950a86a20f9469cfc6c
 * (torch/serialization.py `_legacy_save`). Any file starting with PROTO is a bare pickle, not a zip.
 */
const PICKLE_PROTO_OPCODE = 0x80;
/** The older tar-based torch.save format is a POSIX tar: "ustar" at byte 257. */
const TAR_MAGIC_OFFSET = 257;

/** Options of {@link openPytorchCheckpoint}. */
export interface PytorchCheckpointOptions {
  /** Overrides of the pickle interpreter's limits (DEFAULT_PICKLE_LIMITS). */
  readonly pickleLimits?: Partial<PickleLimits>;
}

/** An open torch.save file: its tensors, read on demand. */
export class PytorchCheckpoint implements TensorSource {
  private constructor(
    /** The .pth file. */
    readonly path: string,
    private readonly zip: ZipArchive,
    /** The zip folder holding the records (torch: the file's base name when saved). */
    readonly archiveName: string,
    /** The `version` record (1 to 3). */
    readonly formatVersion: number,
    /** Every tensor by its (dotted) name, in pickle order. */
    readonly entries: ReadonlyMap<string, PytorchTensorEntry>,
    /** Values of the checkpoint's dicts that are not tensors, skipped. */
    readonly ignored: readonly IgnoredValue[],
  ) {}

  /** See {@link openPytorchCheckpoint}. */
  static async open(path: string, options: PytorchCheckpointOptions = {}): Promise<PytorchCheckpoint> {
    let file: FileHandle;
    try {
      file = await open(path, "r");
    } catch (cause) {
      throw new FormatError(path, `cannot open PyTorch checkpoint: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    try {
      if (!(await file.stat()).isFile()) throw new FormatError(path, "not a regular file");
      await refuseLegacyFormats(file, path);
      const zip = await ZipArchive.fromHandle(file, path);
      return await PytorchCheckpoint.load(zip, path, options);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  private static async load(zip: ZipArchive, path: string, options: PytorchCheckpointOptions): Promise<PytorchCheckpoint> {
    const first = zip.entries.keys().next();
    if (first.done === true) throw new FormatError(path, "the zip archive is empty: no torch.save records");
    const slash = first.value.indexOf("/");
    if (slash <= 0) throw new FormatError(path, `zip entry "${first.value}" is not in a folder; torch.save puts every record under "<archive>/"`);
    const archiveName = first.value.slice(0, slash);
    const record = (name: string): ZipEntry | undefined => zip.entry(`${archiveName}/${name}`);

    const versionEntry = record(".data/version") ?? record("version");
    if (versionEntry === undefined) throw new FormatError(path, `no "${archiveName}/version" record: not a torch.save archive`);
    const versionText = await readText(zip, versionEntry, "version record");
    if (!/^\d{1,9}$/.test(versionText)) throw new FormatError(path, `version record "${versionText}" is not a number`, { byteOffset: versionEntry.dataOffset });
    const formatVersion = Number(versionText);
    if (!SUPPORTED_FORMAT_VERSIONS.includes(formatVersion)) {
      throw new UnsupportedError(`${path}: torch.save format version ${formatVersion}; versions ${SUPPORTED_FORMAT_VERSIONS.join(", ")} are supported`);
    }

    // Absent before PyTorch 1.11, whose files are little-endian (it only ran on little-endian hosts).
    const byteorderEntry = record("byteorder");
    if (byteorderEntry !== undefined) {
      const byteorder = await readText(zip, byteorderEntry, "byteorder record");
      if (byteorder === "big") throw new UnsupportedError(`${path}: the storages are big-endian (byteorder record "big"); only little-endian checkpoints are supported`);
      if (byteorder !== "little") throw new FormatError(path, `byteorder record is "${byteorder}", expected "little" or "big"`, { byteOffset: byteorderEntry.dataOffset });
    }

    const pickleEntry = record("data.pkl");
    if (pickleEntry === undefined) throw new FormatError(path, `no "${archiveName}/data.pkl" record: not a torch.save archive`);
    const limits = { ...DEFAULT_PICKLE_LIMITS, ...options.pickleLimits };
    const pickle = await zip.readSmall(pickleEntry, limits.maxPickleBytes, "data.pkl (maxPickleBytes)");
    // Offsets in errors point into the file when the pickle is stored as is, else into the inflated entry.
    const stored = pickleEntry.method === ZIP_STORED;
    const root = unpickle(pickle, {
      source: stored ? path : `${path}!${pickleEntry.name}`,
      baseOffset: stored ? pickleEntry.dataOffset : 0,
      hooks: createTorchHooks(archiveName, (name) => zip.entry(name)),
      limits,
    });
    const stateDict = collectStateDict(root, path);
    const entries = new Map<string, PytorchTensorEntry>();
    for (const [name, tensor] of stateDict.tensors) entries.set(name, placeTensor(name, tensor, path));
    return new PytorchCheckpoint(path, zip, archiveName, formatVersion, entries, stateDict.ignored);
  }

  /**
   * The entry of tensor `name`.
   * @throws {FormatError} When there is no such tensor.
   */
  entry(name: string): PytorchTensorEntry {
    return entryOf(this.entries, name, this.path);
  }

  /**
   * Read tensor `name` into a new buffer of exactly its size, in its stored dtype (bf16/f16 as raw bits).
   * @throws {FormatError} For a missing tensor or a file shorter than its directory says.
   * @throws {UnsupportedError} On a big-endian host, or for a tensor too large for one typed array.
   */
  async read(name: string): Promise<Tensor> {
    const entry = this.entry(name);
    return readWholeTensor(entry, this.path, (target) => this.readInto(name, target));
  }


  /**
   * Read tensor `name`'s raw little-endian bytes, row-major, into `target` (length must be its byteLength).
   * @throws {FormatError} For a missing tensor; {ArgumentError} for a target of the wrong length or after close().
   * @throws {UnsupportedError} For a non-contiguous tensor spanning more than MAX_GATHER_SPAN_BYTES.
   */
  async readInto(name: string, target: Uint8Array): Promise<void> {
    const entry = this.entry(name);
    checkReadTarget(entry, target, this.path);
    if (entry.contiguous) {
      await this.zip.readData(entry.byteOffset, target, `tensor "${name}"`);
      return;
    }
    const elementBytes = DTYPE_BYTES[entry.dtype];
    const spanBytes = stridedExtent(entry.shape, entry.stride) * elementBytes;
    if (spanBytes > MAX_GATHER_SPAN_BYTES) {
      throw new UnsupportedError(`${this.path}: non-contiguous tensor "${name}" spans ${spanBytes} bytes of its storage, over the ${MAX_GATHER_SPAN_BYTES} gathered at once (MAX_GATHER_SPAN_BYTES)`);
    }
    const span = new Uint8Array(spanBytes);
    await this.zip.readData(entry.byteOffset, span, `tensor "${name}"`);
    gatherStrided(span, entry.shape, entry.stride, elementBytes, target);
  }

  /** Close the file. Safe to call twice; reads after close() throw ArgumentError. */
  async close(): Promise<void> {
    await this.zip.close();
  }
}

/**
 * Open a torch.save checkpoint (zip format, PyTorch >= 1.6) such as Meta's `consolidated.00.pth`,
 * reading its directory and pickle (never executed: a whitelist of opcodes and globals is
 * interpreted). Tensors are read later, on demand.
 * @param path The .pth file.
 * @returns The open checkpoint; call close() when done.
 * @throws {FormatError} Naming the file and byte for a malformed zip or pickle, or a pickle global outside the whitelist.
 * @throws {UnsupportedError} For the legacy pre-1.6 formats, other format versions, big-endian storages,
 *   compressed tensor data, and tensor kinds not supported (complex, quantized, sparse...).
 * @example
 * ```ts
 * const ckpt = await openPytorchCheckpoint("Meta-Llama-3-8B/consolidated.00.pth");
 * try {
 *   const wq = await ckpt.read("layers.0.attention.wq.weight"); // (nHeads * headDim, dim), bf16 bits
 * } finally {
 *   await ckpt.close();
 * }
 * ```
 */
export function openPytorchCheckpoint(path: string, options: PytorchCheckpointOptions = {}): Promise<PytorchCheckpoint> {
  return PytorchCheckpoint.open(path, options);
}

async function readText(zip: ZipArchive, entry: ZipEntry, what: string): Promise<string> {
  const bytes = await zip.readSmall(entry, MAX_SMALL_RECORD_BYTES, what);
  return new TextDecoder("latin1").decode(bytes).trim();
}

/** Recognise the pre-zip torch.save formats by their first bytes, for a clear refusal. */
async function refuseLegacyFormats(file: FileHandle, path: string): Promise<void> {
  const head = new Uint8Array(TAR_MAGIC_OFFSET + 5);
  const { bytesRead } = await file.read(head, 0, head.length, 0);
  const starts = (magic: Uint8Array, at = 0): boolean => bytesRead >= at + magic.length && magic.every((b, i) => head[at + i] === b);
  const legacy = "the legacy torch.save format (PyTorch < 1.6 or _use_new_zipfile_serialization=False) is not supported; re-save it with torch.save in a current PyTorch";
  if (bytesRead > 0 && head[0] === PICKLE_PROTO_OPCODE) throw new UnsupportedError(`${path}: a bare pickle, not a zip archive: ${legacy}`);
  if (starts(new TextEncoder().encode("ustar"), TAR_MAGIC_OFFSET)) throw new UnsupportedError(`${path}: tar archive: ${legacy}`);
  if (!starts(Uint8Array.of(0x50, 0x4b))) throw new FormatError(path, "not a torch.save file: it does not start with a zip header (\"PK\")", { byteOffset: 0 });
}
