/**
 * One fine-tuning run inside the worker, built from the library's own pieces so that the page trains
 * exactly as `prilora train` does: the options checked by the trainer's spine (trainOptions), the method
 * attached by applyMethod, AdamW with the trainer's parameter groups and warm-up/decay, PRILoRA's Pruner on
 * the trainer's window (end of warm-up to 80 % of the run), the shared optimiser step (train/step.ts),
 * batches, evaluation, predictions and the PEFT export. What differs is only what a browser lacks: no run
 * directory, log file or checkpoints, and the loop is driven step by step by the worker so it can pause.
 */
import type { Backend } from '../../../src/backends/backend.ts';
import { NonFiniteError } from '../../../src/core/errors.ts';
import { Generator } from '../../../src/core/random.ts';
import { glueTaskSpec } from '../../../src/data/glue-tasks.ts';
import type { GlueExample } from '../../../src/data/glue.ts';
import { sequenceClassifierFromCheckpoint, type SequenceClassifier } from '../../../src/nn/auto.ts';
import { Dropout } from '../../../src/nn/layers.ts';
import { setNumLabels } from '../../../src/nn/pretrained.ts';
import { AdamW } from '../../../src/optim/adamw.ts';
import { paramGroups } from '../../../src/optim/param-groups.ts';
import { linearWarmupDecay } from '../../../src/optim/schedule.ts';
import { withTokenMask } from '../../../src/prilora/lora.ts';
import { applyMethod, rankSummary, type MethodSetup } from '../../../src/prilora/methods.ts';
import { peftFiles } from '../../../src/prilora/peft.ts';
import { Pruner, type PruneEvent } from '../../../src/prilora/pruner.ts';
import { layerIndex } from '../../../src/prilora/targets.ts';
import { disposeBatch, encodeExamples, epochOrder, labelsOf, makeBatch, type Encoded, type TokenRow } from '../../../src/train/batches.ts';
import { evaluate } from '../../../src/train/evaluate.ts';
import { trainOptions, warmupSteps, type TrainInput, type TrainOptions } from '../../../src/train/options.ts';
import { logitsOf, softmax } from '../../../src/train/predict.ts';
import { optimizerStep } from '../../../src/train/step.ts';
import type { ModelFiles } from './assets.ts';
import type { ModuleCell, Prediction, RunSettings } from './protocol.ts';

const SPEC = glueTaskSpec('sst2');
/** SST-2's classes are stored as 0 / 1; a person reads these */
const LABELS = ['negative', 'positive'];

/** The trainer's options for these settings: only what the method uses is passed, as the CLI refuses the rest. */
export function runOptions(s: RunSettings, perEpoch: number): TrainOptions {
  const adapter = s.method === 'lora' ? { rank: s.rank } : s.method === 'prilora' ? { rankStart: s.rankStart, rankEnd: s.rankEnd } : undefined;
  const prune = s.method === 'full' ? { enabled: false } : { enabled: s.prune, ratio: s.pruneRatio, every: s.pruneEvery };
  const input: TrainInput = {
    task: 'sst2', method: s.method, lr: s.lr, batch: s.batch, maxLen: s.maxLen, maxSteps: s.steps, seed: s.seed,
    epochs: Math.max(1, Math.ceil(s.steps / perEpoch)), trainLimit: s.trainLimit, evalLimit: s.evalLimit, adapter, prune,
  };
  return trainOptions(input);
}

export interface StepResult {
  step: number;
  epoch: number;
  loss: number;
  gradNorm: number;
  lr: number;
  size: number;
  seconds: number;
  pruned: PruneEvent | null;
}

export class Run {
  readonly model: SequenceClassifier;
  readonly setup: MethodSetup;
  readonly opt: AdamW;
  readonly pruner: Pruner | null;
  readonly total: number;
  readonly warmup: number;
  readonly cells: ModuleCell[];
  readonly trainable: number;
  step = 0;
  private epoch = 0;
  private batchInEpoch = 0;
  private order: { epoch: number; batches: number[][] } | null = null;
  private readonly lrAt: (step: number) => number;
  private readonly lengths: number[];
  private readonly padId: number;

