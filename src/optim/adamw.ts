/**
 * AdamW (Loshchilov & Hutter) exactly as torch.optim.AdamW computes it (decoupled weight decay applied to
 * the parameter first, bias-corrected moments, eps added after the square root), with parameter groups,
 * optional per-parameter masks (PRILoRA's permanent pruning) and state save/load. Each parameter's update
 * is one fused backend kernel where the backend has it, else pointwise ops (./adamw-step.ts); parameters
 * keep their identity.
 */
import { noGrad } from '../autograd/record.ts';
import { ConfigError, ShapeError, fmtShape } from '../core/errors.ts';
import { add, div, gt, mul, sqrt, sub } from '../ops/elementwise.ts';
import { sum } from '../ops/reduce.ts';
import { scalar, tensor, zerosLike } from '../tensor/create.ts';
import type { TypedArray } from '../core/dtype.ts';
import { keep, tidy } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';
import { adamwAllStep, adamwStep } from './adamw-step.ts';

export interface ParamGroup {
  params: Tensor[];
  weightDecay: number;
  /** this group's learning rate as a multiple of the optimiser's (default 1) */
  lrScale?: number;
}

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
}

export interface Moments {
  m: Tensor;
  v: Tensor;
}

export interface AdamWState {
  step: number;
  /** moments in parameter order (groups flattened) */
  moments: { m: TypedArray; v: TypedArray; shape: readonly number[] }[];
}

export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  /** optimiser steps taken */
  step = 0;
  private readonly moments = new Map<Tensor, Moments>();
  private readonly masks = new Map<Tensor, Tensor>();

  constructor(readonly groups: ParamGroup[], opts: AdamWOptions) {
    this.lr = opts.lr;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    const seen = new Set<Tensor>();
    for (const g of groups) for (const p of g.params) {
      if (seen.has(p)) throw new ConfigError('AdamW: a parameter appears in two groups');
      seen.add(p);
    }
  }

  get params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** Keep `param` (and its moments) at zero wherever `mask` is 0, from now on. Takes ownership of `mask`. */
  setMask(param: Tensor, mask: Tensor): void {
    if (mask.shape.join() !== param.shape.join()) throw new ShapeError(`AdamW.setMask: mask ${fmtShape(mask.shape)} for parameter ${fmtShape(param.shape)}`);
    this.masks.get(param)?.dispose();
    this.masks.set(param, keep(mask));
    const mo = this.moments.get(param);
    if (mo) noGrad(() => this.applyMask(param, mo, mask));
  }

  mask(param: Tensor): Tensor | undefined {
    return this.masks.get(param);
  }

  /** One update of every parameter that has a gradient, with learning rate `lr` (default: this.lr). */
  update(lr = this.lr): void {
    this.step++;
    const [beta1, beta2] = this.betas;
    const hyper = { lr, beta1, beta2, eps: this.eps, bc1: 1 - beta1 ** this.step, bc2Sqrt: Math.sqrt(1 - beta2 ** this.step) };
    noGrad(() => {
      const todo: { p: Tensor; g: Tensor; mo: Moments; mask: Tensor | null; weightDecay: number; lr: number }[] = [];
      for (const group of this.groups) {
        for (const p of group.params) {
          if (!p.grad) continue;
          todo.push({ p, g: p.grad, mo: this.moments.get(p) ?? this.init(p), mask: this.masks.get(p) ?? null, weightDecay: group.weightDecay, lr: lr * (group.lrScale ?? 1) });
        }
      }
      // one multi-tensor kernel per learning rate where the backend has it, else one update per parameter
      for (const rate of new Set(todo.map((t) => t.lr))) {
        const same = todo.filter((t) => t.lr === rate);
        const all = adamwAllStep(same, { ...hyper, lr: rate, weightDecay: 0 });
        same.forEach((t, i) => {
          const next = all?.[i] ?? adamwStep(t.p, t.g, t.mo, t.mask, { ...hyper, lr: rate, weightDecay: t.weightDecay });
          t.p.assignFrom(next.p);
          t.mo.m.assignFrom(next.m);
          t.mo.v.assignFrom(next.v);
        });
      }
    });
  }

  /** The moments of every parameter updated so far (checkpoints save them by parameter name). */
  momentTensors(): ReadonlyMap<Tensor, Moments> {
    return this.moments;
  }

  /** Set one moment of `param` (resuming from a checkpoint); takes ownership of `value`. */
  restoreMoment(param: Tensor, which: 'm' | 'v', value: Tensor): void {
    const mo = this.moments.get(param) ?? this.init(param);
    mo[which].assignFrom(value);
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Step and moments as host arrays (read from any backend). */
  async stateDict(): Promise<AdamWState> {
    const moments = await Promise.all(
      this.params.map(async (p) => {
        const mo = this.moments.get(p);
        return mo ? { m: await mo.m.data(), v: await mo.v.data(), shape: p.shape } : { m: new Float32Array(0), v: new Float32Array(0), shape: [] };
      }),
    );
    return { step: this.step, moments };
  }

  loadStateDict(state: AdamWState): void {
    const params = this.params;
    if (state.moments.length !== params.length) throw new ConfigError(`AdamW.loadStateDict: ${state.moments.length} moment entries for ${params.length} parameters`);
    this.step = state.step;
    params.forEach((p, i) => {
      const s = state.moments[i];
      if (s.m.length === 0) return;
      if (s.shape.join() !== p.shape.join()) throw new ShapeError(`AdamW.loadStateDict: moments ${fmtShape(s.shape)} for parameter ${fmtShape(p.shape)}`);
      const mo = this.moments.get(p) ?? this.init(p);
      const opts = { shape: p.shape, dtype: p.dtype, backend: p.backend };
      mo.m.assignFrom(tensor(s.m, opts));
      mo.v.assignFrom(tensor(s.v, opts));
    });
  }

  dispose(): void {
    for (const mo of this.moments.values()) {
      mo.m.dispose();
      mo.v.dispose();
    }
    for (const m of this.masks.values()) m.dispose();
    this.moments.clear();
    this.masks.clear();
  }

  private init(p: Tensor): Moments {
    const mo = { m: keep(zerosLike(p)), v: keep(zerosLike(p)) };
    this.moments.set(p, mo);
    return mo;
  }

  private applyMask(p: Tensor, mo: Moments, mask: Tensor): void {
    for (const t of [p, mo.m, mo.v]) {
      t.assignFrom(mul(t, mask));
    }
  }
}

