/** Rank allocation across layers: PRILoRA's linear increase, and the uniform allocation of plain LoRA. */
import { ConfigError } from '../core/errors.ts';

/**
 * r_l = round(r_start + (r_end − r_start) · l / (L − 1)) for layers l = 0 … L−1 (docs/METHOD.md §2), rounded
 * half away from zero. A one-layer model gets the mean of the endpoints (rounded), the only choice that
 * keeps the trainable budget of the schedule.
 */
export function linearRanks(numLayers: number, rankStart: number, rankEnd: number): number[] {
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new ConfigError(`rank schedule: numLayers must be a positive integer, got ${numLayers}`);
  for (const [n, v] of [['rankStart', rankStart], ['rankEnd', rankEnd]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`rank schedule: ${n} must be a positive integer, got ${v}`);
  }
  if (numLayers === 1) return [roundHalfAway((rankStart + rankEnd) / 2)];
  return Array.from({ length: numLayers }, (_, l) => roundHalfAway(rankStart + ((rankEnd - rankStart) * l) / (numLayers - 1)));
}

export function uniformRanks(numLayers: number, rank: number): number[] {
  return linearRanks(numLayers, rank, rank);
}

function roundHalfAway(x: number): number {
  // the 1e-9 guards against l/(L−1) products like 4.4999999999 that are halves in exact arithmetic
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5 + 1e-9);
}
