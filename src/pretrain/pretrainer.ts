/**
 * `prilora pretrain`: masked-LM pretraining of a small BERT on the bundled corpus, with its own small
 * vocabulary, AdamW with warm-up and linear decay, checkpoints, resume, a JSONL log and a held-out
 * masked-token accuracy measured against always guessing the most frequent token. The result is a model
 * directory (config.json, float16 model.safetensors, tokenizer files) that `train --model` loads.
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../backends/backend.ts';
import { noGrad } from '../autograd/engine.ts';
import { TextTokenizer } from '../data/tokenizer.ts';
import { PriloraError } from '../errors.ts';
import { writeSafetensorsFile } from '../io/safetensors.ts';
import { parseBertConfig } from '../nn/bert.ts';
import { BertForMaskedLM } from '../nn/bert-mlm.ts';
import { Dropout } from '../nn/layers.ts';
import { AdamW, clipGradNorm } from '../optim/adamw.ts';
import { linearWarmupDecay } from '../optim/schedule.ts';
import { paramGroups } from '../prilora/methods.ts';
import { tensor } from '../tensor/create.ts';
import { Generator } from '../tensor/random.ts';
import { beginScope, tidy } from '../tensor/scope.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type Progress } from '../train/checkpoint.ts';
import { epochOrder } from '../train/batches.ts';
import { RunLog, progressSink } from '../train/log.ts';
import { BUNDLED_SOURCES, loadCorpus, type CorpusSource } from './corpus.ts';
import { makeInstances, type Instance, type MaskingOptions, type TokenizedCorpus } from './instances.ts';
import { buildVocabulary, SPECIAL_TOKENS } from './vocab.ts';

export interface PretrainOptions {
  out: string;
  seed: number;
  backend: string;
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  ffn: number;
  maxLen: number;
  batch: number;
  lr: number;
  /** planned optimiser steps (the schedule's length; may change on resume) */
  steps: number;
  warmup: number;
  weightDecay: number;
  maskProb: number;
  /** dropout while pretraining (the exported config always carries BERT's 0.1 for fine-tuning) */
  dropout: number;
  /** text sources (src/pretrain/corpus.ts) */
  corpus: readonly CorpusSource[];
  /** stop (with a checkpoint and an exported model) after this many minutes; resume continues */
  minutes: number;
  evalEvery: number;
  saveEvery: number;
  logEvery: number;
  resume: boolean;
}

export const PRETRAIN_DEFAULTS: Omit<PretrainOptions, 'out'> = {
  seed: 0, backend: 'cpu', vocabSize: 8192, hidden: 128, layers: 4, heads: 2, ffn: 512, maxLen: 128, batch: 32,
  lr: 5e-4, steps: 20000, warmup: 500, weightDecay: 0.01, maskProb: 0.15, dropout: 0.1, corpus: BUNDLED_SOURCES, minutes: Infinity, evalEvery: 500,
  saveEvery: 200, logEvery: 20, resume: false,
};

interface Batch {
  inputIds: ReturnType<typeof tensor>;
  attentionMask: ReturnType<typeof tensor>;
  tokenTypeIds: ReturnType<typeof tensor>;
  maskedPositions: ReturnType<typeof tensor>;
  maskedLabels: ReturnType<typeof tensor>;
}

function makeBatch(rows: readonly Instance[], backend: string): Batch {
  const t = Math.max(...rows.map((r) => r.ids.length));
  const ids = new Int32Array(rows.length * t);
  const types = new Int32Array(rows.length * t);
  const mask = new Int32Array(rows.length * t);
  const pos: number[] = [];
  const labels: number[] = [];
  rows.forEach((r, b) => {
    ids.set(r.ids, b * t);
    types.set(r.typeIds, b * t);
    mask.fill(1, b * t, b * t + r.ids.length);
    r.maskedPositions.forEach((p, k) => {
      pos.push(b * t + p);
      labels.push(r.maskedLabels[k]);
    });
  });
  const shape = [rows.length, t];
  return {
    inputIds: tensor(ids, { shape, backend }),
    attentionMask: tensor(mask, { shape, backend }),
    tokenTypeIds: tensor(types, { shape, backend }),
    maskedPositions: tensor(Int32Array.from(pos), { backend }),
    maskedLabels: tensor(Int32Array.from(labels), { backend }),
  };
}

const disposeBatch = (b: Batch) => Object.values(b).forEach((t) => t.dispose());

