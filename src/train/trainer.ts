/**
 * Fine-tuning on a GLUE task: the task's rows → batches → the shared step loop (./loop.ts) with AdamW,
 * linear warm-up and decay and PRILoRA pruning on its schedule → dev evaluation each epoch and at the end,
 * with checkpoints, resume, a JSONL log and the HTML report. The options come resolved and checked from
 * ./options.ts; the backend is an object the caller chose (the default backend when absent).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backends/backend.ts';
import { defaultBackend } from '../backends/default.ts';
import { ConfigError } from '../core/errors.ts';
import { Generator } from '../core/random.ts';
import { loadGlueSplit } from '../data/glue.ts';
import { glueTaskSpec, type GlueSplit } from '../data/glue-tasks.ts';
import { Dropout } from '../nn/layers.ts';
import { AdamW } from '../optim/adamw.ts';
import { paramGroups } from '../optim/param-groups.ts';
import { linearWarmupDecay } from '../optim/schedule.ts';
import { withTokenMask } from '../prilora/lora.ts';
import { applyMethod, rankSummary, type MethodSetup } from '../prilora/methods.ts';
import { Pruner, type PruneEvent } from '../prilora/pruner.ts';
import { layerIndex } from '../prilora/targets.ts';
import type { Progress } from './checkpoint.ts';
import { continueAdapter } from './continue.ts';
import { holdoutSplit, type HoldoutSplit } from './holdout.ts';
import { disposeBatch, encodeExamples, epochOrder, labelsOf, makeBatch } from './batches.ts';
import { evaluate } from './evaluate.ts';
import { runSteps } from './loop.ts';
import { StepReplayer } from './replayed-step.ts';
import { claimRunDir } from './run-dir.ts';
import { loadRunModel, recommendations, type RunModel } from './model.ts';
import { trainOptions, warmupSteps, type TrainInput, type TrainOptions } from './options.ts';
import { writeReport } from './report.ts';

export interface TrainHooks {
  /** the device to train on (default: the default backend) */
  backend?: Backend;
  /** called before each step's forward pass (tests poison a parameter here) */
  beforeStep?: (step: number, run: RunModel) => void;
  /** called after each completed step; returning 'stop' ends the run there as a crash would */
  afterStep?: (step: number) => 'stop' | void;
  print?: (line: string) => void;
}

