/** Learning-rate schedules as factors of the base rate, indexed by optimiser step (0-based). */

/**
 * transformers' get_linear_schedule_with_warmup: linear from 0 to 1 over `warmup` steps, then linear
 * down to 0 at `total`. Step k (the k-th optimiser step, from 0) uses factor(k).
 */
export function linearWarmupDecay(warmup: number, total: number): (step: number) => number {
  return (step) => {
    if (step < warmup) return step / Math.max(1, warmup);
    return Math.max(0, (total - step) / Math.max(1, total - warmup));
  };
}
