/**
 * PRILoRA's pruning of A (docs/METHOD.md §4): importance I_ij = |A_ij| · s_j (or |A_ij| alone, for the
 * ablation); on its schedule, in every row of A the ⌊ratio · cols⌋ entries of lowest importance are zeroed,
 * ties going to the lower column index. `temporary` lets pruned entries regrow; `permanent` keeps a mask
 * that also zeroes their gradients and optimiser moments.
 */
import { noGrad } from '../autograd/record.ts';
import { mul } from '../ops/elementwise.ts';
import { tensor } from '../tensor/create.ts';
import type { AdamW } from '../optim/adamw.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { LoraAdapter } from './lora.ts';
import type { Importance, PruneMode } from './options.ts';

/** The pruning settings with the window resolved to steps (the trainer fills in the automatic ends). */
export interface PruneOptions {
  every: number;
  start: number;
  end: number;
  ratio: number;
  mode: PruneMode;
  importance: Importance;
}

/** Whether step (1-based count of optimiser steps taken) is a pruning step. */
export function isPruneStep(step: number, o: Pick<PruneOptions, 'every' | 'start' | 'end'>): boolean {
  return step >= o.start && step <= o.end && step % o.every === 0;
}

/**
 * Keep-mask (1 keep, 0 prune) for a row-major [rows, cols] matrix: in each row the ⌊ratio·cols⌋ entries of
 * lowest importance |a|·s (|a| when `stats` is null), ties broken by lower column index first.
 */
export function pruneMask(a: ArrayLike<number>, rows: number, cols: number, stats: ArrayLike<number> | null, ratio: number): Uint8Array {
  const k = Math.floor(ratio * cols);
  const mask = new Uint8Array(rows * cols).fill(1);
  const order = new Array<number>(cols);
  const imp = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      imp[j] = Math.abs(a[r * cols + j]) * (stats ? stats[j] : 1);
      order[j] = j;
    }
    order.sort((x, y) => imp[x] - imp[y] || x - y);
    for (let i = 0; i < k; i++) mask[r * cols + order[i]] = 0;
  }
  return mask;
}

export interface PruneEvent {
  step: number;
  /** per adapter: its rank, A's sparsity just before this pruning (regrowth shows here) and after it */
  modules: { name: string; rank: number; sparsityBefore: number; sparsity: number }[];
}

export class Pruner {
  constructor(
    readonly adapters: readonly LoraAdapter[],
    readonly opts: PruneOptions,
    readonly optimizer: AdamW | null,
  ) {
  }

  /** Prune if `step` is on the schedule; returns what it did (null otherwise). */
  async maybePrune(step: number): Promise<PruneEvent | null> {
    if (!isPruneStep(step, this.opts)) return null;
    const modules: PruneEvent['modules'] = [];
    for (const ad of this.adapters) {
      const w = ad.A.weight;
      const [rows, cols] = w.shape;
      const sparsityBefore = await ad.sparsity();
      const a = await w.data();
      const s = this.opts.importance === 'weight-times-stat' && ad.stats ? await ad.stats.data() : null;
      const fresh = pruneMask(a, rows, cols, s, this.opts.ratio);
      const old = this.opts.mode === 'permanent' ? this.optimizer?.mask(w) : undefined;
      const keepMask = tensor(Float64Array.from(fresh), { shape: [rows, cols], dtype: w.dtype, backend: w.backend });
      if (old) {
        const both = noGrad(() => mul(keepMask, old));
        keepMask.dispose();
        this.applyMask(ad, both);
      } else {
        this.applyMask(ad, keepMask);
      }
      modules.push({ name: ad.name, rank: ad.rank, sparsityBefore, sparsity: await ad.sparsity() });
    }
    return { step, modules };
  }

  private applyMask(ad: LoraAdapter, mask: Tensor): void {
    const w = ad.A.weight;
    if (this.opts.mode === 'permanent' && this.optimizer) {
      this.optimizer.setMask(w, mask); // takes the mask; zeroes A and its moments now and after every update
      return;
    }
    noGrad(() => {
      w.assignFrom(mul(w, mask));
    });
    mask.dispose();
  }

  /** Permanent mode: zero the gradients of pruned entries (call after backward, before clipping). */
  maskGradients(): void {
    if (this.opts.mode !== 'permanent' || !this.optimizer) return;
    noGrad(() => {
      for (const ad of this.adapters) {
        const g = ad.A.weight.grad;
        const m = this.optimizer!.mask(ad.A.weight);
        if (!g || !m) continue;
        g.assignFrom(mul(g, m));
      }
    });
  }
}
