/**
 * The one step loop of fine-tuning and masked-LM pretraining: the optimiser step (./step.ts: forward, a
 * non-finite check of the loss and of the gradient norm, raised as a NonFiniteError that leaves the last
 * good checkpoint as it was, backward, clipping, AdamW), the log line and progress, and the
 * evaluation and checkpoint cadence; with resume (the checkpoint's place in the data, the dropout
 * generator's position, the log cut back to the checkpoint) and an optional deadline.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NonFiniteError } from '../core/errors.ts';
import type { Generator } from '../core/random.ts';
import type { Module } from '../nn/module.ts';
import type { AdamW } from '../optim/adamw.ts';
import type { LoraAdapter } from '../prilora/lora.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { loadCheckpoint, removeStaleTemporaries, saveCheckpoint, type Progress } from './checkpoint.ts';
import { RunLog, progressSink, type LogRecord, type ProgressSink } from './log.ts';
import type { StepReplayer } from './replayed-step.ts';
import { optimizerStep } from './step.ts';

export interface StepBatch {
  size: number;
  tokens: number;
  /** the device tensors the loss reads (what a replayed step refreshes; see ./replayed-step.ts) */
  inputs?: readonly Tensor[];
  dispose(): void;
}

export interface LoopSpec<B extends StepBatch> {
  out: string;
  model: Module;
  adapters: readonly LoraAdapter[];
  opt: AdamW;
  /** gradient-norm clipping threshold */
  clip: number;
  /** learning rate after `stepsTaken` steps */
  lr: (stepsTaken: number) => number;
  totalSteps: number;
  epochs: number;
  /** the number of batches of `epoch` (a pure function of the epoch) */
  batchesIn: (epoch: number) => number;
  /** batch `index` of `epoch` (a promise where making it reads the device, e.g. a generator's samples) */
  batch: (epoch: number, index: number) => B | Promise<B>;
  /** the step's loss (forward pass in training mode) */
  loss: (batch: B) => Tensor;
  evaluate: () => Promise<Record<string, number>>;
  /** evaluate every this many steps (0: never mid-epoch) and/or at each epoch end */
  evalEvery: number;
  evalAtEpochEnd: boolean;
  saveEvery: number;
  logEvery: number;
  /** what a resume must agree on */
  fingerprint: string;
  resume: boolean;
  dropout: Generator;
  /** stop (with a checkpoint) once performance.now() passes this */
  deadline?: number;
  print: (line: string) => void;
  /** the log's first record of a fresh run */
  start?: LogRecord;
  /** between backward and clipping (permanent pruning masks the gradients here) */
  afterBackward?: () => void;
  /** replay steps from recordings where the backend can (batches must name their `inputs`) */
  replay?: StepReplayer;
  /** after each update, before the cadence (pruning): an event for the log and a line for the display */
  afterUpdate?: (step: number) => Promise<{ record: LogRecord; note: string } | null>;
  beforeStep?: (step: number) => void;
  /** returning 'stop' ends the run there, as a crash would (tests) */
  afterStep?: (step: number) => 'stop' | void;
}

export interface LoopResult {
  progress: Progress;
  lastEval: { step: number; metrics: Record<string, number> } | null;
  stopped: boolean;
  log: RunLog;
  sink: ProgressSink;
}

const mainMetric = (m: Record<string, number>): [string, number] => Object.entries(m)[0];

