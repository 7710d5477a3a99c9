/**
 * Pretraining on the shared step loop: a tiny model on one bundled source, resumed runs equal to
 * uninterrupted ones, a packed state (the form committed beside the default model) that a fresh directory
 * continues from, and replaced-token detection's sampling, labels and export.
 */
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { packState, PACKED_FILE } from '../src/pretrain/packed.ts';
import { loadBertForSequenceClassification } from '../src/nn/pretrained.ts';
import { pretrain } from '../src/pretrain/pretrainer.ts';
import { pretrainOptions } from '../src/pretrain/options.ts';
import { readCheckpoint } from '../src/train/checkpoint.ts';
import { readLog } from '../src/train/log.ts';
import { cpuBackend } from '../src/backends/cpu/index.ts';
import { HostRng } from '../src/core/random.ts';
import { TextTokenizer } from '../src/data/tokenizer.ts';
import { loadCorpus } from '../src/pretrain/corpus.ts';
import { makeInstances, noisyCopy } from '../src/pretrain/instances.ts';
import { sampleId, TokenReplacer } from '../src/pretrain/rtd.ts';
import { SPECIAL_TOKENS } from '../src/pretrain/vocab.ts';

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

  it('--pair-overlap: B a noisy copy of A (15 % of tokens dropped, 10 % replaced, the rest in order)', () => {
    const o = { maxLen: 128, maskProb: 0.15, clsId: 2, sepId: 3, maskId: 4, firstRegularId: 5, vocabSize: 2 ** 30 };
    const a = Array.from({ length: 20_000 }, (_, i) => 5 + i);
    const b = noisyCopy(a, o, new HostRng(1));
    const fromA = b.filter((id) => id < 5 + a.length);
    // replacements land among A's ids with odds 2e-5 each; 20,000 draws: each share's standard error is below 0.003
    expect(Math.abs(b.length / a.length - 0.85)).toBeLessThan(0.01);
    expect(Math.abs((b.length - fromA.length) / a.length - 0.1)).toBeLessThan(0.01);
    expect(fromA.every((id, k) => k === 0 || id > fromA[k - 1])).toBe(true);
    expect(b.every((id) => id >= o.firstRegularId && id < o.vocabSize)).toBe(true);

    // in the instances: every B copies its A when on, and (almost) none does by default
    const tok = TextTokenizer.fromFile('assets/models/default/tokenizer.json');
    const docs = loadCorpus(0, ['wikitext']).heldOut.map((d) => d.map((s) => tok.tokenizeIds(s)));
    const masking = { ...o, clsId: tok.clsId, sepId: tok.sepId, maskId: tok.tokenToId('[MASK]')!, firstRegularId: SPECIAL_TOKENS.length, vocabSize: tok.vocabSize };
    const copied = (overlap: number) =>
      makeInstances({ docs }, { ...masking, overlap }, 0, 0).map((r) => {
        const ids = Array.from(r.ids);
        r.maskedPositions.forEach((p, k) => (ids[p] = r.maskedLabels[k]));
        const sep = ids.indexOf(tok.sepId);
        const [segA, segB] = [ids.slice(1, sep), ids.slice(sep + 1, -1)];
        // B's tokens found in A in order (a greedy walk), as a share of B
        let [j, hits] = [0, 0];
        for (const id of segB) {
          const at = segA.indexOf(id, j);
          if (at >= 0) [j, hits] = [at + 1, hits + 1];
        }
        return { whole: segA.length >= 10 && ids.length < 128, share: hits / Math.max(1, segB.length) };
      });
    const on = copied(1).filter((r) => r.whole);
    expect(on.length).toBeGreaterThan(100);
    const mean = (rows: { share: number }[]) => rows.reduce((t, r) => t + r.share, 0) / rows.length;
    // 90 % of a copy's tokens are A's, less what the walk loses to repeated tokens
    expect(mean(on)).toBeGreaterThan(0.85);
    expect(on.every((r) => r.share >= 0.5)).toBe(true);
    const off = copied(0).filter((r) => r.whole);
    expect(mean(off)).toBeLessThan(0.3);
    expect(off.filter((r) => r.share >= 0.5).length / off.length).toBeLessThan(0.05);
    expect(() => pretrainOptions({ pairOverlap: 0.25, nsp: true })).toThrow(/pairOverlap and nsp exclude each other/);
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

describe('prilora pretrain --generator (replaced-token detection)', () => {
  it('samples a token as often as the softmax over regular ids says, never a special one', () => {
    const z = Float32Array.from([9, 9, 0.5, -1, 2, 0, 1.5]); // ids 0 and 1 special: their large logits must not count
    const first = 2;
    const rng = new HostRng(7);
    const n = 40_000;
    const counts = new Array(z.length).fill(0);
    for (let i = 0; i < n; i++) counts[sampleId(z, 0, z.length, first, rng)]++;
    const e = [...z].slice(first).map((v) => Math.exp(v));
    const total = e.reduce((a, b) => a + b, 0);
    expect(counts.slice(0, first)).toEqual([0, 0]);
    // 40,000 draws: a share's standard error is at most 0.0025
    e.forEach((v, k) => expect(Math.abs(counts[first + k] / n - v / total), `id ${first + k}`).toBeLessThan(0.01));
    // an offset row of a larger block reads only its own logits
    const block = Float32Array.from([...z.map(() => 50), ...z]);
    expect(sampleId(block, z.length, z.length, first, new HostRng(7))).toBe(sampleId(z, 0, z.length, first, new HostRng(7)));
  });

  it('replaces exactly the masked positions, labels where a sample differs, learns, resumes bit-identically and exports an encoder fine-tuning loads', async () => {
    const base = tmp();
    await pretrain({ ...RECIPE, out: base, steps: 4 }, silent);
    const generator = join(base, 'model');

    // the corruption itself, against the instances it came from
    const tok = TextTokenizer.fromFile(join(generator, 'tokenizer.json'));
    const docs = loadCorpus(0, ['wikitext']).heldOut.map((d) => d.map((s) => tok.tokenizeIds(s)));
    const masking = { maxLen: 32, maskProb: 0.15, clsId: tok.clsId, sepId: tok.sepId, maskId: tok.tokenToId('[MASK]')!, firstRegularId: SPECIAL_TOKENS.length, vocabSize: tok.vocabSize };
    const rows = makeInstances({ docs }, masking, 0, 0).slice(0, 12);
    const replacer = TokenReplacer.load(generator, 2600, SPECIAL_TOKENS.length, cpuBackend());
    const corrupted = await replacer.corrupt(rows, tok.padId, cpuBackend(), new HostRng(3));
    let masked = 0;
    rows.forEach((r, i) => {
      const c = corrupted[i];
      const original = Int32Array.from(r.ids);
      r.maskedPositions.forEach((p, k) => (original[p] = r.maskedLabels[k]));
      const at = new Set(r.maskedPositions);
      masked += at.size;
      for (let p = 0; p < original.length; p++) {
        if (!at.has(p)) expect([c.ids[p], c.replaced[p]]).toEqual([original[p], 0]);
        else {
          expect(c.ids[p]).toBeGreaterThanOrEqual(SPECIAL_TOKENS.length);
          expect(c.replaced[p]).toBe(c.ids[p] === original[p] ? 0 : 1);
        }
      }
      expect(Array.from(c.typeIds)).toEqual(Array.from(r.typeIds));
    });
    expect(masked).toBeGreaterThan(0);

    const a = tmp();
    const options = { ...RECIPE, generator, init: generator, lr: 5e-3, steps: 20, evalEvery: 10 };
    const r = await pretrain({ ...options, out: a }, silent);
    const m = r.metrics!;
    // the fresh head starts near chance; after 20 steps it knows most tokens are originals
    expect(m.rtd_original_share).toBeGreaterThan(0.8);
    expect(m.rtd_original_share).toBeLessThan(1);
    expect(m.rtd_accuracy).toBeGreaterThanOrEqual(m.rtd_original_share - 0.02);
    const first = readLog(join(a, 'log.jsonl')).find((l) => l.type === 'eval') as { metrics: Record<string, number> };
    expect(m.rtd_loss).toBeLessThan(first.metrics.rtd_loss);

    const b = tmp();
    await pretrain({ ...options, out: b }, { ...silent, afterStep: (s) => (s === 13 ? 'stop' : undefined) });
    await pretrain({ ...options, out: b, resume: true }, silent);
    expect(Buffer.compare(stateBytes(a), stateBytes(b))).toBe(0);

    const exported = readSafetensorsFile(join(a, 'model', 'model.safetensors'));
    const names = [...exported.tensors.keys()];
    expect(names.filter((n) => !n.startsWith('bert.')).sort()).toEqual(['discriminator_predictions.dense.bias', 'discriminator_predictions.dense.weight', 'discriminator_predictions.dense_prediction.bias', 'discriminator_predictions.dense_prediction.weight']);
    expect(names.some((n) => n.startsWith('bert.pooler.'))).toBe(false);
    expect(JSON.parse(readFileSync(join(a, 'model', 'config.json'), 'utf8')).architectures).toEqual(['BertModel']);
    expect(loadBertForSequenceClassification(join(a, 'model'), { numLabels: 2 }).report.missing.sort()).toEqual(['bert.pooler.dense.bias', 'bert.pooler.dense.weight', 'classifier.bias', 'classifier.weight']);
  });

  it('refuses a generator of another vocabulary and the next-sentence head beside it', async () => {
    const wiki = tmp();
    await pretrain({ ...RECIPE, out: wiki, steps: 1 }, silent);
    const brown = tmp();
    await pretrain({ ...RECIPE, corpus: ['brown'], out: brown, steps: 1 }, silent);
    await expect(pretrain({ ...RECIPE, out: tmp(), steps: 1, init: join(wiki, 'model'), generator: join(brown, 'model') }, silent)).rejects.toThrow(/generator: .*vocab\.txt differs from the run's vocabulary/);
    await expect(pretrain({ ...RECIPE, vocabSize: 2500, out: tmp(), steps: 1, generator: join(wiki, 'model') }, silent)).rejects.toThrow(/generator: .*config\.json has vocab_size 2600, the run's vocabulary 2500/);
    await expect(pretrain({ ...RECIPE, out: tmp(), steps: 1, nsp: true, generator: join(wiki, 'model') }, silent)).rejects.toThrow(/generator and nsp exclude each other/);
    await expect(pretrain({ ...RECIPE, out: tmp(), steps: 1, init: join(wiki, 'model'), generator: wiki }, silent)).rejects.toThrow(/generator: .* has no vocab\.txt: not a model directory/);
  });
});
