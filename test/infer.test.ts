/**
 * predict, evaluate, merge and --adapter: the fixtures' PEFT adapters (made by Python PEFT) give the
 * logits of their reference files, through the library and through `prilora predict`; merged models give
 * the logits of base + adapter; a run's adapter, exported or not, evaluates to the metrics the run
 * reported; `train --adapter` continues an adapter; hub ids work for --model and --adapter.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { glueTaskSpec } from '../src/data/glue-tasks.ts';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { loadSequenceClassifier } from '../src/nn/auto.ts';
import { openAdapted } from '../src/train/inference.ts';
import { relativeDifference } from '../src/train/merge.ts';
import { logitsOf } from '../src/train/predict.ts';
import { defaultModelDir } from '../src/train/model.ts';
import { relativeError } from '../src/verify/fixture-check.ts';
import { FakeHub } from './fake-hub.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'prilora-infer-'));
const FIXTURES = { bert_cls: 'mnli', bert_reg: 'stsb', deberta_cls: 'sst2' } as const;
type Fixture = keyof typeof FIXTURES;

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
  const last = out[out.length - 1];
  return { code, out, err, json: code === 0 && last?.startsWith('{') ? JSON.parse(last) : null };
}

/** The fixture's input rows without their padding, split where the token type changes (the pair's parts). */
function fixtureRows(fix: Fixture): { ids: number[]; typeIds: number[]; parts: [number[], number[]] }[] {
  const f = readSafetensorsFile(`test/fixtures/hf/${fix}/inputs.safetensors`);
  const [n, t] = f.info('input_ids').shape;
  const [ids, mask, types] = ['input_ids', 'attention_mask', 'token_type_ids'].map((k) => f.getInt32(k));
  return Array.from({ length: n }, (_, b) => {
    const len = mask.subarray(b * t, (b + 1) * t).reduce((s, x) => s + x, 0);
    const row = Array.from(ids.subarray(b * t, b * t + len));
    const ty = Array.from(types.subarray(b * t, b * t + len));
    return { ids: row, typeIds: ty, parts: [row.filter((_, i) => ty[i] === 0), row.filter((_, i) => ty[i] === 1)] };
  });
}

const lora = (fix: Fixture) => readSafetensorsFile(`test/fixtures/hf/${fix}/lora_ref.safetensors`);

/**
 * A copy of a fixture with a tokenizer.json that maps "[CLS]" to id 1 and "w<k>" to id k (whitespace
 * split, no template): a text of those words tokenizes to exactly the fixture's ids.
 */
function withTokenizer(fix: Fixture): string {
  const dir = tmp();
  for (const f of ['config.json', 'model.safetensors']) cpSync(`test/fixtures/hf/${fix}/${f}`, join(dir, f));
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 101; i++) vocab[i === 0 ? '[PAD]' : i === 1 ? '[CLS]' : i === 99 ? '[SEP]' : i === 100 ? '[UNK]' : `w${i}`] = i;
  const special = ['[PAD]', '[CLS]', '[SEP]', '[UNK]'].map((content) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: special, normalizer: null, pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null, decoder: null, model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  }));
  return dir;
}
const words = (ids: number[]) => ids.map((i) => (i === 1 ? '[CLS]' : `w${i}`)).join(' ');

