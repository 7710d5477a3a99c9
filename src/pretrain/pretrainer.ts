/**
 * `prilora pretrain`: pretraining of a small BERT on the corpus, with its own small vocabulary, on the
 * shared step loop (train/loop.ts: AdamW with warm-up and linear decay, checkpoints, resume, the
 * non-finite stop, a JSONL log). Two objectives: masked LM (mlm.ts; with --nsp also next-sentence
 * prediction) and, with --generator, ELECTRA's replaced-token detection (rtd.ts); each brings its model,
 * batches and held-out measure. The result is a model directory (config.json, float16 model.safetensors,
 * tokenizer files) that `train --model` loads.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backends/backend.ts';
import { defaultBackend } from '../backends/default.ts';
import { ConfigError } from '../core/errors.ts';
import { Generator, HostRng } from '../core/random.ts';
import type { Given } from '../core/spine.ts';
import { TextTokenizer } from '../data/tokenizer.ts';
import { writeSafetensorsFile } from '../io/safetensors.ts';
import { parseBertConfig, type BertConfig } from '../nn/bert.ts';
import { BertForMaskedLM } from '../nn/bert-mlm.ts';
import { BertForTokenDetection } from '../nn/bert-rtd.ts';
import { checkpointState, readConfig, weightsFile } from '../nn/pretrained.ts';
import { Dropout } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import { AdamW } from '../optim/adamw.ts';
import { paramGroups } from '../optim/param-groups.ts';
import { linearWarmupDecay } from '../optim/schedule.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { disposeBatch, epochOrder, type Batch } from '../train/batches.ts';
import { runSteps } from '../train/loop.ts';
import { claimRunDir } from '../train/run-dir.ts';
import { loadCorpus } from './corpus.ts';
import { makeInstances, type Instance, type MaskingOptions, type TokenizedCorpus } from './instances.ts';
import { heldOutMetrics, mlmBatch } from './mlm.ts';
import { PRETRAIN_SPINE, pretrainFingerprint, pretrainOptions, type PretrainOptions } from './options.ts';
import { copyTokenizer, unpackState } from './packed.ts';
import { detectionBatch, detectionMetrics, TokenReplacer } from './rtd.ts';
import { buildVocabulary, SPECIAL_TOKENS } from './vocab.ts';

/**
 * The config of the model being pretrained or exported: the pretraining dropout in both, since a model
 * pretrained without dropout fine-tunes better without it (the bundled model, SST-2 held out: PRILoRA
 * 75.4 % with dropout 0, 72.8 % with 0.1).
 */
export function modelConfig(o: PretrainOptions): Record<string, unknown> {
  return {
    model_type: 'bert', architectures: [o.generator ? 'BertModel' : o.nsp ? 'BertForPreTraining' : 'BertForMaskedLM'], vocab_size: o.vocabSize, hidden_size: o.hidden,
    num_hidden_layers: o.layers, num_attention_heads: o.heads, intermediate_size: o.ffn, hidden_act: 'gelu',
    hidden_dropout_prob: o.dropout, attention_probs_dropout_prob: o.dropout, max_position_embeddings: o.positions, type_vocab_size: 2,
    initializer_range: 0.02, layer_norm_eps: 1e-12, pad_token_id: 0, tie_word_embeddings: true,
  };
}

/**
 * The model directory `train --model` loads: config, float16 weights, tokenizer, the pretraining log.
 * Written beside it and swapped in, so a kill at any moment leaves the old directory or the new one; a
 * resumed run exports again, and first clears what an interrupted export left.
 */
