import { cpSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { checkFixture, LIMITS } from '../src/verify/fixture-check.ts';
import { readSafetensorsFile, writeSafetensorsFile, type SafetensorEntry } from '../src/io/safetensors.ts';
import { parseBertConfig } from '../src/nn/bert.ts';
import { loadBertForSequenceClassification } from '../src/nn/pretrained.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures/hf');

/** A copy of a fixture directory whose model.safetensors is rewritten by `edit`. */
function editedCheckpoint(fixture: string, edit: (entries: SafetensorEntry[]) => SafetensorEntry[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'prilora-ckpt-'));
  cpSync(join(FIXTURES, fixture, 'config.json'), join(dir, 'config.json'));
  const f = readSafetensorsFile(join(FIXTURES, fixture, 'model.safetensors'));
  const entries: SafetensorEntry[] = [...f.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: f.getFloat32(t.name) }));
  writeSafetensorsFile(join(dir, 'model.safetensors'), edit(entries));
  return dir;
}

describe('BERT against the HF float64 fixtures', () => {
  for (const fixture of ['bert_cls', 'bert_reg']) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${fixture} ${dtype}: forward, gradients, PEFT adapter, merge and AdamW within the README's limits`, async () => {
        const r = await checkFixture(join(FIXTURES, fixture), { dtype });
        const count = (part: string) => r.comparisons.filter((c) => c.part === part).length;
        // logits, loss, 4 hidden states, 3 attention maps; every parameter; the adapter's 36 + head's 2
        // gradients with logits and loss; every merged parameter; 4 × (lr, loss, norm) + 38 parameters
        expect([count('forward'), count('grad'), count('lora'), count('merged'), count('adamw')]).toEqual([9, 57, 40, 57, 50]);
        for (const c of r.comparisons) {
          expect(c.limit).toBe(c.part === 'lora' && /^(logits|loss)$/.test(c.name) ? LIMITS[dtype].forward : LIMITS[dtype][c.part]);
          expect(c.error, c.name).toBeLessThanOrEqual(c.limit);
        }
        expect(r.pass).toBe(true);
      });
    }
  }

  it('parameter names equal the checkpoint keys exactly', () => {
    const { model } = loadBertForSequenceClassification(join(FIXTURES, 'bert_cls'));
    const keys = [...readSafetensorsFile(join(FIXTURES, 'bert_cls/model.safetensors')).tensors.keys()].sort();
    expect([...model.stateDict().keys()].sort()).toEqual(keys);
  });
});

describe('checkpoint errors name the parameter', () => {
  it('a missing weight', () => {
    const dir = editedCheckpoint('bert_cls', (e) => e.filter((t) => t.name !== 'bert.encoder.layer.1.output.dense.bias'));
    expect(() => loadBertForSequenceClassification(dir)).toThrow(/missing 1 parameter\(s\): bert\.encoder\.layer\.1\.output\.dense\.bias/);
  });

  it('an extra weight', () => {
    const dir = editedCheckpoint('bert_cls', (e) => [...e, { name: 'bert.encoder.layer.9.extra.weight', dtype: 'F32', shape: [2], data: new Float32Array(2) }]);
    expect(() => loadBertForSequenceClassification(dir)).toThrow(/unexpected parameter\(s\) bert\.encoder\.layer\.9\.extra\.weight/);
  });

  it('a wrong shape', () => {
    const dir = editedCheckpoint('bert_cls', (e) =>
      e.map((t) => (t.name === 'classifier.weight' ? { ...t, shape: [2, 32], data: new Float32Array(64) } : t)),
    );
    expect(() => loadBertForSequenceClassification(dir)).toThrow(/classifier\.weight has shape \[2, 32\] in the source but \[3, 32\] in the model/);
  });

  it('legacy gamma/beta names and a bare-encoder checkpoint (no head) load; the new head is reported', () => {
    const dir = editedCheckpoint('bert_cls', (e) =>
      e
        .filter((t) => !t.name.startsWith('classifier.') && !t.name.startsWith('bert.pooler.'))
        .map((t) => ({ ...t, name: t.name.replace(/^bert\./, '').replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta') })),
    );
    const { model, report } = loadBertForSequenceClassification(dir, { seed: 3 });
    expect(report.missing.sort()).toEqual(['bert.pooler.dense.bias', 'bert.pooler.dense.weight', 'classifier.bias', 'classifier.weight']);
    const ref = readSafetensorsFile(join(FIXTURES, 'bert_cls/model.safetensors'));
    expect([...model.bert.embeddings.norm.weight.dataSync()]).toEqual([...ref.getFloat32('bert.embeddings.LayerNorm.weight')]);
    // the fresh head is drawn from N(0, 0.02²), not left at zero
    const w = [...model.classifier.weight.dataSync()];
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.01);
    expect(Math.max(...w.map(Math.abs))).toBeLessThan(0.2);
  });
});

describe('config.json', () => {
  const base = { model_type: 'bert', vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16 };
  it('reads the options and derives num_labels / problem_type as transformers does', () => {
    const c = parseBertConfig({ ...base, id2label: { 0: 'a', 1: 'b', 2: 'c' } });
    expect(c).toMatchObject({ numLabels: 3, problemType: 'single_label_classification', hiddenAct: 'gelu', layerNormEps: 1e-12, typeVocabSize: 2 });
    expect(parseBertConfig({ ...base, num_labels: 1 }).problemType).toBe('regression');
  });
  it('names the file and field in errors', () => {
    const { hidden_size: _, ...noHidden } = base;
    expect(() => parseBertConfig(noHidden, 'x/config.json')).toThrow('x/config.json: missing field "hidden_size"');
    expect(() => parseBertConfig({ ...base, hidden_act: 'swish' }, 'c.json')).toThrow('c.json: unsupported hidden_act "swish" (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)');
    expect(() => parseBertConfig({ ...base, model_type: 'gpt2' }, 'c.json')).toThrow('c.json: model_type "gpt2" is not bert');
    expect(() => parseBertConfig({ ...base, num_attention_heads: 3 }, 'c.json')).toThrow(/not a multiple/);
    expect(() => parseBertConfig({ ...base, position_embedding_type: 'relative_key' }, 'c.json')).toThrow(/unsupported position_embedding_type/);
  });
  it('a directory without weights says what is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prilora-empty-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(base));
    expect(() => loadBertForSequenceClassification(dir)).toThrow(/no model\.safetensors/);
    expect(readdirSync(dir)).toEqual(['config.json']);
  });
});

describe('train / eval mode', () => {
  it('dropout is active only in training; eval forward is deterministic', () => {
    const cfg = parseBertConfig({ model_type: 'bert', vocab_size: 20, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16, hidden_dropout_prob: 0.5 });
    const model = new P.BertForSequenceClassification(cfg, { generator: new P.Generator(1) });
    const ids = P.tensor(Int32Array.from([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    const run = () => P.tidy(() => [...model.forward({ inputIds: ids }).logits.dataSync()]);
    model.eval();
    expect(run()).toEqual(run());
    model.train();
    expect(run()).not.toEqual(run());
  });
});