describe("the fixtures' PEFT adapters (Python PEFT) give their reference logits", () => {
  it.each(Object.keys(FIXTURES) as Fixture[])('%s: openAdapted + logitsOf (the code behind predict/evaluate)', async (fix) => {
    const a = openAdapted({ model: `test/fixtures/hf/${fix}`, adapter: `test/fixtures/hf/${fix}/lora`, tokenizer: false });
    expect(a.kind).toBe('peft');
    expect(a.notes).toEqual([]);
    const logits = await logitsOf(a.run.model, fixtureRows(fix), { batch: 8, padId: 0 });
    expect(relativeError(logits.flat(), lora(fix).getFloat64('logits'))).toBeLessThanOrEqual(1e-5);
  });

  it.each(Object.keys(FIXTURES) as Fixture[])('%s: prilora predict --input (text → the same ids → the reference logits)', async (fix) => {
    const task = FIXTURES[fix];
    const dir = withTokenizer(fix);
    const pair = task !== 'sst2';
    const lines = fixtureRows(fix).map((r) => (pair ? `${words(r.parts[0])}\t${words(r.parts[1])}` : words(r.ids)));
    writeFileSync(join(dir, 'inputs.tsv'), `${lines.join('\n')}\n`);
    const r = await cli(['predict', '--model', dir, '--adapter', `test/fixtures/hf/${fix}/lora`, '--task', task, '--input', join(dir, 'inputs.tsv'), '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    const preds = r.out.slice(0, -1).map((l) => JSON.parse(l));
    expect(preds.length).toBe(3);
    expect(relativeError(preds.flatMap((p) => p.logits), lora(fix).getFloat64('logits'))).toBeLessThanOrEqual(1e-5);
    if (task === 'stsb') expect(preds[0].score).toBe(preds[0].logits[0]);
    else {
      expect(preds[0].probabilities.reduce((s: number, x: number) => s + x, 0)).toBeCloseTo(1, 12);
      expect(preds[0].label).toBe(task === 'mnli' ? glueTaskSpec('mnli').labelNames[preds[0].class] : String(preds[0].class));
    }
    expect(r.json).toMatchObject({ predictions: 3, task });
  });
});

describe('prilora merge', () => {
  it.each(Object.keys(FIXTURES) as Fixture[])('%s: the merged directory gives base + adapter logits (≤ 1e-6 relative, f32) and the reference merged weights', async (fix) => {
    const out = join(tmp(), 'merged');
    const r = await cli(['merge', '--model', `test/fixtures/hf/${fix}`, '--adapter', `test/fixtures/hf/${fix}/lora`, '--out', out, '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.json.adapters).toBe(fix === 'deberta_cls' ? 12 : 18);
    expect(r.json.logitsRelative).toBeLessThanOrEqual(1e-6);
    const rows = fixtureRows(fix);
    const base = openAdapted({ model: `test/fixtures/hf/${fix}`, adapter: `test/fixtures/hf/${fix}/lora`, tokenizer: false });
    const unmerged = await logitsOf(base.run.model, rows, { batch: 8, padId: 0 });
    const { model } = loadSequenceClassifier(out);
    const merged = await logitsOf(model, rows, { batch: 8, padId: 0 });
    expect(relativeDifference(merged, unmerged)).toBeLessThanOrEqual(1e-6);
    const ref = lora(fix);
    expect(relativeError(merged.flat(), ref.getFloat64('logits'))).toBeLessThanOrEqual(1e-5);
    for (const [name, p] of model.namedParameters()) expect(relativeError(await p.data(), ref.getFloat64(`merged.${name}`)), name).toBeLessThanOrEqual(1e-6);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg.architectures).toEqual([fix === 'deberta_cls' ? 'DebertaV2ForSequenceClassification' : 'BertForSequenceClassification']);
    expect(cfg.num_labels).toBe(fix === 'bert_cls' ? 3 : fix === 'bert_reg' ? 1 : 2);
    // never over an existing model without --force
    const again = await cli(['merge', '--model', `test/fixtures/hf/${fix}`, '--adapter', `test/fixtures/hf/${fix}/lora`, '--out', out]);
    expect(again.err).toEqual([`prilora merge: ConfigError: --out: ${out} already holds config.json and model.safetensors; pass --force to replace them`]);
  });
});

describe('a run of this project: evaluate, predict, export, merge, continue, over the hub', () => {
  const run = tmp();
  const exported = join(tmp(), 'adapter');
  let trained: { metrics: Record<string, number> };
  const common = ['--task', 'sst2', '--train-limit', '96', '--eval-limit', '64', '--batch', '16', '--max-len', '32'];
  let hub: FakeHub;
  const saved = { HF_HOME: process.env.HF_HOME, HF_ENDPOINT: process.env.HF_ENDPOINT };

  beforeAll(async () => {
    const r = await cli(['train', ...common, '--max-steps', '4', '--seed', '2', '--out', run, '--force', '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    trained = r.json;
    const e = await cli(['export-peft', run, exported]);
    expect(e.code, e.err.join('\n')).toBe(0);
    hub = await new FakeHub().start();
    const files = (dir: string, names: string[]) => Object.fromEntries(names.map((n) => [n, new Uint8Array(readFileSync(join(dir, n)))]));
    hub.add('test-org/default-bert', files(defaultModelDir(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt']));
    hub.add('test-org/sst2-adapter', files(exported, ['adapter_config.json', 'adapter_model.safetensors']));
    process.env.HF_HOME = tmp();
    process.env.HF_ENDPOINT = hub.endpoint;
  }, 300_000);

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    await hub?.stop();
  });

  it('evaluate --adapter RUN, and of the exported PEFT adapter with another seed: the metrics the run reported', async () => {
    const r = await cli(['evaluate', '--adapter', run, '--eval-limit', '64', '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.json).toMatchObject({ task: 'sst2', split: 'dev', examples: 64 });
    expect(r.json.metrics).toEqual(trained.metrics);
    // the bundled model has no pooler: export-peft saved the run's (seed 2) with the adapter, so seed 9 changes
    // nothing; its word embeddings trained too (the model's prilora.json) and travel as modules_to_save
    expect(JSON.parse(readFileSync(join(exported, 'adapter_config.json'), 'utf8')).modules_to_save).toEqual(['classifier', 'bert.embeddings.word_embeddings', 'bert.pooler.dense']);
    const p = await cli(['evaluate', '--adapter', exported, '--task', 'sst2', '--eval-limit', '64', '--max-len', '32', '--seed', '9', '--json']);
    expect(p.code, p.err.join('\n')).toBe(0);
    expect(p.json.metrics).toEqual(trained.metrics);
    expect(p.err.some((l) => l.startsWith('note: no --model: using the adapter\'s base model'))).toBe(true);
  });

  it('predict: JSON lines with label and probabilities; pairs two at a time; merged model predicts the same', async () => {
    const r = await cli(['predict', '--adapter', run, 'a gorgeous, witty film', 'dull and lifeless']);
    expect(r.code, r.err.join('\n')).toBe(0);
    const lines = r.out.map((l) => JSON.parse(l));
    expect(lines.map((l) => l.text)).toEqual(['a gorgeous, witty film', 'dull and lifeless']);
    for (const l of lines) {
      expect(['0', '1']).toContain(l.label);
      expect(l.probabilities[0] + l.probabilities[1]).toBeCloseTo(1, 12);
    }
    const out = join(tmp(), 'merged');
    const m = await cli(['merge', '--adapter', run, '--out', out, '--json']);
    expect(m.code, m.err.join('\n')).toBe(0);
    expect(m.json.files.map((f: string) => f.split('/').pop())).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.txt']));
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).finetuning_task).toBe('sst2');
    const again = await cli(['predict', '--model', out, 'a gorgeous, witty film', 'dull and lifeless']);
    expect(again.code, again.err.join('\n')).toBe(0);
    again.out.map((l) => JSON.parse(l)).forEach((l, i) => {
      expect(l.label).toBe(lines[i].label);
      expect(relativeError(l.logits, lines[i].logits)).toBeLessThanOrEqual(1e-5);
    });
    // a merged model is a plain model directory: train --model takes it
    const t = await cli(['train', ...common, '--model', out, '--max-steps', '1', '--out', tmp(), '--json']);
    expect(t.code, t.err.join('\n')).toBe(0);
    const pair = await cli(['predict', '--task', 'mrpc', 'one', 'two', 'three']);
    expect(pair.err).toEqual([
      'note: bert.pooler.dense, classifier: not in the base model, so drawn at random (seed 0); results depend on --seed and the head is untrained',
      'prilora predict: ConfigError: a pair task takes its inputs two at a time (first, second, first, second, …); got 3',
    ]);
  });

  it('train --adapter DIR continues the adapter (a tiny learning rate keeps its metrics); shape options are refused', async () => {
    // the word embeddings train too, at the model's own rate (prilora.json) unless --embedding-lr says otherwise
    const r = await cli(['train', ...common, '--adapter', exported, '--method', 'lora', '--lr', '1e-12', '--embedding-lr', '1e-12', '--max-steps', '1', '--out', tmp(), '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.json.metrics).toEqual(trained.metrics);
    expect(r.json.options.adapterDir).toBe(exported);
    const shaped = await cli(['train', ...common, '--adapter', exported, '--method', 'lora', '--rank', '4', '--out', tmp()]);
    expect(shaped.err).toEqual(['prilora train: ConfigError: --rank: the adapter in --adapter fixes its own shape (adapter_config.json); drop this option']);
    const full = await cli(['train', ...common, '--adapter', exported, '--method', 'full', '--out', tmp()]);
    expect(full.err[0]).toMatch(/^prilora train: ConfigError: --adapter: method full trains every weight/);
  });

  it('hub ids: --model and --adapter from the (fake) hub into HF_HOME; a second run needs no download', async () => {
    const r = await cli(['evaluate', '--model', 'test-org/default-bert', '--adapter', 'test-org/sst2-adapter', '--task', 'sst2', '--eval-limit', '64', '--max-len', '32', '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.json.metrics).toEqual(trained.metrics);
    expect(r.json.model).toMatch(/models--test-org--default-bert[\\/]snapshots[\\/][0-9a-f]{40}$/);
    expect(r.err.some((l) => /^downloaded test-org\/default-bert model\.safetensors \(\d+\.\d MB\)$/.test(l))).toBe(true);
    const cdn = hub.requests('cdn').length;
    const t = await cli(['train', ...common, '--model', 'test-org/default-bert', '--max-steps', '1', '--out', tmp(), '--json']);
    expect(t.code, t.err.join('\n')).toBe(0);
    expect(hub.requests('cdn').length).toBe(cdn);
    expect(existsSync(join(process.env.HF_HOME!, 'hub', 'models--test-org--sst2-adapter', 'refs', 'main'))).toBe(true);
  });
});
