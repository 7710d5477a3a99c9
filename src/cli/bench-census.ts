/**
 * `bench train-step --census run|dry`: the per-kernel census of one training step (Backend.startCensus):
 * every dispatch under the kernel variant the backend chose and the operands' shapes, with FLOPs, bytes
 * and, where the device has timestamp queries, GPU time. `dry` only chooses and counts kernels (nothing
 * runs, storages are placeholders), so a BERT-base step at batch 32 × 128 can be counted on any device.
 */
import type { Backend, CensusReport, CensusRow } from '../backends/backend.ts';
import { ConfigError } from '../core/errors.ts';
import { resolve, type Given } from '../core/spine.ts';
import { buildTrainStep, TRAIN_STEP_SPINE } from './bench-train.ts';

export type CensusMode = 'off' | 'run' | 'dry';

/** One step counted (after one uncounted step: first-step work such as moment allocation is left out). */
export async function trainStepCensus(given: Given<typeof TRAIN_STEP_SPINE>, backend: Backend, mode: 'run' | 'dry'): Promise<CensusReport> {
  if (!backend.startCensus || !backend.stopCensus) throw new ConfigError(`census: backend ${backend.name} does not count its kernels`, 'census');
  resolve(TRAIN_STEP_SPINE, given);
  const dryRun = mode === 'dry';
  if (dryRun) backend.startCensus({ dryRun });
  let open = dryRun;
  try {
    const work = buildTrainStep(given, backend);
    try {
      work.step();
      await backend.idle?.();
      backend.startCensus({ dryRun, timestamps: true });
      open = true;
      work.step();
      open = false;
      return await backend.stopCensus();
    } finally {
      // placeholders may be freed after the dry run ends; nothing else runs on them
      work.dispose();
    }
  } finally {
    if (open) await backend.stopCensus();
  }
}

const fmt = (x: number, digits = 1): string => (x === 0 ? '0' : x.toFixed(digits));

/** The census as a Markdown table, rows by FLOPs (then count), with a total line. */
export function censusTable(r: CensusReport): string[] {
  const rows = [...r.rows].sort((a, b) => b.flops - a.flops || b.count - a.count);
  const flops = rows.reduce((s, x) => s + x.flops, 0);
  const timed = r.timing !== 'none';
  const seconds = rows.reduce((s, x) => s + (x.seconds ?? 0), 0);
  const line = (x: CensusRow) =>
    `| ${x.kernel} | ${x.shape} | ${x.count} | ${fmt(x.flops / 1e9, 2)} | ${fmt(flops ? (100 * x.flops) / flops : 0)} | ${fmt(x.bytes / 2 ** 20)}` +
    `${timed ? ` | ${fmt((x.seconds ?? 0) * 1000, 3)}` : ''} |`;
  return [
    `| kernel | shapes | count | GFLOP | % FLOPs | MiB moved${timed ? ' | GPU ms' : ''} |`,
    `| --- | --- | --- | --- | --- | ---${timed ? ' | ---' : ''} |`,
    ...rows.map(line),
    `| **total** | ${rows.length} kernel/shape rows | ${r.dispatches} | ${fmt(flops / 1e9, 2)} | 100 | ${fmt(rows.reduce((s, x) => s + x.bytes, 0) / 2 ** 20)}${timed ? ` | ${fmt(seconds * 1000, 3)}` : ''} |`,
  ];
}