/**
 * torch.nn.utils.clip_grad_norm_: scale all gradients by min(1, maxNorm / (‖g‖ + 1e-6)) where ‖g‖ is the
 * global L2 norm. Returns that norm (before clipping) as a 0-d tensor: reading it is the caller's choice,
 * so a GPU step needs no readback.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
  return noGrad(() => {
    const total = tidy(() => {
      // one multi-tensor kernel where the backend has it (a few dispatches instead of three per gradient)
      const b = grads[0]?.backend;
      const fused = b?.sumOfSquares?.(grads.map((g) => g.view('clipGradNorm')));
      if (fused) return sqrt(Tensor.fromStorage(b!, fused, []));
      let sq: Tensor = scalar(0, { dtype: grads[0]?.dtype === 'float64' ? 'float64' : 'float32', backend: grads[0]?.backend });
      for (const g of grads) sq = add(sq, sum(mul(g, g)));
      return sqrt(sq);
    });
    if (Number.isFinite(maxNorm)) {
      tidy(() => {
        const coef = div(maxNorm, add(total, 1e-6));
        // min(coef, 1) computed on the device: coef − (coef − 1)·[coef > 1]
        const clamped = sub(coef, mul(sub(coef, 1), gt(coef, 1)));
        const withGrad = params.filter((p) => p.grad);
        const b = withGrad[0]?.backend;
        const scaled = b?.scaleAll?.(withGrad.map((p) => p.grad!.view('clipGradNorm')), clamped.view('clipGradNorm'));
        withGrad.forEach((p, i) => {
          p.grad!.assignFrom(scaled ? Tensor.fromStorage(b!, scaled[i], p.grad!.shape) : mul(p.grad!, clamped));
        });
      });
    }
    return total;
  });
}
