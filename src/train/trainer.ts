/**
 * The fine-tuning loop: GLUE task → batches → forward/backward → clipping → AdamW with linear warm-up and
 * decay → PRILoRA pruning on its schedule → dev evaluation each epoch and at the end, with checkpoints,
 * resume, a JSONL log and the HTML report. A non-finite loss or gradient stops the run with a message
 * and leaves the last good checkpoint untouched.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../backends/backend.ts';
import { loadGlueSplit } from '../data/glue.ts';
import { glueTaskSpec } from '../data/glue-tasks.ts';
import { PriloraError } from '../errors.ts';
import { Dropout } from '../nn/layers.ts';
import { AdamW, clipGradNorm } from '../optim/adamw.ts';
import { linearWarmupDecay } from '../optim/schedule.ts';
import { withTokenMask } from '../prilora/lora.ts';
import { applyMethod, paramGroups, rankSummary, type MethodSetup } from '../prilora/methods.ts';
import { Pruner, type PruneEvent } from '../prilora/pruner.ts';
import { layerIndex } from '../prilora/targets.ts';
import { Generator } from '../tensor/random.ts';
import { beginScope } from '../tensor/scope.ts';
import { epochOrder, encodeExamples, disposeBatch, makeBatch } from './batches.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type Progress } from './checkpoint.ts';
import { evaluate } from './evaluate.ts';
import { RunLog, progressSink, type LogRecord } from './log.ts';
import { loadRunModel, type RunModel } from './model.ts';
import { REFERENCE, checkOptions, warmupSteps, type TrainOptions } from './options.ts';
import { writeReport } from './report.ts';

/** Training stopped on a non-finite loss or gradient. */
export class NonFiniteError extends PriloraError {}

export interface TrainHooks {
  /** called before each step's forward pass (tests poison a parameter here) */
  beforeStep?: (step: number, run: RunModel) => void;
  /** called after each completed step; returning 'stop' ends the run there as a crash would */
  afterStep?: (step: number) => 'stop' | void;
  print?: (line: string) => void;
}

export interface TrainResult {
  task: string;
  method: string;
  metrics: Record<string, number>;
  best: Progress['best'];
  trainable: number;
  steps: number;
  seconds: number;
  setup: MethodSetup;
  run: RunModel;
}

/** What a resume must agree on: anything that changes the sequence of updates. */
function fingerprint(o: TrainOptions): string {
  const { resume: _r, out: _o, logEvery: _l, evalEvery: _e, saveEvery: _s, ...rest } = o;
  return JSON.stringify(rest);
}

const mainMetric = (m: Record<string, number>): [string, number] => Object.entries(m)[0];

