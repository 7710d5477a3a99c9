/**
 * Masked-LM pretraining on the shared step loop: a tiny model on one bundled source, resumed runs equal to
 * uninterrupted ones, and a packed state (the form committed beside the default model) that a fresh
 * directory continues from.
 */
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { packState, PACKED_FILE } from '../src/pretrain/packed.ts';
import { loadBertForSequenceClassification } from '../src/nn/pretrained.ts';
import { pretrain } from '../src/pretrain/pretrainer.ts';
import { readCheckpoint } from '../src/train/checkpoint.ts';
import { readLog } from '../src/train/log.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'prilora-pretrain-'));
const RECIPE = { corpus: ['wikitext'] as const, vocabSize: 2600, hidden: 16, layers: 1, heads: 2, ffn: 32, maxLen: 32, positions: 32, batch: 4, warmup: 2, evalEvery: 3, saveEvery: 2 };
const silent = { print: () => {} };
const stateBytes = (out: string) => readFileSync(join(out, 'checkpoint', 'state.safetensors'));

describe('prilora pretrain', () => {
  it('trains, evaluates held-out masked tokens, exports a model (an interrupted export redone on resume); a resumed run ends bit-identical', async () => {
    const a = tmp();
    const r = await pretrain({ ...RECIPE, out: a, steps: 6 }, silent);
    expect(r.step).toBe(6);
    expect(r.metrics!.mlm_accuracy).toBeGreaterThanOrEqual(0);
    expect(r.metrics!.masked_tokens).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(a, 'model', 'config.json'), 'utf8'))).toMatchObject({ hidden_size: 16, max_position_embeddings: 32, hidden_dropout_prob: 0.1 });
    expect(readLog(join(a, 'log.jsonl')).filter((l) => l.type === 'step').length).toBe(6);
    const weights = readFileSync(join(a, 'model', 'model.safetensors'));

    // an export killed between its two renames: the old directory moved aside, the new one half written
    renameSync(join(a, 'model'), join(a, 'model.old'));
    cpSync(join(a, 'model.old'), join(a, 'model.tmp'), { recursive: true });
    writeFileSync(join(a, 'model.tmp', 'model.safetensors'), 'half');
    await pretrain({ ...RECIPE, out: a, steps: 6, resume: true }, silent);
    expect(readdirSync(a).filter((f) => f.startsWith('model')).sort()).toEqual(['model']);
    expect(Buffer.compare(readFileSync(join(a, 'model', 'model.safetensors')), weights)).toBe(0);
    expect(readdirSync(join(a, 'model'))).toContain('pretrain-log.jsonl');

    const b = tmp();
    await pretrain({ ...RECIPE, out: b, steps: 6 }, { ...silent, afterStep: (s) => (s === 5 ? 'stop' : undefined) }); // killed after step 5
    await pretrain({ ...RECIPE, out: b, steps: 6, resume: true }, silent);
    expect(Buffer.compare(stateBytes(a), stateBytes(b))).toBe(0);
    expect(readLog(join(b, 'log.jsonl')).filter((l) => l.type === 'step').map((l) => (l as { step: number }).step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a packed state (float16 weights, bfloat16 moments) continues in a fresh directory; other recipes are refused', async () => {
    const run = tmp();
    await pretrain({ ...RECIPE, out: run, steps: 6 }, { ...silent, afterStep: (s) => (s === 4 ? 'stop' : undefined) });
    const modelDir = join(run, 'packed');
    mkdirSync(modelDir);
    // what a finished run's model directory holds besides the weights
    for (const f of ['tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(run, 'tokenizer', f), join(modelDir, f));
    copyFileSync(join(run, 'log.jsonl'), join(modelDir, 'pretrain-log.jsonl'));
    const packed = packState(run, modelDir);
    const f = readSafetensorsFile(packed);
    expect(new Set([...f.tensors.values()].map((i) => i.dtype))).toEqual(new Set(['F16', 'BF16']));
    expect(f.info([...f.tensors.keys()].find((n) => n.startsWith('adam_v.'))!).dtype).toBe('BF16');

    const next = tmp();
    const r = await pretrain({ ...RECIPE, out: next, steps: 6, from: modelDir }, silent);
    expect(r.step).toBe(6);
    expect(readCheckpoint(join(next, 'checkpoint')).stored.step).toBe(6);
    expect(readLog(join(next, 'log.jsonl')).filter((l) => l.type === 'step').length).toBe(6);
    await expect(pretrain({ ...RECIPE, lr: 1e-3, out: tmp(), steps: 6, from: modelDir }, silent)).rejects.toThrow(/other options: lr \(checkpoint 0\.0005, now 0\.001\)/);
    expect(PACKED_FILE).toBe('pretrain-state.safetensors');
  });

  it('--init starts a new run from a model directory; --nsp adds next-sentence prediction and exports the pooler', async () => {
    const base = tmp();
    await pretrain({ ...RECIPE, out: base, steps: 2 }, silent);
    const init = join(base, 'model');
    const out = tmp();
    // a learning rate too small to move a weight beyond float16's rounding: the export holds the init's weights
    const r = await pretrain({ ...RECIPE, out, steps: 3, nsp: true, init, lr: 1e-12 }, silent);
    expect(r.metrics!.nsp_accuracy).toBeGreaterThanOrEqual(0);
    expect(r.metrics!.nsp_accuracy).toBeLessThanOrEqual(1);
    expect(r.metrics!.nsp_majority_accuracy).toBeGreaterThanOrEqual(0.5);
    const before = readSafetensorsFile(join(init, 'model.safetensors'));
    const after = readSafetensorsFile(join(out, 'model', 'model.safetensors'));
    for (const name of before.tensors.keys()) {
      const [x, y] = [before.getFloat32(name), after.getFloat32(name)];
      expect(Math.max(...x.map((v, i) => Math.abs(v - y[i]))), name).toBeLessThan(1e-6);
    }
    expect([...after.tensors.keys()].filter((n) => !before.tensors.has(n)).sort()).toEqual(['bert.pooler.dense.bias', 'bert.pooler.dense.weight', 'cls.seq_relationship.bias', 'cls.seq_relationship.weight']);
    expect(readFileSync(join(out, 'tokenizer', 'vocab.txt'), 'utf8')).toBe(readFileSync(join(init, 'vocab.txt'), 'utf8'));
    expect(JSON.parse(readFileSync(join(out, 'model', 'config.json'), 'utf8')).architectures).toEqual(['BertForPreTraining']);
    // fine-tuning takes the pretrained pooler instead of drawing one
    expect(loadBertForSequenceClassification(join(out, 'model'), { numLabels: 2 }).report.missing).toEqual(['classifier.weight', 'classifier.bias']);

    await expect(pretrain({ ...RECIPE, hidden: 32, heads: 2, out: tmp(), steps: 1, init }, silent)).rejects.toThrow(/init: .*config\.json is not this recipe's shape: hidden_size 16 \(recipe 32\)/);
    await expect(pretrain({ ...RECIPE, out: tmp(), steps: 1, init, from: init }, silent)).rejects.toThrow(/init and from exclude each other/);
  });
});