export async function runSteps<B extends StepBatch>(s: LoopSpec<B>): Promise<LoopResult> {
  mkdirSync(s.out, { recursive: true });
  const ckptDir = join(s.out, 'checkpoint');
  const log = new RunLog(join(s.out, 'log.jsonl'));
  removeStaleTemporaries(ckptDir);
  let p: Progress = { step: 0, epoch: 0, batchInEpoch: 0, dropoutOffset: 0, best: null, logLines: 0, lastEval: null, fingerprint: s.fingerprint };
  if (s.resume) {
    p = loadCheckpoint(ckptDir, s.model, s.adapters, s.opt, s.fingerprint);
    s.dropout.offset = p.dropoutOffset;
    log.open(p.logLines);
    s.print(`resumed from ${ckptDir} at step ${p.step}`);
  } else {
    log.open(null);
    if (s.start) log.write(s.start);
  }
  const sink = progressSink(s.totalSteps, p.step, s.logEvery, s.print);
  /** the step of the checkpoint on disk, null while there is none */
  let saved: number | null = s.resume ? p.step : null;
  const save = async () => {
    p.dropoutOffset = s.dropout.offset;
    p.logLines = log.lines;
    await saveCheckpoint(ckptDir, s.model, s.adapters, s.opt, p);
    saved = p.step;
  };
  let lastEval: LoopResult['lastEval'] = p.lastEval ?? null;
  const evalNow = async () => {
    const metrics = await s.evaluate();
    log.write({ type: 'eval', step: p.step, epoch: p.epoch, metrics });
    sink.note(`eval at step ${p.step}: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
    const [metric, value] = mainMetric(metrics);
    if (!p.best || value > p.best.value) p.best = { metric, value, step: p.step };
    lastEval = p.lastEval = { step: p.step, metrics };
  };
  const nonFinite = (what: string, step: number, value: number) => {
    const where = saved !== null ? `the last good checkpoint (${ckptDir}, step ${saved}) is intact` : 'no checkpoint had been written yet';
    return new NonFiniteError(`step ${step}: ${what} is ${value}; training stopped, ${where}`);
  };
  const timeLeft = () => s.deadline === undefined || performance.now() < s.deadline;
  let stopped = false;
  s.model.train();
  try {
    // an epoch whose last batch was the run's last step is still closed (evaluated, counted, saved): a run
    // resumed from a checkpoint saved just before (kill soak) would otherwise end with another progress record
    const epochOpen = () => p.step < s.totalSteps || p.batchInEpoch >= s.batchesIn(p.epoch);
    while (!stopped && p.epoch < s.epochs && epochOpen() && timeLeft()) {
      const batches = s.batchesIn(p.epoch);
      while (!stopped && p.batchInEpoch < batches && p.step < s.totalSteps && timeLeft()) {
        const t0 = performance.now();
        const step = p.step + 1;
        const batch = await s.batch(p.epoch, p.batchInEpoch);
        s.beforeStep?.(step);
        const lr = s.lr(p.step);
        let lossValue: number, norm: number;
        try {
          ({ loss: lossValue, gradNorm: norm } = await optimizerStep({
            loss: () => s.loss(batch), opt: s.opt, clip: s.clip, lr, afterBackward: s.afterBackward,
            replay: s.replay && batch.inputs ? { replayer: s.replay, inputs: batch.inputs } : undefined,
            nonFinite: (what, value) => nonFinite(what, step, value),
          }));
        } finally {
          batch.dispose();
        }
        p.step = step;
        p.batchInEpoch++;
        const seconds = (performance.now() - t0) / 1000;
        const replayed = s.replay?.replayed ? { replayed: true } : {};
        log.write({ type: 'step', step, epoch: p.epoch, loss: lossValue, lr, gradNorm: norm, seqPerS: batch.size / seconds, tokens: batch.tokens, seconds, ...replayed });
        sink.update(step, { loss: lossValue, seqPerS: batch.size / seconds });
        const event = await s.afterUpdate?.(step);
        if (event) {
          log.write(event.record);
          sink.note(event.note);
        }
        if (s.evalEvery && step % s.evalEvery === 0) await evalNow();
        if (step % s.saveEvery === 0) await save();
        stopped = s.afterStep?.(step) === 'stop';
      }
      if (!stopped && p.batchInEpoch >= batches) {
        if (s.evalAtEpochEnd && lastEval?.step !== p.step) await evalNow();
        p.epoch++;
        p.batchInEpoch = 0;
        await save();
      }
    }
    if (!stopped) {
      if (lastEval?.step !== p.step) await evalNow();
      await save();
    }
  } finally {
    sink.stop();
  }
  return { progress: p, lastEval, stopped, log, sink };
}