export async function exportModel(model: Module, o: PretrainOptions, dir: string): Promise<void> {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  for (const stale of [tmp, old]) rmSync(stale, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const entries = [];
  for (const [name, p] of model.namedParameters()) entries.push({ name, dtype: 'F16' as const, shape: p.shape, data: Float32Array.from(await p.data()) });
  writeSafetensorsFile(join(tmp, 'model.safetensors'), entries, { format: 'pt' });
  writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(modelConfig(o), null, 2)}\n`);
  copyTokenizer(join(o.out, 'tokenizer'), tmp);
  copyFileSync(join(o.out, 'log.jsonl'), join(tmp, 'pretrain-log.jsonl'));
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

const SHAPE_KEYS = ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings'];

/**
 * `--init`: the weights of a model directory of this recipe's shape; a head it lacks keeps its fresh draw,
 * and a head this objective does not have (masked LM's, for replaced-token detection) is left out.
 */
function initWeights(model: Module, o: PretrainOptions): void {
  const dir = o.init!;
  const have = readConfig(dir);
  const want = modelConfig(o);
  const differ = SHAPE_KEYS.filter((k) => have[k] !== want[k]);
  if (differ.length) throw new ConfigError(`init: ${join(dir, 'config.json')} is not this recipe's shape: ${differ.map((k) => `${k} ${String(have[k])} (recipe ${String(want[k])})`).join(', ')}`, 'init');
  const state = checkpointState(weightsFile(dir), 'float32', (n) => (n.endsWith('position_ids') ? null : n));
  const head = (n: string) => /^(bert\.pooler|cls\.seq_relationship|discriminator_predictions)\./.test(n);
  const otherHead = (n: string) => head(n) || (o.generator !== undefined && n.startsWith('cls.'));
  model.loadStateDict(state, { allowMissing: head, ignoreUnexpected: otherHead });
}

/** What an objective brings to the shared loop: its model, its batches, its loss and its held-out measure. */
interface Objective<E extends Record<string, Tensor>> {
  model: Module;
  batch(rows: readonly Instance[], epoch: number, index: number): Promise<Batch<E>>;
  loss(b: Batch<E>): Tensor;
  evaluate(): Promise<Record<string, number>>;
}

interface Setting {
  o: PretrainOptions;
  cfg: BertConfig;
  backend: Backend;
  padId: number;
  evalRows: readonly Instance[];
  mostFrequent: number;
  print: (line: string) => void;
}

function maskedLm({ o, cfg, backend, padId, evalRows, mostFrequent }: Setting): Objective<ReturnType<typeof mlmBatch>['extra']> {
  const model = new BertForMaskedLM(cfg, { generator: new Generator(o.seed), backend, nextSentence: o.nsp });
  return {
    model,
    batch: async (rows) => mlmBatch(rows, padId, backend, o.nsp),
    loss: (b) => model.forward({ ...b, ...b.extra }).loss!,
    evaluate: () => heldOutMetrics(model, evalRows, o.batch, padId, backend, mostFrequent),
  };
}

async function tokenDetection({ o, cfg, backend, padId, evalRows, mostFrequent, print }: Setting): Promise<Objective<{ replaced: Tensor }>> {
  const replacer = TokenReplacer.load(o.generator!, cfg.vocabSize, SPECIAL_TOKENS.length, backend);
  const g = await heldOutMetrics(replacer.generator, evalRows, o.batch, padId, backend, mostFrequent);
  print(`generator ${o.generator}: held-out masked-token accuracy ${(100 * g.mlm_accuracy).toFixed(1)} %`);
  const heldOut = await replacer.corruptAll(evalRows, o.batch, padId, backend, new HostRng(o.seed + 999));
  const model = new BertForTokenDetection(cfg, { generator: new Generator(o.seed), backend });
  return {
    model,
    // a batch's samples are a pure function of (seed, epoch, index), so a resumed run draws the same
    batch: async (rows, e, i) => {
      const rng = new HostRng((o.seed * 1_000_003 + e * 7919 + i * 104_729 + 5) >>> 0);
      return detectionBatch(await replacer.corrupt(rows, padId, backend, rng), padId, backend);
    },
    loss: (b) => model.forward({ ...b, ...b.extra }).loss!,
    evaluate: () => detectionMetrics(model, heldOut, o.batch, padId, backend),
  };
}

/** The generator must speak the run's vocabulary: the same vocab.txt, id for id. */
function checkGeneratorVocabulary(generator: string, tokDir: string): void {
  if (!existsSync(join(generator, 'vocab.txt'))) throw new ConfigError(`generator: ${generator} has no vocab.txt: not a model directory of \`pretrain\``, 'generator');
  const vocab = (dir: string) => readFileSync(join(dir, 'vocab.txt'), 'utf8');
  if (vocab(generator) !== vocab(tokDir)) {
    throw new ConfigError(`generator: ${join(generator, 'vocab.txt')} differs from the run's vocabulary (${join(tokDir, 'vocab.txt')}); start from the generator's with --init or --generator alone`, 'generator');
  }
}

