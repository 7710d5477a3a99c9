/**
 * The PEFT parts of a fixture check: the saved adapter loaded onto the base model (logits, loss and
 * every trainable gradient against lora_ref), merge_and_unload (every parameter against `merged.*`), and
 * four AdamW steps with the fixture's schedule and clipping (adamw_ref: lr, loss, grad norm, parameters).
 */
import type { Backend } from '../backends/backend.ts';
import { join } from 'node:path';
import { readSafetensorsFile } from '../io/safetensors.ts';
import { loadSequenceClassifier, type SequenceClassifier } from '../nn/auto.ts';
import { AdamW, clipGradNorm } from '../optim/adamw.ts';
import { linearWarmupDecay } from '../optim/schedule.ts';
import { paramGroups } from '../optim/param-groups.ts';
import { importPeft } from '../prilora/peft.ts';
import { readJsonFile } from '../nn/config.ts';
import type { FloatDType } from '../core/dtype.ts';
import { beginScope } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { LIMITS, largestNorm, readFixtureInputs, relativeError, type Comparison, type FixtureInputs } from './fixture-check.ts';

/** Our parameter name → PEFT's in-memory name (adapter "default", head under modules_to_save). */
export function peftMemoryName(name: string, heads: readonly string[]): string {
  const lora = /^(.*)\.(lora_[AB])\.weight$/.exec(name);
  if (lora) return `base_model.model.${lora[1]}.${lora[2]}.default.weight`;
  const head = heads.find((h) => name.startsWith(`${h}.`));
  if (head) return `base_model.model.${head}.modules_to_save.default.${name.slice(head.length + 1)}`;
  return `base_model.model.${name}`;
}

async function withAdapter(dir: string, dtype: FloatDType, backend: Backend | undefined) {
  const { model } = loadSequenceClassifier(dir, { dtype, backend });
  const setup = importPeft(model, join(dir, 'lora'));
  const inputs = readFixtureInputs(dir, dtype, backend);
  return { model, setup, inputs };
}

function trainable(model: SequenceClassifier): [string, Tensor][] {
  return [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
}

function release(model: SequenceClassifier, inputs: FixtureInputs): void {
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
  model.dispose();
  Object.values(inputs).forEach((t) => t.dispose());
}

export async function checkLoraParts(dir: string, dtype: FloatDType, backend?: Backend): Promise<Comparison[]> {
  const limits = LIMITS[dtype];
  const out: Comparison[] = [];
  const ref = readSafetensorsFile(join(dir, 'lora_ref.safetensors'));
  const floor = 1e-6 * largestNorm(ref, 'grad.');
  {
    const { model, setup, inputs } = await withAdapter(dir, dtype, backend);
    const heads = setup.options.modulesToSave;
    const scope = beginScope();
    const r = model.forward(inputs);
    out.push({ part: 'lora', name: 'logits', error: relativeError(await r.logits.data(), ref.getFloat64('logits')), limit: limits.forward });
    out.push({ part: 'lora', name: 'loss', error: relativeError(await r.loss!.data(), ref.getFloat64('loss')), limit: limits.forward });
    r.loss!.backward();
    scope.end();
    const expected = new Set([...ref.tensors.keys()].filter((k) => k.startsWith('grad.')));
    for (const [name, p] of trainable(model)) {
      const key = `grad.${peftMemoryName(name, heads)}`;
      expected.delete(key);
      const g = p.grad ? await p.grad.data() : new Float64Array(p.size);
      out.push({ part: 'lora', name: key, error: ref.tensors.has(key) ? relativeError(g, ref.getFloat64(key), floor) : Infinity, limit: limits.grad });
    }
    // a reference gradient we never produced (a parameter PEFT trains and we froze) is a failure too
    for (const key of expected) out.push({ part: 'lora', name: `${key} (not trained here)`, error: Infinity, limit: limits.grad });
    for (const ad of setup.adapters) ad.merge();
    for (const [name, p] of model.namedParameters()) {
      if (/\.lora_[AB]\./.test(name)) continue;
      const key = `merged.${name}`;
      out.push({ part: 'merged', name: key, error: ref.tensors.has(key) ? relativeError(await p.data(), ref.getFloat64(key)) : Infinity, limit: limits.merged });
    }
    release(model, inputs);
  }
  out.push(...(await checkAdamW(dir, dtype, backend)));
  return out;
}

async function checkAdamW(dir: string, dtype: FloatDType, backend?: Backend): Promise<Comparison[]> {
  const limits = LIMITS[dtype];
  const ref = readSafetensorsFile(join(dir, 'adamw_ref.safetensors'));
  const manifest = readJsonFile(join(dir, 'manifest.json'));
  const a = manifest.adamw as { lr: number; betas: [number, number]; eps: number; weight_decay: { weights: number }; clip_grad_norm: number; steps: number; schedule: string };
  const sched = /warmup (\d+) of (\d+)/.exec(a.schedule);
  const factor = linearWarmupDecay(Number(sched?.[1] ?? 0), Number(sched?.[2] ?? a.steps));
  const { model, setup, inputs } = await withAdapter(dir, dtype, backend);
  const opt = new AdamW(paramGroups(model, a.weight_decay.weights), { lr: a.lr, betas: a.betas, eps: a.eps });
  const out: Comparison[] = [];
  const scalarRef = (k: string) => ref.getFloat64(k);
  for (let k = 0; k < a.steps; k++) {
    const lr = a.lr * factor(k);
    out.push({ part: 'adamw', name: `lr.${k}`, error: relativeError([lr], scalarRef(`lr.${k}`)), limit: limits.adamw });
    const scope = beginScope();
    const loss = model.forward(inputs).loss!;
    out.push({ part: 'adamw', name: `loss.${k}`, error: relativeError(await loss.data(), scalarRef(`loss.${k}`)), limit: limits.adamw });
    loss.backward();
    const norm = clipGradNorm(opt.params, a.clip_grad_norm);
    out.push({ part: 'adamw', name: `gradnorm.${k}`, error: relativeError(await norm.data(), scalarRef(`gradnorm.${k}`)), limit: limits.adamw });
    opt.update(lr);
    opt.zeroGrad();
    scope.end();
  }
  for (const [name, p] of trainable(model)) {
    const key = `param.${peftMemoryName(name, setup.options.modulesToSave)}`;
    out.push({ part: 'adamw', name: key, error: ref.tensors.has(key) ? relativeError(await p.data(), ref.getFloat64(key)) : Infinity, limit: limits.adamw });
  }
  opt.dispose();
  release(model, inputs);
  return out;
}