export function modelConfig(o: PretrainOptions, dropout = 0.1): Record<string, unknown> {
  return {
    model_type: 'bert', architectures: ['BertForMaskedLM'], vocab_size: o.vocabSize, hidden_size: o.hidden,
    num_hidden_layers: o.layers, num_attention_heads: o.heads, intermediate_size: o.ffn, hidden_act: 'gelu',
    hidden_dropout_prob: dropout, attention_probs_dropout_prob: dropout, max_position_embeddings: 128, type_vocab_size: 2,
    initializer_range: 0.02, layer_norm_eps: 1e-12, pad_token_id: 0, tie_word_embeddings: true,
  };
}

/** Masked-token accuracy and loss on the held-out instances, and the most-frequent-token baseline. */
async function heldOutMetrics(model: BertForMaskedLM, rows: readonly Instance[], batch: number, backend: string, mostFrequent: number) {
  model.eval();
  let correct = 0, total = 0, lossSum = 0, baseline = 0;
  for (let s = 0; s < rows.length; s += batch) {
    const b = makeBatch(rows.slice(s, s + batch), backend);
    const r = tidy(() => noGrad(() => model.forward(b)));
    const logits = await r.logits.data();
    const labels = await b.maskedLabels.data();
    const v = model.cfg.vocabSize;
    lossSum += (await r.loss!.data())[0] * labels.length;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let k = 1; k < v; k++) if (logits[i * v + k] > logits[i * v + best]) best = k;
      if (best === labels[i]) correct++;
      if (labels[i] === mostFrequent) baseline++;
    }
    total += labels.length;
    r.logits.dispose();
    r.loss!.dispose();
    disposeBatch(b);
  }
  model.train();
  return { mlm_loss: lossSum / total, mlm_accuracy: correct / total, most_frequent_accuracy: baseline / total, masked_tokens: total };
}