export interface PretrainResult {
  options: PretrainOptions;
  step: number;
  metrics: Record<string, number> | null;
}

export async function pretrain(
  given: Given<typeof PRETRAIN_SPINE> = {},
  env: { backend?: Backend; print?: (line: string) => void; afterStep?: (step: number) => 'stop' | void } = {},
): Promise<PretrainResult> {
  const o = pretrainOptions(given);
  const backend = env.backend ?? defaultBackend();
  const print = env.print ?? ((l: string) => console.log(l));
  const t0 = performance.now();
  claimRunDir(o.out, { ...o, resume: o.resume && !o.from });
  if (o.from) unpackState(o.from, o.out);
  const resume = o.resume || o.from !== undefined;
  const corpus = loadCorpus(o.seed, o.corpus);
  const tokDir = join(o.out, 'tokenizer');
  // a resumed run keeps its vocabulary; a fresh one takes its starting weights' or its generator's, or
  // (maybe replacing an earlier run) chooses its own
  const vocabFrom = o.init ?? o.generator;
  if (vocabFrom && !resume) copyTokenizer(vocabFrom, tokDir);
  if (o.generator) checkGeneratorVocabulary(o.generator, tokDir);
  const tok = resume || vocabFrom ? TextTokenizer.fromFile(join(tokDir, 'tokenizer.json')) : buildVocabulary(corpus.train, o.vocabSize, tokDir);
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

  const cfg = parseBertConfig(modelConfig(o), 'pretrain config');
  const setting: Setting = { o, cfg, backend, padId: tok.padId, evalRows, mostFrequent, print };
  const objective: Objective<Record<string, Tensor>> = o.generator ? await tokenDetection(setting) : maskedLm(setting);
  const model = objective.model;
  if (o.init && !resume) initWeights(model, o);
  const dropout = new Generator(o.seed + 1);
  for (const [, m] of model.namedModules()) if (m instanceof Dropout) m.generator = dropout;
  const opt = new AdamW(paramGroups(model, o.weightDecay), { lr: o.lr, eps: 1e-6 });
  const factor = linearWarmupDecay(o.warmup, o.steps);
  // `steps` may change on resume: the learning rate then follows the new plan from the current step

  // one epoch's instances at a time (drawn afresh per epoch: new masks, new pairs), only full batches
  let epochRows: { epoch: number; rows: Instance[]; order: number[][] } | null = null;
  const epochOf = (epoch: number) => {
    if (epochRows?.epoch !== epoch) {
      const rows = makeInstances(train, { ...masking, overlap: o.pairOverlap }, o.seed, epoch);
      // GLUE sentences make many short instances: batches of similar length waste little on padding
      const order = epochOrder(rows.length, o.batch, o.seed, epoch, true, rows.map((r) => r.ids.length)).filter((b) => b.length === o.batch);
      epochRows = { epoch, rows, order };
    }
    return epochRows;
  };
  const loop = await runSteps({
    out: o.out, model, adapters: [], opt, clip: 1, lr: (s) => o.lr * factor(s), totalSteps: o.steps, epochs: Infinity,
    batchesIn: (e) => epochOf(e).order.length,
    batch: async (e, i) => {
      const { rows, order } = epochOf(e);
      const b = await objective.batch(order[i].map((k) => rows[k]), e, i);
      return { ...b, dispose: () => disposeBatch(b) };
    },
    loss: (b) => objective.loss(b),
    evaluate: () => objective.evaluate(),
    evalEvery: o.evalEvery, evalAtEpochEnd: false, saveEvery: o.saveEvery, logEvery: o.logEvery,
    fingerprint: pretrainFingerprint(o, backend.name), resume, dropout, print,
    deadline: o.minutes === undefined ? undefined : t0 + o.minutes * 60_000,
    afterStep: env.afterStep,
  });
  if (loop.stopped) return { options: o, step: loop.progress.step, metrics: null };
  await exportModel(model, o, join(o.out, 'model'));
  print(`pretraining stopped at step ${loop.progress.step} of ${o.steps} after ${((performance.now() - t0) / 60000).toFixed(1)} min; model in ${join(o.out, 'model')}`);
  return { options: o, step: loop.progress.step, metrics: loop.lastEval?.metrics ?? null };
}
