import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { main } from '../src/cli/main.ts';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { disposeBatch, makeBatch } from '../src/train/batches.ts';
import { readCheckpoint } from '../src/train/checkpoint.ts';
import { readLog } from '../src/train/log.ts';
import { trainOptions, type TrainInput } from '../src/train/options.ts';
import { NonFiniteError } from '../src/core/errors.ts';
import { runSplits, train } from '../src/train/trainer.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'prilora-train-'));

/** A small, fast run on the bundled model and data. */
function quick(task: P.GlueTask, method: P.Method, extra: Omit<TrainInput, 'task'> = {}): TrainInput & { out: string } {
  return { task, method, out: tmp(), trainLimit: 96, evalLimit: 48, batch: 16, maxLen: 32, maxSteps: 6, logEvery: 100, ...extra };
}

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
  return { code, out, err, json: code === 0 ? JSON.parse(out[out.length - 1]) : null };
}

describe('prilora train', () => {
  it.each([
    ['sst2', 'prilora', 'accuracy'],
    ['sst2', 'lora', 'accuracy'],
    ['sst2', 'full', 'accuracy'],
    ['stsb', 'prilora', 'pearson'],
    ['cola', 'prilora', 'mcc'],
  ] as const)('%s with %s finishes and reports %s (--json last line as CLI.md)', async (task, method, metric) => {
    const o = quick(task, method);
    const r = await cli(['train', '--task', task, '--method', method, '--out', o.out, '--train-limit', '96', '--eval-limit', '48', '--batch', '16', '--max-len', '32', '--max-steps', '6', '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(Object.keys(r.json)).toEqual(expect.arrayContaining(['task', 'method', 'metrics', 'trainable', 'seconds']));
    expect(r.json.task).toBe(task);
    expect(r.json.method).toBe(method);
    expect(Number.isFinite(r.json.metrics[metric])).toBe(true);
    // trainable counts follow from the method and the bundled model's shape: A and B of the six maps per
    // unit of rank, LoRA r = 8 in every layer, PRILoRA 4 → 12 linearly, plus the classifier head
    const cfg = JSON.parse(readFileSync(join(import.meta.dirname, '../assets/models/default/config.json'), 'utf8'));
    const [h, ffn, layers, labels] = [cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, task === 'stsb' ? 1 : 2];
    // the head: the classifier, and the pooler, which a masked-LM checkpoint lacks, so it is drawn fresh and trains
    const head = h * labels + labels + (h * h + h);
    // and the modules the model recommends (its prilora.json): the bundled model's word embeddings
    const recommended = JSON.parse(readFileSync(join(import.meta.dirname, '../assets/models/default/prilora.json'), 'utf8')).modules_to_save;
    expect(recommended).toContain('bert.embeddings.word_embeddings');
    const embeddings = cfg.vocab_size * h;
    const perRank = 4 * (h + h) + (h + ffn) + (ffn + h);
    const ranks = method === 'lora' ? P.uniformRanks(layers, 8) : P.linearRanks(layers, 4, 12);
    if (method !== 'full') expect(r.json.trainable).toBe(ranks.reduce((s, x) => s + x, 0) * perRank + head + embeddings);
    const log = readLog(join(o.out, 'log.jsonl'));
    expect(log.filter((l) => l.type === 'step').length).toBe(6);
    expect(log.some((l) => l.type === 'eval')).toBe(true);
  });

  it('kill and resume: a run stopped at N/2 and resumed ends with bit-identical weights', async () => {
    const o = quick('sst2', 'prilora', { maxSteps: 8, saveEvery: 4, prune: { every: 2 }, seed: 3, trainLimit: 160 });
    const full = await train(o, { print: () => {} });
    const finalA = readFileSync(join(o.out, 'checkpoint', 'state.safetensors'));
    const o2 = { ...o, out: tmp() };
    await train(o2, { print: () => {}, afterStep: (s) => (s === 4 ? 'stop' : undefined) });
    const resumed = await train({ ...o2, resume: true }, { print: () => {} });
    expect(resumed.steps).toBe(8);
    expect(full.steps).toBe(8);
    const finalB = readFileSync(join(o2.out, 'checkpoint', 'state.safetensors'));
    expect(Buffer.compare(finalA, finalB)).toBe(0);
    // and the state really moved: adapters were trained and pruned
    const st = readSafetensorsFile(join(o2.out, 'checkpoint', 'state.safetensors'));
    expect([...st.tensors.keys()].some((k) => k.startsWith('stats.'))).toBe(true);
    expect(readLog(join(o2.out, 'log.jsonl')).filter((l) => l.type === 'step').map((l) => (l as { step: number }).step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('--holdout evaluates on a fixed share of train (never dev), the same whatever the seed', () => {
    const a = runSplits(trainOptions({ task: 'rte', holdout: 0.1, seed: 1 }), 'dev');
    const b = runSplits(trainOptions({ task: 'rte', holdout: 0.1, seed: 7 }), 'dev');
    const all = P.loadGlueSplit('rte', 'train');
    const key = (e: P.GlueExample) => `${e.textA}\t${e.textB}\t${e.label}`;
    // RTE's pairs do not nest: a plain draw of 10 %, less the duplicates of held-out pairs
    expect(Math.abs(a.evaluation.length - Math.round(0.1 * all.length))).toBeLessThanOrEqual(all.length - new Set(all.map(key)).size);
    const held = new Set(a.evaluation.map(key));
    expect(a.train.some((e) => held.has(key(e)))).toBe(false);
    expect(a.train.length + a.evaluation.length + a.dropped).toBe(all.length);
    expect(b.evaluation.map(key)).toEqual(a.evaluation.map(key));
    const dev = new Set(P.loadGlueSplit('rte', 'dev').map(key));
    expect(a.evaluation.some((e) => dev.has(key(e)))).toBe(false);
    expect(runSplits(trainOptions({ task: 'rte' }), 'dev').evaluation.length).toBe(dev.size);
  });

  it("--holdout on SST-2 holds out whole sentences, and none of their phrases trains", () => {
    const all = P.loadGlueSplit('sst2', 'train');
    const s = runSplits(trainOptions({ task: 'sst2', holdout: 0.1 }), 'dev');
    const text = (e: P.GlueExample) => ` ${e.textA.toLowerCase().split(/\s+/).filter(Boolean).join(' ')} `;
    const heldTexts = s.evaluation.map(text);
    const trainTexts = s.train.map(text);
    expect(s.train.length + s.evaluation.length + s.dropped).toBe(all.length);
    // SST-2's 67,349 examples hold ~6,900 sentences; their phrases (~7,000) go with the held-out tenth
    expect(s.evaluation.length).toBeGreaterThan(500);
    expect(s.evaluation.length).toBeLessThan(1000);
    expect(s.dropped).toBeGreaterThan(s.evaluation.length);
    // the plain-string check, on a sample of the held-out sentences against every training text
    const sample = heldTexts.filter((_, i) => i % 7 === 0);
    for (const h of sample) expect(trainTexts.find((t) => h.includes(t)), h).toBeUndefined();
    // and each is a whole text: inside no other example of the split (train or held out)
    const others = all.map(text);
    for (const h of sample) expect(others.filter((t) => t !== h && t.includes(h)), h).toEqual([]);
    // dev-like: its sentences are as long as dev's (20.5 words on average), the training split's phrases far shorter
    const words = (ts: string[]) => ts.reduce((n, t) => n + t.trim().split(' ').length, 0) / ts.length;
    expect(words(heldTexts)).toBeGreaterThan(15);
    expect(words(trainTexts)).toBeLessThan(12);
  });

  it('--dropout overrides the encoder dropout (not the adapters\')', async () => {
    const o = quick('sst2', 'prilora', { maxSteps: 1, dropout: 0, adapter: { dropout: 0.2 } });
    const r = await train(o, { print: () => {} });
    const ps = [...r.run.model.namedModules()].filter(([, m]) => m instanceof P.Dropout).map(([n, m]) => [n.endsWith('lora_dropout'), (m as P.Dropout).p]);
    expect(ps.filter(([lora]) => lora).every(([, p]) => p === 0.2)).toBe(true);
    expect(ps.filter(([lora]) => !lora).every(([, p]) => p === 0)).toBe(true);
    expect(ps.length).toBeGreaterThan(10);
  });

  it('a NaN mid-run stops with a clear message and leaves the last good checkpoint intact', async () => {
    const o = quick('sst2', 'lora', { maxSteps: 8, saveEvery: 2 });
    let saved: Buffer | null = null;
    const err = await train(o, {
      print: () => {},
      afterStep: (s) => {
        if (s === 4) saved = readFileSync(join(o.out, 'checkpoint', 'state.safetensors'));
      },
      beforeStep: (s, run) => {
        if (s !== 5) return;
        const w = run.model.stateDict().get('classifier.weight')!;
        w.assignFrom(P.full(w.shape, NaN));
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.message).toMatch(/^step 5: loss is NaN; training stopped, the last good checkpoint \(.*checkpoint, step 4\) is intact$/);
    expect(Buffer.compare(readFileSync(join(o.out, 'checkpoint', 'state.safetensors')), saved!)).toBe(0);
    expect(readCheckpoint(join(o.out, 'checkpoint')).stored.step).toBe(4);
  });

  it('a malformed TSV row and a missing --data file name the file and line', async () => {
    const data = tmp();
    mkdirSync(join(data, 'SST-2'));
    writeFileSync(join(data, 'SST-2', 'train.tsv'), 'sentence\tlabel\ngood movie\t1\nbroken row without label\n');
    writeFileSync(join(data, 'SST-2', 'dev.tsv'), 'sentence\tlabel\nfine\t1\n');
    const bad = await cli(['train', '--task', 'sst2', '--data', data, '--out', tmp(), '--max-steps', '1']);
    expect(bad.code).toBe(1);
    expect(bad.err[0]).toMatch(/SST-2\/train\.tsv:3: /);
    const missing = await cli(['train', '--task', 'rte', '--data', data, '--out', tmp(), '--max-steps', '1']);
    expect(missing.code).toBe(1);
    expect(missing.err[0]).toMatch(/RTE\/train\.tsv/);
  });

  it('the report draws loss, metrics, learning rate and the rank / sparsity heatmaps', async () => {
    const o = quick('sst2', 'prilora', { maxSteps: 6, prune: { every: 2 } });
    await train(o, { print: () => {} });
    const html = readFileSync(join(o.out, 'report.html'), 'utf8');
    for (const title of ['training loss', 'dev metrics', 'learning rate', 'LoRA rank (layer × module)', 'A-sparsity per adapter at each pruning step']) {
      expect(html).toContain(`<figcaption>${title.replace(/&/g, '&amp;')}</figcaption>`);
    }
    expect(html).not.toMatch(/https?:\/\//);
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(6);
  });

  it('export-peft writes PEFT files from a run, and they import back', async () => {
    const o = quick('sst2', 'prilora', { maxSteps: 4 });
    await train(o, { print: () => {} });
    const outDir = tmp();
    const r = await cli(['export-peft', o.out, outDir, '--json']);
    expect(r.code).toBe(0);
    expect(r.json.files.map((f: string) => f.split('/').pop())).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const cfg = JSON.parse(readFileSync(join(outDir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16 });
    const layers = JSON.parse(readFileSync(join(import.meta.dirname, '../assets/models/default/config.json'), 'utf8')).num_hidden_layers;
    expect(Object.values(cfg.rank_pattern)).toEqual(P.linearRanks(layers, 4, 12));
  });
});

describe('makeBatch padding', () => {
  const rows = [{ ids: [5, 6, 7], typeIds: [0, 0, 0] }, { ids: [8], typeIds: [0] }];
  it('pads to the longest row, or up to a multiple of padTo but never past max; padding is padId with mask 0', async () => {
    const shapeOf = (padTo?: { multiple: number; max: number }) => {
      const b = makeBatch(rows, 1, undefined, () => ({}), padTo);
      const out = { shape: b.inputIds.shape, ids: [...b.inputIds.dataSync()], mask: [...b.attentionMask.dataSync()], tokens: b.tokens };
      disposeBatch(b);
      return out;
    };
    expect(shapeOf()).toEqual({ shape: [2, 3], ids: [5, 6, 7, 8, 1, 1], mask: [1, 1, 1, 1, 0, 0], tokens: 4 });
    expect(shapeOf({ multiple: 4, max: 128 })).toEqual({ shape: [2, 4], ids: [5, 6, 7, 1, 8, 1, 1, 1], mask: [1, 1, 1, 0, 1, 0, 0, 0], tokens: 4 });
    expect(shapeOf({ multiple: 8, max: 5 }).shape).toEqual([2, 5]);
    // a max below the longest row never cuts a row (rows are truncated before, by --max-len)
    expect(shapeOf({ multiple: 8, max: 2 }).shape).toEqual([2, 3]);
  });
});
