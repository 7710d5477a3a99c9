/**
 * Regenerates the README's GLUE comparison: full fine-tuning, LoRA r = 8 and PRILoRA 4→12 on CoLA,
 * SST-2, MRPC, STS-B and RTE, several seeds each (mean ± std), plus the PRILoRA ablations (linear ranks
 * only: no pruning; pruning only: uniform ranks 8 with pruning).
 *
 *   npx tsx scripts/glue-table.ts [--model DIR] [--seeds 0,1,2] [--tasks cola,sst2,mrpc,stsb,rte]
 *                                 [--train-limit N] [--epochs N] [--out runs/glue-table] [--threads N]
 *                                 [--variants full,prilora 4→12] [--ablation sst2,cola] [--table-only]
 *
 * The README's table: `npx tsx scripts/glue-table.ts` (full training sets, the per-task defaults), with a
 * trivial row (the training split's majority class, or mean) and the bag-of-words anchor of bench/bow.
 *
 * Each run is `prilora train` with the same flags; results go to <out>/results.jsonl (one line per run,
 * appended, so an interrupted table resumes where it stopped; processes given different --tasks or
 * --seeds may share it) and the table, over every finished run of the listed tasks, to <out>/table.md.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadGlueSplit } from '../src/data/glue.ts';
import { glueTaskSpec, type GlueTask } from '../src/data/glue-tasks.ts';
import { glueMetrics } from '../src/data/metrics.ts';
import type { TrainInput } from '../src/train/options.ts';
import { cpuBackend } from '../src/backends/cpu/index.ts';
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
    'train-limit': { type: 'string' }, epochs: { type: 'string' }, out: { type: 'string', default: 'runs/glue-table' }, ablation: { type: 'string', default: 'cola,sst2,mrpc,stsb,rte' },
    threads: { type: 'string' }, variants: { type: 'string' }, 'table-only': { type: 'boolean', default: false },
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
  // the adapters with the classifier (and a fresh pooler) alone, without the model's recommended modules
  'lora r=8 (head only)': { method: 'lora', adapter: { rank: 8, modulesToSave: ['classifier'] } },
  'prilora 4→12 (head only)': { method: 'prilora', adapter: { rankStart: 4, rankEnd: 12, modulesToSave: ['classifier'] } },
};
const tasks = values.tasks!.split(',') as GlueTask[];
const seeds = values.seeds!.split(',').map(Number);
// two processes of one thread each beat one of two threads on 2 cores (no fork-join between kernels)
if (values.threads) cpuBackend().setThreads(Number(values.threads));
const only = values.variants?.split(',');

for (const task of values['table-only'] ? [] : tasks) {
  for (const [variant, v] of Object.entries(VARIANTS)) {
    if (/ only$/.test(variant) && !values.ablation!.split(',').includes(task)) continue;
    if (only && !only.includes(variant)) continue;
    for (const seed of seeds) {
      if (finished().some((r) => key(r.variant, r.task, r.seed) === key(variant, task, seed))) continue;
      const o: TrainInput = {
        task,
        ...v,
        seed,
        model: values.model,
        // a directory without a result here is an interrupted or stale run: start it again
        out: join(out, `${task}-${variant.replace(/[^a-z0-9]+/gi, '_')}-s${seed}`), force: true,
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
const stat = (xs: number[], scale = 100, digits = 1) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(scale * m).toFixed(digits)} ± ${(scale * sd).toFixed(digits)}`;
};
const mainMetric: Record<string, string> = { cola: 'mcc', sst2: 'accuracy', mrpc: 'f1', stsb: 'pearson', rte: 'accuracy', qnli: 'accuracy', mnli: 'accuracy', qqp: 'f1', wnli: 'accuracy' };
const variants = Object.keys(VARIANTS).filter((v) => done.some((r) => r.variant === v));
const cellsOf = (v: string, f: (xs: Row[]) => string) => tasks.map((t) => {
  const rs = done.filter((r) => r.variant === v && r.task === t);
  return rs.length ? f(rs) : '—';
});

/** Predicting the training split's most frequent class (regression: its mean), scored on dev. */
function trivialRow(): string {
  const cells = tasks.map((t) => {
    const spec = glueTaskSpec(t);
    const train = loadGlueSplit(t, 'train');
    const dev = loadGlueSplit(t, spec.devSplits[0]);
    let guess: number;
    if (spec.regression) guess = train.reduce((s, e) => s + e.label, 0) / train.length;
    else {
      const counts = new Map<number, number>();
      for (const e of train) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
      guess = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    }
    const m = glueMetrics(t, dev.map(() => guess), dev.map((e) => e.label)) as Record<string, number>;
    const v = m[mainMetric[t]];
    return Number.isFinite(v) ? (100 * v).toFixed(1) : '0.0';
  });
  return `| trivial (train majority class / mean) | 0 | ${cells.join(' | ')} |`;
}

/** The bag-of-words anchor (bench/bow/baseline.ts), when its results file is there. */
function bowRow(): string | null {
  const file = join(import.meta.dirname, '../bench/bow/results.json');
  if (!existsSync(file)) return null;
  const rows = (JSON.parse(readFileSync(file, 'utf8')) as { rows: { task: string; metrics: Record<string, number> }[] }).rows;
  const cells = tasks.map((t) => {
    const r = rows.find((x) => x.task === t);
    return r ? (100 * r.metrics[mainMetric[t]]).toFixed(1) : '—';
  });
  return `| bag-of-words (uni+bigram LR, bench/bow) | — | ${cells.join(' | ')} |`;
}

const head = `| variant | trainable | ${tasks.map((t) => `${t} (${mainMetric[t]})`).join(' | ')} |`;
const rule = `|---|---|${tasks.map(() => '---').join('|')}|`;
const lines = [
  head, rule,
  ...variants.map((v) => {
    const params = [...new Set(done.filter((r) => r.variant === v).map((r) => r.trainable))].map((n) => n.toLocaleString('en')).join(' / ');
    return `| ${v} | ${params} | ${cellsOf(v, (rs) => `${stat(rs.map((r) => r.metrics[mainMetric[r.task]]))} (n=${rs.length})`).join(' | ')} |`;
  }),
  ...[bowRow()].filter((x): x is string => x !== null),
  trivialRow(),
  '',
  `| wall time per run (s) | | ${tasks.join(' | ')} |`,
  rule,
  ...variants.map((v) => `| ${v} | | ${cellsOf(v, (rs) => stat(rs.map((r) => r.seconds), 1, 0)).join(' | ')} |`),
];
writeFileSync(join(out, 'table.md'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
