// Merges Meta's model-parallel shards (consolidated.00.pth ... consolidated.NN.pth) into one
// TensorSource with whole tensors, following how meta-llama/llama3 splits them: tensors of
// column-parallel layers and the embedding are split along dim 0, row-parallel ones along dim 1,
// norms are replicated (names.ts has the table). A tensor is assembled only when it is read, so
// merging a 70B checkpoint never holds more than one tensor in memory.

import { FormatError } from "../errors.js";
import { type TensorEntry, type TensorSource, checkReadTarget, entryOf, readWholeTensor } from "../io/tensor-source.js";
import { DTYPE_BYTES } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { numel } from "../tensor/tensor.js";
import type { ShardSplit } from "./names.js";

/** How the shards of one tensor combine. */
interface MergePlan {
  readonly split: ShardSplit;
  readonly parts: readonly TensorEntry[];
  readonly entry: TensorEntry;
}

/**
 * One TensorSource over all shards of a Meta checkpoint.
 * @param shards the shard sources in order (consolidated.00 first)
 * @param splitOf how each tensor name is split (from names.ts; unknown names: "replicated")
 * @throws FormatError when the shards do not hold the same tensors with compatible shapes
 */
export function mergeMetaShards(shards: readonly TensorSource[], splitOf: (name: string) => ShardSplit): TensorSource {
  const first = shards[0];
  if (first === undefined) throw new RangeError("mergeMetaShards needs at least one shard");
  if (shards.length === 1) return first;
  const plans = new Map<string, MergePlan>();
  for (const [name, entry0] of first.entries) {
    const parts = shards.map((shard) => {
      const part = shard.entries.get(name);
      if (part === undefined) throw new FormatError(anyPath(shard, entry0.path), `shard lacks tensor "${name}" that the first shard has`);
      if (part.dtype !== entry0.dtype) throw new FormatError(part.path, `tensor "${name}" is ${part.dtype} here but ${entry0.dtype} in ${entry0.path}`);
      return part;
    });
    const split = entry0.shape.length === 0 ? "replicated" : splitOf(name);
    const shape = mergedShape(name, split, parts);
    const byteLength = numel(shape) * DTYPE_BYTES[entry0.dtype];
    plans.set(name, { split, parts, entry: { ...entry0, shape, byteLength } });
  }
  for (const shard of shards.slice(1)) {
    for (const [name, entry] of shard.entries) {
      if (!plans.has(name)) throw new FormatError(entry.path, `tensor "${name}" is not in the first shard`);
    }
  }
  return new MergedSource(shards, plans);
}

function anyPath(shard: TensorSource, fallback: string): string {
  const firstEntry = shard.entries.values().next();
  return firstEntry.done === true ? fallback : firstEntry.value.path;
}

function mergedShape(name: string, split: ShardSplit, parts: readonly TensorEntry[]): number[] {
  const base = parts[0]!.shape;
  const axis = split === "dim0" ? 0 : split === "dim1" ? 1 : -1;
  for (const part of parts) {
    const ok = part.shape.length === base.length && part.shape.every((d, i) => i === axis || d === base[i]);
    if (!ok) throw new FormatError(part.path, `tensor "${name}" has shape [${part.shape.join(", ")}], incompatible with [${base.join(", ")}] in the first shard`);
  }
  if (axis < 0) return [...base];
  if (axis >= base.length) throw new FormatError(parts[0]!.path, `tensor "${name}" has ${base.length} dimensions; cannot split along dim ${axis}`);
  const shape = [...base];
  shape[axis] = parts.reduce((sum, p) => sum + p.shape[axis]!, 0);
  return shape;
}

class MergedSource implements TensorSource {
  readonly entries: ReadonlyMap<string, TensorEntry>;

  constructor(private readonly shards: readonly TensorSource[], private readonly plans: ReadonlyMap<string, MergePlan>) {
    this.entries = new Map([...plans].map(([name, plan]) => [name, plan.entry]));
  }

  async read(name: string): Promise<Tensor> {
    const plan = this.plan(name);
    return readWholeTensor(plan.entry, plan.entry.path, (target) => this.readInto(name, target));
  }

  async readInto(name: string, target: Uint8Array): Promise<void> {
    const plan = this.plan(name);
    checkReadTarget(plan.entry, target, plan.entry.path);
    if (plan.split === "replicated") return this.shards[0]!.readInto(name, target);
    if (plan.split === "dim0") {
      let offset = 0;
      for (const [i, part] of plan.parts.entries()) {
        await this.shards[i]!.readInto(name, target.subarray(offset, offset + part.byteLength));
        offset += part.byteLength;
      }
      return;
    }
    // dim1: each output row is the concatenation of the shards' rows.
    const rows = plan.entry.shape[0]!;
    const rowBytes = plan.entry.byteLength / rows;
    let column = 0;
    for (const [i, part] of plan.parts.entries()) {
      const partBytes = new Uint8Array(part.byteLength);
      await this.shards[i]!.readInto(name, partBytes);
      const partRowBytes = part.byteLength / rows;
      for (let r = 0; r < rows; r++) target.set(partBytes.subarray(r * partRowBytes, (r + 1) * partRowBytes), r * rowBytes + column);
      column += partRowBytes;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }

  private plan(name: string): MergePlan {
    const path = this.shards[0]!.entries.values().next().value?.path ?? "checkpoint";
    entryOf(this.entries, name, path); // throws for an unknown name
    return this.plans.get(name)!;
  }
}
