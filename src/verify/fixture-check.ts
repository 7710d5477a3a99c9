/**
 * Checking the engine against a reference fixture (format: test/fixtures/hf/README.md): load the
 * checkpoint and inputs with the project's own loaders, run forward and backward, and measure every
 * reference tensor with the README's rule ‖ours − ref‖ / max(‖ref‖, floor).
 */
import type { Backend } from '../backends/backend.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensorsFile, type SafetensorsFile } from '../io/safetensors.ts';
import { loadSequenceClassifier, type SequenceClassifier } from '../nn/auto.ts';
import { ConfigError } from '../core/errors.ts';
import { tensor } from '../tensor/create.ts';
import type { FloatDType } from '../core/dtype.ts';
import { beginScope } from '../tensor/scope.ts';
import { checkLoraParts } from './fixture-lora.ts';
import type { Tensor } from '../tensor/tensor.ts';

export const PARTS = ['forward', 'grad', 'lora', 'merged', 'adamw'] as const;
export type Part = (typeof PARTS)[number];

/**
 * Limits of the fixtures' README for a float32 engine; float64 must reach 1e-10 — except for merged
 * weights, which the fixtures store as float32 values (every one exactly representable), so no engine can
 * match them closer than float32 rounding.
 */
export const LIMITS: Record<FloatDType, Record<Part, number>> = {
  float32: { forward: 1e-5, grad: 1e-4, lora: 1e-4, merged: 1e-6, adamw: 1e-4 },
  float64: { forward: 1e-10, grad: 1e-10, lora: 1e-10, merged: 1e-6, adamw: 1e-10 },
};

export interface Comparison {
  part: Part;
  name: string;
  error: number;
  /** the README's limit for this tensor (the lora part mixes forward and gradient limits) */
  limit: number;
}

export interface FixtureReport {
  pass: boolean;
  /** worst error per part; 'not checked' for parts this build cannot check yet */
  worst: Record<Part, number | 'not checked'>;
  comparisons: Comparison[];
}

const norm = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
};

export function relativeError(ours: ArrayLike<number>, ref: ArrayLike<number>, floor = 0): number {
  if (ours.length !== ref.length) return Infinity;
  let s = 0;
  for (let i = 0; i < ref.length; i++) s += (ours[i] - ref[i]) ** 2;
  const d = Math.sqrt(s);
  const denom = Math.max(norm(ref), floor);
  return denom === 0 ? (d === 0 ? 0 : Infinity) : d / denom;
}

/** The largest norm among the file's tensors whose names start with `prefix` (the gradient floor's G). */
export function largestNorm(file: SafetensorsFile, prefix: string): number {
  let g = 0;
  for (const name of file.tensors.keys()) if (name.startsWith(prefix)) g = Math.max(g, norm(file.getFloat64(name)));
  return g;
}

export interface FixtureInputs {
  inputIds: Tensor;
  attentionMask: Tensor;
  tokenTypeIds: Tensor;
  labels: Tensor;
}

export function readFixtureInputs(dir: string, dtype: FloatDType, backend?: Backend): FixtureInputs {
  const f = readSafetensorsFile(join(dir, 'inputs.safetensors'));
  const int = (n: string) => tensor(f.getInt32(n), { shape: f.info(n).shape, backend });
  const labelInfo = f.info('labels');
  const labels = labelInfo.dtype.startsWith('F')
    ? tensor(dtype === 'float64' ? f.getFloat64('labels') : f.getFloat32('labels'), { shape: labelInfo.shape, backend })
    : int('labels');
  return { inputIds: int('input_ids'), attentionMask: int('attention_mask'), tokenTypeIds: int('token_type_ids'), labels };
}

/** forward + every parameter gradient against full.safetensors. */
async function checkFull(dir: string, model: SequenceClassifier, inputs: FixtureInputs, dtype: FloatDType): Promise<Comparison[]> {
  const limits = LIMITS[dtype];
  const ref = readSafetensorsFile(join(dir, 'full.safetensors'));
  const out: Comparison[] = [];
  const floor = 1e-6 * largestNorm(ref, 'grad.');
  const r = model.forward({ ...inputs, outputHiddenStates: true, outputAttentions: true });
  const forward: [string, Tensor][] = [['logits', r.logits], ['loss', r.loss!]];
  r.hiddenStates.forEach((h, i) => forward.push([`hidden_states.${i}`, h]));
  r.attentions.forEach((a, i) => forward.push([`attentions.${i}`, a]));
  for (const [name, t] of forward) out.push({ part: 'forward', name, error: relativeError(await t.data(), ref.getFloat64(name)), limit: limits.forward });
  for (const name of ref.tensors.keys()) {
    if (!/^(logits|loss|hidden_states\.\d+|attentions\.\d+|grad\..*)$/.test(name)) throw new ConfigError(`${dir}: unknown reference tensor ${name}`);
  }
  r.loss!.backward();
  const params = model.stateDict();
  for (const name of ref.tensors.keys()) {
    if (!name.startsWith('grad.')) continue;
    const p = params.get(name.slice(5));
    const g = p?.grad ? await p.grad.data() : new Float64Array(0);
    out.push({ part: 'grad', name, error: p ? relativeError(g, ref.getFloat64(name), floor) : Infinity, limit: limits.grad });
  }
  for (const p of params.values()) {
    p.grad?.dispose();
    p.grad = null;
  }
  return out;
}

export async function checkFixture(dir: string, opts: { dtype?: FloatDType; backend?: Backend } = {}): Promise<FixtureReport> {
  const dtype = opts.dtype ?? 'float32';
  const comparisons: Comparison[] = [];
  {
    const { model } = loadSequenceClassifier(dir, { dtype, backend: opts.backend });
    const inputs = readFixtureInputs(dir, dtype, opts.backend);
    const scope = beginScope();
    comparisons.push(...(await checkFull(dir, model, inputs, dtype)));
    scope.end();
    model.dispose();
    Object.values(inputs).forEach((t) => t.dispose());
  }
  if (existsSync(join(dir, 'lora'))) comparisons.push(...(await checkLoraParts(dir, dtype, opts.backend)));
  const worst = Object.fromEntries(PARTS.map((p) => [p, 'not checked'])) as FixtureReport['worst'];
  for (const c of comparisons) {
    const prev = worst[c.part];
    worst[c.part] = typeof prev === 'number' ? Math.max(prev, c.error) : c.error;
  }
  const pass = PARTS.every((p) => typeof worst[p] === 'number') && comparisons.every((c) => c.error <= c.limit);
  return { pass, worst, comparisons };
}