export interface TrainResult {
  options: TrainOptions;
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

/**
 * What a resume must agree on: anything that changes the sequence of updates, except the learning rates,
 * so that a run stopped by a divergence can continue from its last good checkpoint at a lower one.
 */
function fingerprint(o: TrainOptions, backend: Backend): string {
  const { resume: _r, force: _f, out: _o, logEvery: _l, evalEvery: _e, saveEvery: _s, lr: _lr, embeddingLr: _elr, replay: _re, ...rest } = o;
  return JSON.stringify({ ...rest, backend: backend.name });
}

/** Pruning statistics are needed where the pruner reads them (|A|·s); they change no weight otherwise. */
export const keepsStats = (o: TrainOptions): boolean => o.prune.enabled && o.prune.importance === 'weight-times-stat';

/**
 * trainOptions, then what the model directory recommends (its prilora.json) where the input leaves it
 * open. Apart from trainOptions because it reads files: the browser page resolves options without them.
 */
export function resolveTrainOptions(input: TrainInput): TrainOptions {
  const o = trainOptions(input);
  const r = recommendations(o.model);
  if (input.adapter?.modulesToSave === undefined) o.adapter.modulesToSave = r.modulesToSave ?? o.adapter.modulesToSave;
  // the rate belongs to the recommended training of the embeddings: full fine-tuning keeps its own
  if (input.embeddingLr === undefined && o.method !== 'full') o.embeddingLr = r.embeddingLr ?? null;
  return o;
}

export async function train(input: TrainInput, hooks: TrainHooks = {}): Promise<TrainResult> {
  const o = resolveTrainOptions(input);
  claimRunDir(o.out, o);
  const backend = hooks.backend ?? defaultBackend();
  const print = hooks.print ?? ((l: string) => console.log(l));
  const t0 = performance.now();
  const spec = glueTaskSpec(o.task);
  const run = loadRunModel(o.model, spec.numLabels, { backend, seed: o.seed });
  const { model, tokenizer } = run;
  if (o.maxLen > run.maxPositions) throw new ConfigError(`maxLen ${o.maxLen} exceeds the model's max_position_embeddings ${run.maxPositions}`, 'maxLen');
  if (run.randomInit) print(`note: ${run.dir} is a randomly initialised model: expect scores near chance`);
  const { train: trainSet, evaluation, dropped } = runSplits(o, spec.devSplits[0]);
  if (o.holdout !== undefined) print(`held out ${evaluation.length} whole training texts (evaluated instead of dev); ${dropped} training examples inside them dropped`);
  const trainRows = encodeExamples(tokenizer, trainSet.slice(0, o.trainLimit), o.maxLen);
  const devRows = encodeExamples(tokenizer, evaluation.slice(0, o.evalLimit), o.maxLen);
  if (o.dropout !== null) for (const [, m] of model.namedModules()) if (m instanceof Dropout) m.p = o.dropout;
  const perEpoch = Math.ceil(trainRows.length / o.batch);
  const total = Math.min(o.maxSteps ?? Infinity, perEpoch * o.epochs);
  const warmup = warmupSteps(o, total);
  const factor = linearWarmupDecay(warmup, total);

  const setup = o.adapterDir !== undefined
    ? continueAdapter(model, o.adapterDir, keepsStats(o) ? o.adapter.statDecay : undefined)
    : applyMethod(model, o.method, o.adapter, { seed: o.seed, keepStats: keepsStats(o), fresh: run.missing });
  print(rankSummary(setup));
  const trainable = model.countParameters(true);
  const dropout = new Generator(o.seed + 1);
  for (const [, m] of model.namedModules()) if (m instanceof Dropout) m.generator = dropout;
  const embeddingRate = o.embeddingLr === null ? undefined : { match: EMBEDDING_LAYER, lrScale: o.embeddingLr / o.lr };
  const opt = new AdamW(paramGroups(model, o.weightDecay, embeddingRate), { lr: o.lr, betas: [o.beta1, o.beta2], eps: o.eps });
  let pruner: Pruner | null = null;
  if (o.prune.enabled) {
    const window = { start: o.prune.start ?? warmup, end: o.prune.end ?? Math.floor(0.8 * total) };
    if (window.end < window.start) throw new ConfigError(`prune.start: the pruning window [${window.start}, ${window.end}] of this ${total}-step run is empty`, o.prune.start === null ? 'prune.end' : 'prune.start');
    pruner = new Pruner(setup.adapters, { ...o.prune, ...window }, opt);
  }
  writeFileSync(join(o.out, 'run.json'), JSON.stringify({ options: o, backend: backend.name, modelDir: run.dir, totalSteps: total, warmup }, null, 1));

  const lengths = trainRows.map((r) => r.ids.length);
  let order: { epoch: number; batches: number[][] } | null = null;
  const batchesOf = (epoch: number) => {
    if (order?.epoch !== epoch) order = { epoch, batches: epochOrder(trainRows.length, o.batch, o.seed, epoch, o.bucket, lengths) };
    return order.batches;
  };
  const labels = labelsOf(spec.regression, backend);
  const replayer = new StepReplayer([dropout]);
  const loop = await runSteps({
    out: o.out, model, adapters: setup.adapters, opt, clip: o.clip, lr: (s) => o.lr * factor(s), totalSteps: total, epochs: o.epochs,
    batchesIn: (e) => batchesOf(e).length,
    batch: (e, i) => {
      const b = makeBatch(batchesOf(e)[i].map((k) => trainRows[k]), tokenizer.padId, backend, labels, { multiple: o.padTo, max: o.maxLen });
      return { ...b, inputs: [b.inputIds, b.attentionMask, b.tokenTypeIds, b.extra.labels], dispose: () => disposeBatch(b) };
    },
    loss: (b) => withTokenMask(b.attentionMask, () => model.forward({ ...b, labels: b.extra.labels }).loss!),
    evaluate: async () => (await evaluate(model, spec, devRows, { batch: o.batch, padId: tokenizer.padId, backend })) as Record<string, number>,
    evalEvery: o.evalEvery, evalAtEpochEnd: true, saveEvery: o.saveEvery, logEvery: o.logEvery,
    fingerprint: fingerprint(o, backend), resume: o.resume, dropout, print,
    start: { type: 'start', task: o.task, method: o.method, totalSteps: total, trainable, ranks: [...setup.ranks].map(([module, r]) => ({ module, layer: r.layer, rank: r.rank })) },
    afterBackward: () => pruner?.maskGradients(),
    replay: o.replay ? replayer : undefined,
    afterUpdate: async (step) => {
      const pruned = await pruner?.maybePrune(step);
      // the masks pruning sets change what the recorded steps would do
      if (pruned) replayer.invalidate('pruning changed the masks');
      return pruned ? { record: { type: 'prune', ...pruned }, note: `prune at step ${step}: ${perLayer(pruned.modules)}` } : null;
    },
    beforeStep: (step) => hooks.beforeStep?.(step, run),
    afterStep: hooks.afterStep,
  });
  const seconds = (performance.now() - t0) / 1000;
  const metrics = loop.lastEval?.metrics ?? {};
  if (!loop.stopped) {
    loop.log.write({ type: 'end', step: loop.progress.step, metrics, seconds });
    writeReport(join(o.out, 'report.html'), join(o.out, 'log.jsonl'));
  }
  return { options: o, task: o.task, method: o.method, metrics, best: loop.progress.best, trainable, steps: loop.progress.step, seconds, setup, run };
}

/** The embedding layer of BERT and DeBERTa (`bert.embeddings.word_embeddings.weight`, its LayerNorm, …). */
const EMBEDDING_LAYER = /(^|\.)embeddings\./;

/** The examples trained on and evaluated on: train and dev, or train split into two by `holdout` (./holdout.ts). */
export function runSplits(o: TrainOptions, devSplit: GlueSplit): HoldoutSplit {
  const train = loadGlueSplit(o.task, 'train', { dataDir: o.data });
  if (o.holdout === undefined) return { train, evaluation: loadGlueSplit(o.task, devSplit, { dataDir: o.data }), dropped: 0 };
  return holdoutSplit(train, o.holdout);
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
