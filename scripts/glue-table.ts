/**
 * Regenerates the README's GLUE comparison: full fine-tuning, LoRA r = 8 and PRILoRA 4→12 on CoLA,
 * SST-2, MRPC, STS-B and RTE, several seeds each (mean ± std), plus the PRILoRA ablation (linear ranks
 * only: no pruning; pruning only: uniform ranks 8 with pruning) on one task.
 *
 *   npx tsx scripts/glue-table.ts [--model DIR] [--seeds 0,1,2] [--tasks cola,sst2,mrpc,stsb,rte]
 *                                 [--train-limit N] [--epochs N] [--out runs/glue-table]
 *
 * The README's table: `npx tsx scripts/glue-table.ts --train-limit 4000 --epochs 2`.
 *
 * Each run is `prilora train` with the same flags; results go to <out>/results.jsonl (one line per run,
 * appended, so an interrupted table resumes where it stopped; processes given different --tasks or
 * --seeds may share it) and the table, over every finished run of the listed tasks, to <out>/table.md.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { GlueTask } from '../src/data/glue-tasks.ts';
import type { TrainInput } from '../src/train/options.ts';
import { train } from '../src/train/trainer.ts';

interface Row {
  variant: string;
  task: string;
  seed: number;
  metrics: Record<string, number>;
  trainable: number;
  seconds: number;
}

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, seeds: { type: 'string', default: '0,1,2' }, tasks: { type: 'string', default: 'cola,sst2,mrpc,stsb,rte' },
    'train-limit': { type: 'string' }, epochs: { type: 'string' }, out: { type: 'string', default: 'runs/glue-table' }, ablation: { type: 'string', default: 'sst2' },
  },
});
const out = values.out!;
mkdirSync(out, { recursive: true });
const resultsPath = join(out, 'results.jsonl');
const key = (v: string, t: string, s: number) => `${v}|${t}|${s}`;
/** Finished runs, first result per run: several processes may share an out dir (e.g. one per task). */
function finished(): Row[] {
  const rows = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row) : [];
  const seen = new Set<string>();
  return rows.filter((r) => !seen.has(key(r.variant, r.task, r.seed)) && seen.add(key(r.variant, r.task, r.seed)));
}

/** The compared variants: methods and the two ablations of PRILoRA's mechanisms. */
const VARIANTS: Record<string, Omit<TrainInput, 'task'>> = {
  full: { method: 'full' },
  'lora r=8': { method: 'lora', adapter: { rank: 8 } },
  'prilora 4→12': { method: 'prilora', adapter: { rankStart: 4, rankEnd: 12 } },
  'linear ranks only': { method: 'prilora', adapter: { rankStart: 4, rankEnd: 12 }, prune: { enabled: false } },
  'pruning only': { method: 'lora', adapter: { rank: 8 }, prune: { enabled: true } },
};
const tasks = values.tasks!.split(',') as GlueTask[];
const seeds = values.seeds!.split(',').map(Number);

for (const task of tasks) {
  for (const [variant, v] of Object.entries(VARIANTS)) {
    if (variant.includes('only') && task !== values.ablation) continue;
    for (const seed of seeds) {
      if (finished().some((r) => key(r.variant, r.task, r.seed) === key(variant, task, seed))) continue;
      const o: TrainInput = {
        task,
        ...v,
        seed,
        model: values.model,
        out: join(out, `${task}-${variant.replace(/[^a-z0-9]+/gi, '_')}-s${seed}`),
        ...(values['train-limit'] ? { trainLimit: Number(values['train-limit']) } : {}),
        ...(values.epochs ? { epochs: Number(values.epochs) } : {}),
      };
      const r = await train(o, { print: () => {} });
      const row: Row = { variant, task, seed, metrics: r.metrics, trainable: r.trainable, seconds: r.seconds };
      appendFileSync(resultsPath, `${JSON.stringify(row)}\n`);
      console.log(`${task} ${variant} seed ${seed}: ${JSON.stringify(r.metrics)} (${r.seconds.toFixed(0)} s)`);
    }
  }
}

const done = finished();
const stat = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
};
const mainMetric: Record<string, string> = { cola: 'mcc', sst2: 'accuracy', mrpc: 'f1', stsb: 'pearson', rte: 'accuracy', qnli: 'accuracy', mnli: 'accuracy', qqp: 'f1', wnli: 'accuracy' };
const variants = Object.keys(VARIANTS).filter((v) => done.some((r) => r.variant === v));
const lines = [
  `| variant | trainable | ${tasks.map((t) => `${t} (${mainMetric[t]})`).join(' | ')} |`,
  `|---|---|${tasks.map(() => '---').join('|')}|`,
  ...variants.map((v) => {
    const rows = done.filter((r) => r.variant === v);
    const cells = tasks.map((t) => {
      const xs = rows.filter((r) => r.task === t).map((r) => r.metrics[mainMetric[t]]);
      return xs.length ? `${stat(xs)} (n=${xs.length})` : '—';
    });
    const params = [...new Set(rows.map((r) => r.trainable))].map((n) => n.toLocaleString('en')).join(' / ');
    return `| ${v} | ${params} | ${cells.join(' | ')} |`;
  }),
];
writeFileSync(join(out, 'table.md'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
