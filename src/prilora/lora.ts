/**
 * LoRA adapters with PEFT's semantics (Hu et al.; PEFT's `LoraLayer`): for a frozen y = x Wᵀ + b,
 * y += scaling · dropout(x) Aᵀ Bᵀ with A ∈ R^{r×in} (Kaiming-uniform, a = √5, i.e. U(±1/√in)), B = 0,
 * scaling = alpha / r. A and B are `Linear` modules attached to the target as `lora_A` / `lora_B`, so state
 * dict names are PEFT's minus the adapter name (`….query.lora_A.weight`). The adapter also keeps PRILoRA's
 * input statistics, updated in training forward passes only.
 */
import { noGrad } from '../autograd/record.ts';
import { ConfigError } from '../core/errors.ts';
import { hostEffect } from '../core/host-effects.ts';
import { add, mul, sub } from '../ops/elementwise.ts';
import { loraLinear } from '../ops/lora.ts';
import { matmul } from '../ops/matmul.ts';
import { reshape } from '../ops/shape.ts';
import { rand, zeros } from '../tensor/create.ts';
import type { Generator } from '../core/random.ts';
import { keep, tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Dropout, Linear, type LinearDelta } from '../nn/layers.ts';
import { columnNormEma } from './statistics.ts';

/** The token mask ([batch, seq], 1 = real token) of the batch being run, for the input statistics. */
let currentTokenMask: Tensor | null = null;

/** Run `fn` with `mask` as the token mask the adapters' statistics use (padding excluded). */
export function withTokenMask<T>(mask: Tensor | null | undefined, fn: () => T): T {
  const prev = currentTokenMask;
  currentTokenMask = mask ?? null;
  try {
    return fn();
  } finally {
    currentTokenMask = prev;
  }
}

export interface LoraOptions {
  rank: number;
  alpha: number;
  dropout?: number;
  /** draws A's initial values; a fresh model's adapters differ only through this */
  generator: Generator;
  /** EMA decay β of the input statistics (docs/METHOD.md §3); statistics are off when undefined */
  statDecay?: number;
}

export class LoraAdapter implements LinearDelta {
  readonly A: Linear;
  readonly B: Linear;
  readonly dropout: Dropout;
  readonly rank: number;
  readonly alpha: number;
  merged = false;
  /** s ∈ R^in: EMA of the per-feature L2 norm of the input over non-padding tokens */
  readonly stats: Tensor | null;
  readonly statDecay: number | undefined;
  statUpdates = 0;

  constructor(readonly name: string, readonly target: Linear, opts: LoraOptions) {
    if (!Number.isInteger(opts.rank) || opts.rank < 1) throw new ConfigError(`${name}: LoRA rank must be a positive integer, got ${opts.rank}`);
    if (target.child('lora_A')) throw new ConfigError(`${name}: already has a LoRA adapter`);
    const width = Math.min(target.inFeatures, target.outFeatures);
    if (opts.rank > width) throw new ConfigError(`${name}: LoRA rank ${opts.rank} exceeds the layer's width ${width} (${target.inFeatures} → ${target.outFeatures})`);
    this.rank = opts.rank;
    this.alpha = opts.alpha;
    const dtype = target.weight.dtype;
    const backend = target.weight.backend;
    this.A = target.addModule('lora_A', new Linear(target.inFeatures, this.rank, { bias: false, dtype, backend }));
    this.B = target.addModule('lora_B', new Linear(this.rank, target.outFeatures, { bias: false, dtype, backend }));
    this.dropout = target.addModule('lora_dropout', new Dropout(opts.dropout ?? 0));
    this.dropout.training = target.training;
    // PEFT: kaiming_uniform_(A, a=√5) → bound = gain·√(3/fan_in) with gain = √(2/(1+5)), i.e. 1/√in
    const bound = 1 / Math.sqrt(target.inFeatures);
    noGrad(() => {
      this.A.weight.assignFrom(tidy(() => sub(mul(rand(this.A.weight.shape, { dtype, backend, generator: opts.generator }), 2 * bound), bound)));
    });
    this.statDecay = opts.statDecay;
    this.stats = opts.statDecay === undefined ? null : keep(zeros([target.inFeatures], { dtype, backend }));
    target.deltas.push(this);
  }

  get scaling(): number {
    return this.alpha / this.rank;
  }

  delta(x: Tensor): Tensor {
    if (this.target.training && this.stats) this.updateStats(x);
    // scaling applied to the rank-r intermediate: the same product as PEFT's, one pass over [tokens, r]
    // instead of over [tokens, out]
    return this.B.forward(mul(this.A.forward(this.dropout.forward(x)), this.scaling));
  }

  /** The target's output with the branch in it, as one op (ops/lora.ts); null for a 1-d input. */
  fused(x: Tensor, weight: Tensor, bias: Tensor | null, residual: Tensor | null): Tensor | null {
    if (x.ndim < 2) return null;
    if (this.target.training && this.stats) this.updateStats(x);
    return loraLinear(x, weight, bias, { a: this.A.weight, b: this.B.weight, scaling: this.scaling, input: this.dropout.forward(x) }, residual);
  }

  /** s ← β s + (1 − β) ‖X_{:,j}‖₂ over the batch's real tokens (./statistics.ts). */
  private updateStats(x: Tensor): void {
    noGrad(() => {
      const next = tidy(() => {
        const rows = reshape(x, [-1, x.shape[x.ndim - 1]]);
        const mask = currentTokenMask && currentTokenMask.size === rows.shape[0] ? reshape(currentTokenMask, [-1]) : null;
        return columnNormEma(rows, mask, this.stats!, this.statDecay!);
      });
      this.stats!.assignFrom(next);
    });
    hostEffect(() => this.statUpdates++);
  }

  /** W ← W + scaling · B A; the adapter leaves the forward pass until `unmerge`. */
  merge(): void {
    if (this.merged) return;
    this.shiftWeight(+1);
    this.target.deltas.splice(this.target.deltas.indexOf(this), 1);
    this.merged = true;
  }

  unmerge(): void {
    if (!this.merged) return;
    this.shiftWeight(-1);
    this.target.deltas.push(this);
    this.merged = false;
  }

  private shiftWeight(sign: number): void {
    noGrad(() => {
      const w = tidy(() => add(this.target.weight, mul(matmul(this.B.weight, this.A.weight), sign * this.scaling)));
      this.target.weight.assignFrom(w);
    });
  }

  /** Remove the adapter from its target (after merging, this is PEFT's merge_and_unload). */
  detach(): void {
    const i = this.target.deltas.indexOf(this);
    if (i >= 0) this.target.deltas.splice(i, 1);
    for (const n of ['lora_A', 'lora_B', 'lora_dropout']) this.target.removeModule(n);
    this.A.dispose();
    this.B.dispose();
    this.stats?.dispose();
  }

  /** Fraction of A's entries that are exactly zero. */
  async sparsity(): Promise<number> {
    const a = await this.A.weight.data();
    let z = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === 0) z++;
    return z / a.length;
  }
}