  constructor(
    files: ModelFiles,
    private readonly trainRows: Encoded[],
    private readonly devRows: Encoded[],
    readonly o: TrainOptions,
    private readonly backend: Backend,
  ) {
    this.padId = files.tokenizer.padId;
    const json = structuredClone(files.config);
    setNumLabels(json, SPEC.numLabels);
    const maxPositions = Number(json.max_position_embeddings ?? 512);
    if (o.maxLen > maxPositions) throw new Error(`maxLen ${o.maxLen} exceeds the model's max_position_embeddings ${maxPositions}`);
    const loaded = sequenceClassifierFromCheckpoint(json, files.weights, { backend, seed: o.seed });
    this.model = loaded.model;
    this.total = o.maxSteps!;
    this.warmup = warmupSteps(o, this.total);
    const factor = linearWarmupDecay(this.warmup, this.total);
    this.lrAt = (s) => o.lr * factor(s);
    const keepStats = o.prune.enabled && o.prune.importance === 'weight-times-stat';
    // weights the checkpoint lacked (a masked-LM checkpoint's pooler) train with the head, as in the trainer
    this.setup = applyMethod(this.model, o.method, o.adapter, { seed: o.seed, keepStats, fresh: loaded.report.missing });
    this.trainable = this.model.countParameters(true);
    const dropout = new Generator(o.seed + 1);
    for (const [, m] of this.model.namedModules()) if (m instanceof Dropout) m.generator = dropout;
    this.opt = new AdamW(paramGroups(this.model, o.weightDecay), { lr: o.lr, betas: [o.beta1, o.beta2], eps: o.eps });
    this.pruner = null;
    if (o.prune.enabled) {
      const window = { start: o.prune.start ?? this.warmup, end: o.prune.end ?? Math.floor(0.8 * this.total) };
      this.pruner = new Pruner(this.setup.adapters, { ...o.prune, ...window }, this.opt);
    }
    this.cells = this.setup.adapters.map((ad) => ({
      name: ad.name, layer: layerIndex(ad.name) ?? -1, kind: ad.name.replace(/^.*layer\.\d+\./, ''), rank: ad.rank,
    }));
    this.lengths = trainRows.map((r) => r.ids.length);
    this.model.train();
  }

  get finished(): boolean {
    return this.step >= this.total;
  }

  get summary(): string {
    return rankSummary(this.setup);
  }

  private batches(epoch: number): number[][] {
    if (this.order?.epoch !== epoch) this.order = { epoch, batches: epochOrder(this.trainRows.length, this.o.batch, this.o.seed, epoch, this.o.bucket, this.lengths) };
    return this.order.batches;
  }

  /** One optimiser step (and a pruning where the schedule has one), as runSteps takes it. */
  async next(): Promise<StepResult> {
    const t0 = performance.now();
    if (this.batchInEpoch >= this.batches(this.epoch).length) {
      this.epoch++;
      this.batchInEpoch = 0;
    }
    const step = this.step + 1;
    const rows = this.batches(this.epoch)[this.batchInEpoch].map((k) => this.trainRows[k]);
    const b = makeBatch(rows, this.padId, this.backend, labelsOf(false, this.backend));
    const lr = this.lrAt(this.step);
    let r: { loss: number; gradNorm: number };
    try {
      r = await optimizerStep({
        loss: () => withTokenMask(b.attentionMask, () => this.model.forward({ ...b, labels: b.extra.labels }).loss!),
        opt: this.opt, clip: this.o.clip, lr, afterBackward: () => this.pruner?.maskGradients(),
        nonFinite: (what, value) => new NonFiniteError(`step ${step}: ${what} is ${value}; training stopped (lower the learning rate)`),
      });
    } finally {
      disposeBatch(b);
    }
    this.step = step;
    this.batchInEpoch++;
    const pruned = (await this.pruner?.maybePrune(step)) ?? null;
    return { step, epoch: this.epoch, loss: r.loss, gradNorm: r.gradNorm, lr, size: rows.length, seconds: (performance.now() - t0) / 1000, pruned };
  }

  async evaluate(): Promise<Record<string, number>> {
    return (await evaluate(this.model, SPEC, this.devRows, { batch: this.o.batch, padId: this.padId, backend: this.backend })) as Record<string, number>;
  }

  /** A's share of exact zeros per adapter, in `cells` order. */
  async sparsities(): Promise<number[]> {
    const out: number[] = [];
    for (const ad of this.setup.adapters) out.push(await ad.sparsity());
    return out;
  }

  async predict(texts: readonly string[], encode: (t: string) => TokenRow): Promise<Prediction[]> {
    const rows = texts.map(encode);
    const logits = await logitsOf(this.model, rows, { batch: this.o.batch, padId: this.padId, backend: this.backend });
    return logits.map((l, i) => {
      const p = softmax(l);
      return { text: texts[i], label: LABELS[p[1] > p[0] ? 1 : 0], probabilities: p, logits: l };
    });
  }

  exportAdapter(): Promise<{ config: string; weights: Uint8Array }> {
    return peftFiles(this.model, this.setup);
  }

  dispose(): void {
    this.opt.dispose();
    for (const ad of this.setup.adapters) ad.stats?.dispose();
    this.model.dispose();
  }
}

/** Tokenized rows of the run's training and dev subsets. */
export function encodeSplits(files: ModelFiles, train: readonly GlueExample[], dev: readonly GlueExample[], s: RunSettings): { train: Encoded[]; dev: Encoded[] } {
  return {
    train: encodeExamples(files.tokenizer, train.slice(0, s.trainLimit), s.maxLen),
    dev: encodeExamples(files.tokenizer, dev.slice(0, s.evalLimit), s.maxLen),
  };
}