export async function train(o: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  checkOptions(o);
  const print = hooks.print ?? ((l: string) => console.log(l));
  const t0 = performance.now();
  await initBackend(o.backend);
  const spec = glueTaskSpec(o.task);
  const run = loadRunModel(o.model, spec.numLabels, { backend: o.backend, seed: o.seed });
  const { model, tokenizer } = run;
  if (run.randomInit) print(`note: ${run.dir} is a randomly initialised model: expect scores near chance`);
  const trainRows = encodeExamples(tokenizer, loadGlueSplit(o.task, 'train', { dataDir: o.data }).slice(0, o.trainLimit), o.maxLen);
  const devRows = encodeExamples(tokenizer, loadGlueSplit(o.task, spec.devSplits[0], { dataDir: o.data }).slice(0, o.evalLimit), o.maxLen);
  const perEpoch = Math.ceil(trainRows.length / o.batch);
  const total = Math.min(o.maxSteps ?? Infinity, perEpoch * o.epochs);
  const warmup = warmupSteps(o, total, REFERENCE[o.task].warmup);
  const factor = linearWarmupDecay(warmup, total);

  const setup = applyMethod(model, o.method, {
    rank: o.rank, alpha: o.alpha, rankStart: o.rankStart, rankEnd: o.rankEnd, alphaPerRank: o.alphaPerRank,
    dropout: o.loraDropout, statDecay: o.statDecay, seed: o.seed,
  });
  print(rankSummary(setup));
  const trainable = model.countParameters(true);
  const dropoutGen = new Generator(o.seed + 1);
  for (const [, m] of model.namedModules()) if (m instanceof Dropout) m.generator = dropoutGen;
  const opt = new AdamW(paramGroups(model, o.weightDecay), { lr: o.lr, betas: o.betas, eps: o.eps });
  const pruner = o.method === 'prilora' && o.prune
    ? new Pruner(setup.adapters, {
        every: o.pruneEvery, start: o.pruneStart ?? warmup, end: o.pruneEnd ?? Math.floor(0.8 * total), ratio: o.pruneRatio,
        mode: o.pruneMode, importance: o.importance,
      }, opt)
    : null;

  mkdirSync(o.out, { recursive: true });
  const ckptDir = join(o.out, 'checkpoint');
  const log = new RunLog(join(o.out, 'log.jsonl'));
  const fp = fingerprint(o);
  let progress: Progress = { step: 0, epoch: 0, batchInEpoch: 0, dropoutOffset: 0, best: null, logLines: 0, fingerprint: fp };
  if (o.resume && hasCheckpoint(ckptDir)) {
    progress = loadCheckpoint(ckptDir, model, setup.adapters, opt, fp);
    dropoutGen.offset = progress.dropoutOffset;
    log.open(progress.logLines);
    print(`resumed from ${ckptDir} at step ${progress.step}`);
  } else {
    log.open(null);
    log.write({ type: 'start', task: o.task, method: o.method, totalSteps: total, trainable, ranks: [...setup.ranks].map(([module, r]) => ({ module, layer: r.layer, rank: r.rank })) });
  }
  writeFileSync(join(o.out, 'run.json'), JSON.stringify({ options: o, modelDir: run.dir, totalSteps: total, warmup }, null, 1));

  const save = async () => {
    progress.dropoutOffset = dropoutGen.offset;
    progress.logLines = log.lines;
    await saveCheckpoint(ckptDir, model, setup.adapters, opt, progress);
  };
  const evalNow = async (): Promise<Record<string, number>> => {
    const metrics = await evaluate(model, spec, devRows, { batch: o.batch, padId: tokenizer.padId, backend: o.backend });
    log.write({ type: 'eval', step: progress.step, epoch: progress.epoch, metrics: metrics as Record<string, number> });
    const [name, value] = mainMetric(metrics as Record<string, number>);
    sink.note(`eval at step ${progress.step}: ${Object.entries(metrics).map(([k, v]) => `${k} ${(v as number).toFixed(4)}`).join(', ')}`);
    if (!progress.best || value > progress.best.value) progress.best = { metric: name, value, step: progress.step };
    return metrics as Record<string, number>;
  };

  const lengths = trainRows.map((r) => r.ids.length);
  const sink = progressSink(total, progress.step, o.logEvery, print);
  let lastEval: { step: number; metrics: Record<string, number> } | null = null;
  let stopped = false;
  model.train();
  try {
    while (!stopped && progress.epoch < o.epochs && progress.step < total) {
      const order = epochOrder(trainRows.length, o.batch, o.seed, progress.epoch, o.bucket, lengths);
      while (!stopped && progress.batchInEpoch < order.length && progress.step < total) {
        const tStep = performance.now();
        const batch = makeBatch(order[progress.batchInEpoch].map((i) => trainRows[i]), spec.regression, tokenizer.padId, { backend: o.backend });
        const step = progress.step + 1;
        hooks.beforeStep?.(step, run);
        const lr = o.lr * factor(progress.step);
        const scope = beginScope();
        const loss = withTokenMask(batch.attentionMask, () => model.forward({ ...batch, labels: batch.labels }).loss!);
        const lossValue = (await loss.data())[0];
        if (!Number.isFinite(lossValue)) throw nonFinite('loss', step, lossValue, ckptDir, progress);
        loss.backward();
        pruner?.maskGradients();
        const norm = (await clipGradNorm(opt.params, o.clip).data())[0];
        if (!Number.isFinite(norm)) throw nonFinite('gradient norm', step, norm, ckptDir, progress);
        opt.update(lr);
        opt.zeroGrad();
        scope.end();
        disposeBatch(batch);
        progress.step = step;
        progress.batchInEpoch++;
        const seconds = (performance.now() - tStep) / 1000;
        log.write({ type: 'step', step, epoch: progress.epoch, loss: lossValue, lr, gradNorm: norm, seqPerS: batch.size / seconds, seconds });
        sink.update(step, { loss: lossValue, seqPerS: batch.size / seconds });
        const pruned = await pruner?.maybePrune(step);
        if (pruned) {
          log.write({ type: 'prune', ...pruned });
          sink.note(`prune at step ${step}: ${perLayer(pruned.modules)}`);
        }
        if (o.evalEvery && step % o.evalEvery === 0) lastEval = { step, metrics: await evalNow() };
        if (step % o.saveEvery === 0) await save();
        stopped = hooks.afterStep?.(step) === 'stop';
      }
      if (!stopped && progress.batchInEpoch >= order.length) {
        if (lastEval?.step !== progress.step) lastEval = { step: progress.step, metrics: await evalNow() };
        progress.epoch++;
        progress.batchInEpoch = 0;
        await save();
      }
    }
    if (!stopped && lastEval?.step !== progress.step) lastEval = { step: progress.step, metrics: await evalNow() };
    if (!stopped) await save();
  } finally {
    sink.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const metrics = lastEval?.metrics ?? {};
  if (!stopped) {
    log.write({ type: 'end', step: progress.step, metrics, seconds });
    writeReport(join(o.out, 'report.html'), join(o.out, 'log.jsonl'));
  }
  return { task: o.task, method: o.method, metrics, best: progress.best, trainable, steps: progress.step, seconds, setup, run };
}

function nonFinite(what: string, step: number, value: number, ckptDir: string, p: Progress): NonFiniteError {
  const where = p.step > 0 ? `the last good checkpoint (${ckptDir}, saved at or before step ${p.step}) is intact` : 'no checkpoint was written';
  return new NonFiniteError(`step ${step}: ${what} is ${value}; training stopped, ${where}`);
}

/** "layer 0 r=4 A-sparsity 31%→50%, layer 1 r=12 …": rank and mean sparsity before → after, per layer. */
function perLayer(mods: PruneEvent['modules']): string {
  const layers = new Map<string, { rank: number; before: number; after: number; n: number }>();
  for (const m of mods) {
    const key = layerIndex(m.name)?.toString() ?? '-';
    const e = layers.get(key) ?? { rank: m.rank, before: 0, after: 0, n: 0 };
    e.before += m.sparsityBefore;
    e.after += m.sparsity;
    e.n++;
    layers.set(key, e);
  }
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  return [...layers].map(([l, e]) => `layer ${l} r=${e.rank} A-sparsity ${pct(e.before / e.n)}→${pct(e.after / e.n)}`).join(', ');
}

export type { LogRecord };
