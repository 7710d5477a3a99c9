/**
 * A hyper-parameter sweep on a held-out share of the training set (never dev): every combination of the
 * grids, one `train` run each, results appended to <out>/results.jsonl (so an interrupted sweep resumes)
 * and a table sorted by the task's main metric. This is how the per-task defaults were chosen.
 *
 *   npx tsx scripts/sweep.ts --task sst2 --method prilora --grid lr=5e-4,1e-3,2e-3 --grid batch=32,64 \
 *     [--holdout 0.1] [--set epochs=1] [--set trainLimit=20000] [--seeds 0] [--out runs/sweep]
 *
 * Grid and set keys are TrainOptions paths (`lr`, `epochs`, `adapter.rankStart`, `prune.ratio`, …);
 * values are numbers, true/false, or text.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseGlueTask } from '../src/data/glue-tasks.ts';
import type { TrainInput } from '../src/train/options.ts';
import { train } from '../src/train/trainer.ts';

const { values } = parseArgs({
  options: {
    task: { type: 'string' }, method: { type: 'string', default: 'prilora' }, model: { type: 'string' },
    grid: { type: 'string', multiple: true, default: [] }, set: { type: 'string', multiple: true, default: [] },
    holdout: { type: 'string', default: '0.1' }, seeds: { type: 'string', default: '0' }, out: { type: 'string', default: 'runs/sweep' },
  },
});
if (!values.task) throw new Error('sweep: --task is required');
const task = parseGlueTask(values.task);

const parseValue = (v: string): unknown => (v === 'true' ? true : v === 'false' ? false : Number.isFinite(Number(v)) ? Number(v) : v);
const pair = (s: string): [string, string] => {
  const i = s.indexOf('=');
  if (i < 1) throw new Error(`sweep: expected key=value, got "${s}"`);
  return [s.slice(0, i), s.slice(i + 1)];
};

function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const parts = path.split('.');
  let at = o;
  for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
  at[parts[parts.length - 1]] = v;
}

const grids = values.grid!.map(pair).map(([k, v]) => [k, v.split(',').map(parseValue)] as const);
let combos: Record<string, unknown>[] = [{}];
for (const [k, vs] of grids) combos = combos.flatMap((c) => vs.map((v) => ({ ...c, [k]: v })));
const fixed = Object.fromEntries(values.set!.map(pair).map(([k, v]) => [k, parseValue(v)]));

const out = values.out!;
mkdirSync(out, { recursive: true });
const resultsPath = join(out, 'results.jsonl');
interface Row { task: string; method: string; seed: number; params: Record<string, unknown>; metrics: Record<string, number>; seconds: number; steps: number }
const rows = (): Row[] => (existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const id = (t: string, method: string, seed: number, params: Record<string, unknown>) => JSON.stringify([t, method, seed, params]);

for (const seed of values.seeds!.split(',').map(Number)) {
  for (const combo of combos) {
    const params = { ...fixed, ...combo };
    if (rows().some((r) => id(r.task, r.method, r.seed, r.params) === id(task, values.method!, seed, params))) continue;
    const o: Record<string, unknown> = { task, method: values.method, seed, holdout: Number(values.holdout), model: values.model };
    for (const [k, v] of Object.entries(params)) setPath(o, k, v);
    o.out = join(out, 'runs', `${task}-${values.method}-s${seed}-${Object.entries(params).map(([k, v]) => `${k}=${v}`).join(',').replace(/[^a-z0-9=.,-]+/gi, '_')}`);
    const r = await train(o as TrainInput, { print: () => {} });
    const row: Row = { task, method: values.method!, seed, params, metrics: r.metrics, seconds: r.seconds, steps: r.steps };
    appendFileSync(resultsPath, `${JSON.stringify(row)}\n`);
    console.log(`${JSON.stringify(params)} seed ${seed}: ${JSON.stringify(r.metrics)} (${r.seconds.toFixed(0)} s)`);
  }
}

const mine = rows().filter((r) => r.task === task && r.method === values.method);
const metric = Object.keys(mine[0]?.metrics ?? {})[0];
mine.sort((a, b) => b.metrics[metric] - a.metrics[metric]);
console.log(`\n| params | seed | ${metric} (held-out train) | seconds |\n|---|---|---|---|`);
for (const r of mine) console.log(`| ${JSON.stringify(r.params)} | ${r.seed} | ${(100 * r.metrics[metric]).toFixed(2)} | ${r.seconds.toFixed(0)} |`);
