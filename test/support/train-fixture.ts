// Reading the PyTorch-autograd training goldens of ../shared/fixtures/train (see its README): the
// batch, loss0, grads0 of every trained tensor, the six steps, the final tensors and probe logits,
// and `checks` (how far PyTorch's own float32 run is from its float64 run).

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { LoraAdapter, LoraModule, LoraPair } from "../../src/model/lora.js";
import type { TrainBatch } from "../../src/train/batch.js";
import { loraTensorName } from "../../src/train/lora.js";
import { fixturePath } from "./paths.js";

export const TRAIN_MODEL = "tiny-v512-bf16-untied-llama3rope";

export interface FixtureTensor {
  readonly shape: readonly number[];
  /** the fixture's little-endian float32 values */
  readonly data: Float32Array;
}

export interface TrainFixture {
  readonly settings: {
    readonly lr: number; readonly weight_decay: number; readonly max_grad_norm: number; readonly warmup_steps: number; readonly steps: number;
    readonly betas: readonly [number, number]; readonly eps: number;
    readonly lora: null | { readonly target_modules: readonly string[]; readonly r: number; readonly lora_alpha: number; readonly lora_dropout: number; readonly scaling: number };
  };
  readonly batch: TrainBatch;
  readonly loss0: number;
  readonly grads0: ReadonlyMap<string, FixtureTensor>;
  readonly steps: readonly { readonly step: number; readonly lr: number; readonly loss: number; readonly grad_norm: number }[];
  readonly finalLoss: number;
  readonly final: ReadonlyMap<string, FixtureTensor>;
  readonly probeIds: readonly number[];
  readonly probeLogitsLast: Float32Array;
  readonly loraInit: ReadonlyMap<string, FixtureTensor> | undefined;
  readonly checks: {
    readonly loss0_f32_minus_f64: number; readonly grad_max_abs_f32_minus_f64: number; readonly grad_max_abs: number;
    readonly final_param_max_abs_f32_minus_f64: number; readonly final_loss_f32_minus_f64: number; readonly probe_logits_max_abs_f32_minus_f64: number;
  };
}

interface RawTensor { shape: number[]; base64: string; sha256: string }

function decode(name: string, raw: RawTensor): FixtureTensor {
  const bytes = Buffer.from(raw.base64, "base64");
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (digest !== raw.sha256) throw new Error(`${name}: sha256 ${digest} is not the fixture's ${raw.sha256}`);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (data.length !== raw.shape.reduce((a, b) => a * b, 1)) throw new Error(`${name}: ${data.length} values for shape ${raw.shape}`);
  return { shape: raw.shape, data };
}

function tensors(raw: Record<string, RawTensor>): Map<string, FixtureTensor> {
  return new Map(Object.entries(raw).map(([name, t]) => [name, decode(name, t)]));
}

/** The fixture "full" (every tensor trained) or "lora-qv". */
export function readTrainFixture(kind: "full" | "lora-qv"): TrainFixture {
  const json = JSON.parse(readFileSync(fixturePath("train", `${kind}-${TRAIN_MODEL}.json`), "utf8"));
  const ids: number[][] = json.batch.input_ids;
  const rows = ids.length;
  const seqLen = ids[0]!.length;
  const batch: TrainBatch = {
    rows, seqLen,
    inputIds: Int32Array.from(ids.flat()),
    attentionMask: Uint8Array.from((json.batch.attention_mask as number[][]).flat()),
    labels: Int32Array.from((json.batch.labels as number[][]).flat()),
  };
  return {
    settings: json.settings,
    batch,
    loss0: json.loss0,
    grads0: tensors(json.grads0),
    steps: json.steps,
    finalLoss: json.final_loss,
    final: tensors(json.final),
    probeIds: json.probe_ids,
    probeLogitsLast: decode("probe_logits_last", json.probe_logits_last).data,
    loraInit: json.lora_init === undefined ? undefined : tensors(json.lora_init),
    checks: json.checks,
  };
}

/** Largest |a - b| over two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** The LoRA fixture's initial adapter (copies, so training it leaves the fixture as read). */
export function fixtureAdapter(fixture: TrainFixture, nLayers: number): LoraAdapter {
  const { r, lora_alpha, target_modules } = fixture.settings.lora!;
  const modules = target_modules as LoraModule[];
  const layers = Array.from({ length: nLayers }, (_, l) => {
    const pairs: Partial<Record<LoraModule, LoraPair>> = {};
    for (const m of modules) {
      const a = fixture.loraInit!.get(loraTensorName(l, m, "a"))!;
      const b = fixture.loraInit!.get(loraTensorName(l, m, "b"))!;
      pairs[m] = { a: Float32Array.from(a.data), b: Float32Array.from(b.data), inFeatures: a.shape[1]!, outFeatures: b.shape[0]! };
    }
    return pairs;
  });
  return { rank: r, alpha: lora_alpha, scale: lora_alpha / r, targetModules: modules, layers };
}