/** The model directory `train --model` loads: config, float16 weights, tokenizer. */
export async function exportModel(model: BertForMaskedLM, o: PretrainOptions, dir: string): Promise<void> {
  const tmp = `${dir}.tmp`;
  mkdirSync(tmp, { recursive: true });
  const entries = [];
  for (const [name, p] of model.namedParameters()) entries.push({ name, dtype: 'F16' as const, shape: p.shape, data: Float32Array.from(await p.data()) });
  writeSafetensorsFile(join(tmp, 'model.safetensors'), entries, { format: 'pt' });
  writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(modelConfig(o), null, 2)}\n`);
  for (const f of ['tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(o.out, 'tokenizer', f), join(tmp, f));
  if (existsSync(dir)) renameSync(dir, `${dir}.old-${Date.now()}`);
  renameSync(tmp, dir);
}

export async function pretrain(o: PretrainOptions, print: (l: string) => void = console.log): Promise<{ step: number; metrics: Record<string, number> | null }> {
  await initBackend(o.backend);
  const t0 = performance.now();
  mkdirSync(o.out, { recursive: true });
  const corpus = loadCorpus(o.seed, o.corpus);
  const tokDir = join(o.out, 'tokenizer');
  const tok = existsSync(join(tokDir, 'tokenizer.json')) ? TextTokenizer.fromFile(join(tokDir, 'tokenizer.json')) : buildVocabulary(corpus.train, o.vocabSize, tokDir);
  const tokenize = (docs: string[][]): TokenizedCorpus => ({ docs: docs.map((d) => d.map((s) => tok.tokenizeIds(s))) });
  const train = tokenize(corpus.train);
  const heldOut = tokenize(corpus.heldOut);
  const masking: MaskingOptions = {
    maxLen: o.maxLen, maskProb: o.maskProb, clsId: tok.clsId, sepId: tok.sepId, maskId: tok.tokenToId('[MASK]')!,
    firstRegularId: SPECIAL_TOKENS.length, vocabSize: tok.vocabSize,
  };
  const evalRows = makeInstances(heldOut, masking, o.seed + 999, 0);
  const counts = new Map<number, number>();
  for (const d of train.docs) for (const s of d) for (const id of s) counts.set(id, (counts.get(id) ?? 0) + 1);
  const mostFrequent = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  print(`corpus: ${train.docs.length} documents (${[...counts.values()].reduce((a, b) => a + b, 0).toLocaleString('en')} tokens), held out ${evalRows.length} instances; vocabulary ${tok.vocabSize}`);

  const cfg = parseBertConfig(modelConfig(o, o.dropout), 'pretrain config');
  const model = new BertForMaskedLM(cfg, { generator: new Generator(o.seed), backend: o.backend });
  const dropoutGen = new Generator(o.seed + 1);
  for (const [, m] of model.namedModules()) if (m instanceof Dropout) m.generator = dropoutGen;
  const opt = new AdamW(paramGroups(model, o.weightDecay), { lr: o.lr, eps: 1e-6 });
  const factor = linearWarmupDecay(o.warmup, o.steps);
  const ckpt = join(o.out, 'checkpoint');
  const log = new RunLog(join(o.out, 'log.jsonl'));
  // `steps` may change on resume: the learning rate then follows the new plan from the current step
  const { resume: _r, minutes: _m, logEvery: _l, evalEvery: _e, saveEvery: _s, steps: _n, ...fixed } = o;
  const fp = JSON.stringify(fixed);
  let p: Progress = { step: 0, epoch: 0, batchInEpoch: 0, dropoutOffset: 0, best: null, logLines: 0, fingerprint: fp };
  if (o.resume && hasCheckpoint(ckpt)) {
    p = loadCheckpoint(ckpt, model, [], opt, fp);
    dropoutGen.offset = p.dropoutOffset;
    log.open(p.logLines);
    print(`resumed from ${ckpt} at step ${p.step}`);
  } else {
    log.open(null);
  }
  const save = async () => {
    p.dropoutOffset = dropoutGen.offset;
    p.logLines = log.lines;
    await saveCheckpoint(ckpt, model, [], opt, p);
  };
  let lastMetrics: Record<string, number> | null = null;
  const evalNow = async () => {
    lastMetrics = await heldOutMetrics(model, evalRows, o.batch, o.backend, mostFrequent);
    log.write({ type: 'eval', step: p.step, epoch: p.epoch, metrics: lastMetrics });
    sink.note(`held-out at step ${p.step}: masked-token accuracy ${(100 * lastMetrics.mlm_accuracy).toFixed(2)}% (most frequent token ${(100 * lastMetrics.most_frequent_accuracy).toFixed(2)}%), loss ${lastMetrics.mlm_loss.toFixed(3)}`);
  };
  const deadline = t0 + o.minutes * 60_000;
  const sink = progressSink(o.steps, p.step, o.logEvery, print);
  model.train();
  try {
    while (p.step < o.steps && performance.now() < deadline) {
      const rows = makeInstances(train, masking, o.seed, p.epoch);
      // GLUE sentences make many short instances: batches of similar length waste little on padding
      const order = epochOrder(rows.length, o.batch, o.seed, p.epoch, true, rows.map((r) => r.ids.length)).filter((b) => b.length === o.batch);
      const batches = order.length;
      while (p.batchInEpoch < batches && p.step < o.steps && performance.now() < deadline) {
        const tStep = performance.now();
        const batchRows = order[p.batchInEpoch].map((i) => rows[i]);
        const tokens = batchRows.reduce((n, r) => n + r.ids.length, 0);
        const b = makeBatch(batchRows, o.backend);
        const scope = beginScope();
        const loss = model.forward(b).loss!;
        const lossValue = (await loss.data())[0];
        if (!Number.isFinite(lossValue)) throw new PriloraError(`pretrain step ${p.step + 1}: loss is ${lossValue}; stopped, the last checkpoint (${ckpt}) is intact`);
        loss.backward();
        const norm = (await clipGradNorm(opt.params, 1.0).data())[0];
        const lr = o.lr * factor(p.step);
        opt.update(lr);
        opt.zeroGrad();
        scope.end();
        disposeBatch(b);
        p.step++;
        p.batchInEpoch++;
        const seconds = (performance.now() - tStep) / 1000;
        log.write({ type: 'step', step: p.step, epoch: p.epoch, loss: lossValue, lr, gradNorm: norm, seqPerS: o.batch / seconds, tokens, seconds });
        sink.update(p.step, { loss: lossValue, seqPerS: o.batch / seconds });
        if (p.step % o.evalEvery === 0) await evalNow();
        if (p.step % o.saveEvery === 0) await save();
      }
      if (p.batchInEpoch >= batches) {
        p.epoch++;
        p.batchInEpoch = 0;
      }
    }
    await evalNow();
    await save();
  } finally {
    sink.stop();
  }
  await exportModel(model, o, join(o.out, 'model'));
  copyFileSync(join(o.out, 'log.jsonl'), join(o.out, 'model', 'pretrain-log.jsonl'));
  print(`pretraining stopped at step ${p.step} of ${o.steps} after ${((performance.now() - t0) / 60000).toFixed(1)} min; model in ${join(o.out, 'model')}`);
  return { step: p.step, metrics: lastMetrics };
}
