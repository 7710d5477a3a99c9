import fc from 'fast-check';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { readSafetensorsFile } from '../src/io/safetensors.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures/hf/bert_cls');

function tinyBert(layers = 3, seed = 1): P.BertForSequenceClassification {
  const cfg = P.parseBertConfig({ model_type: 'bert', vocab_size: 30, hidden_size: 8, num_hidden_layers: layers, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 16, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 });
  return new P.BertForSequenceClassification(cfg, { generator: new P.Generator(seed), dtype: 'float64' });
}

describe('rank schedule', () => {
  it('is monotone, hits both endpoints, rounds as documented, and handles one layer', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 48 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), (L, a, b) => {
        const r = P.linearRanks(L, a, b);
        expect(r.length).toBe(L);
        if (L === 1) {
          expect(r[0]).toBe(Math.floor((a + b) / 2 + 0.5));
          return;
        }
        expect(r[0]).toBe(a);
        expect(r[L - 1]).toBe(b);
        for (let l = 1; l < L; l++) expect(Math.sign(r[l] - r[l - 1]) * Math.sign(b - a)).toBeGreaterThanOrEqual(0);
        for (let l = 0; l < L; l++) expect(Math.abs(r[l] - (a + ((b - a) * l) / (L - 1)))).toBeLessThanOrEqual(0.5 + 1e-9);
      }),
    );
    expect(P.linearRanks(12, 4, 12)).toEqual([4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11, 12]);
    expect(P.uniformRanks(4, 8)).toEqual([8, 8, 8, 8]);
    expect(() => P.linearRanks(0, 4, 12)).toThrow(P.ConfigError);
  });
});

describe('PEFT target and pattern matching', () => {
  it('matches target regexes fully and pattern keys as re.match(rf"(.*\\.)?({key})$")', () => {
    const q = 'bert.encoder.layer.1.attention.self.query';
    expect(P.isTarget(P.DEFAULT_TARGETS, q)).toBe(true);
    expect(P.isTarget(P.DEFAULT_TARGETS, 'bert.pooler.dense')).toBe(false);
    expect(P.isTarget(['query', 'value'], q)).toBe(true);
    expect(P.isTarget(['uery'], q)).toBe(false);
    const pattern = { 'layer\\.1\\.[a-z_.]+': 4, 'layer\\.11\\.[a-z_.]+': 9 };
    expect(P.patternValue(pattern, q, 2)).toBe(4);
    expect(P.patternValue(pattern, 'bert.encoder.layer.11.output.dense', 2)).toBe(9);
    expect(P.patternValue(pattern, 'bert.encoder.layer.0.output.dense', 2)).toBe(2);
    expect(P.patternValue({ query: 3 }, q, 2)).toBe(3);
    expect(P.patternValue({ uery: 3 }, q, 2)).toBe(2);
  });
});

describe('LoRA adapter', () => {
  it('A starts in U(±1/√in), B at zero: the adapted model computes exactly what the base did', () => {
    const model = tinyBert();
    const ids = P.tensor(Int32Array.from([1, 5, 7, 2, 3, 4]), { shape: [2, 3] });
    const before = P.tidy(() => [...model.forward({ inputIds: ids }).logits.dataSync()]);
    const setup = P.applyMethod(model, 'lora', { rank: 4, alpha: 8 });
    expect(setup.adapters.length).toBe(3 * 6);
    for (const ad of setup.adapters) {
      const a = [...ad.A.weight.dataSync()];
      const bound = 1 / Math.sqrt(ad.target.inFeatures);
      expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(bound * 0.5);
      expect([...ad.B.weight.dataSync()].every((v) => v === 0)).toBe(true);
      expect(ad.scaling).toBe(2);
    }
    expect(P.tidy(() => [...model.forward({ inputIds: ids }).logits.dataSync()])).toEqual(before);
  });

  it('y = x Wᵀ + b + scaling · x Aᵀ Bᵀ; merge then unmerge restores the weights', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.5, max: 32, noNaN: true }), fc.nat(), (i, o, rank, alpha, seed) => {
        const g = new P.Generator(seed);
        const r = Math.min(rank, i, o); // a rank beyond the layer's width is refused:
        expect(() => new P.LoraAdapter('w', new P.Linear(i, o, { dtype: 'float64' }), { rank: Math.min(i, o) + 1, alpha, generator: new P.Generator(0) })).toThrow(/exceeds the layer's width/);
        const lin = new P.Linear(i, o, { dtype: 'float64', init: { std: 1, generator: g } });
        const ad = new P.LoraAdapter('m', lin, { rank: r, alpha, generator: g });
        ad.B.weight.assignFrom(P.randn([o, r], { dtype: 'float64', generator: g }));
        const x = P.randn([3, i], { dtype: 'float64', generator: g });
        const [W, b, A, B, X] = [lin.weight, lin.bias!, ad.A.weight, ad.B.weight, x].map((t) => t.toArraySync() as number[][]);
        const y = lin.forward(x).toArraySync() as number[][];
        for (let n = 0; n < 3; n++) {
          for (let k = 0; k < o; k++) {
            let ref = (b as unknown as number[])[k];
            for (let j = 0; j < i; j++) ref += X[n][j] * W[k][j];
            for (let q = 0; q < r; q++) for (let j = 0; j < i; j++) ref += (alpha / r) * X[n][j] * A[q][j] * B[k][q];
            expect(y[n][k]).toBeCloseTo(ref, 10);
          }
        }
        const w0 = [...lin.weight.dataSync()];
        ad.merge();
        const merged = lin.forward(x).dataSync();
        y.flat().forEach((v, k) => expect(merged[k]).toBeCloseTo(v, 10));
        ad.unmerge();
        [...lin.weight.dataSync()].forEach((v, k) => expect(v).toBeCloseTo(w0[k], 12));
      }),
      { numRuns: 40 },
    );
  });

  it('input statistics: s ← β s + (1 − β)‖X:,j‖ over real tokens, in training only', () => {
    const g = new P.Generator(4);
    const lin = new P.Linear(3, 2, { dtype: 'float64', init: { std: 1, generator: g } });
    const ad = new P.LoraAdapter('m', lin, { rank: 2, alpha: 2, generator: g, statDecay: 0.9 });
    const batches = [0, 1, 2].map(() => P.keep(P.randn([2, 4, 3], { dtype: 'float64', generator: g })));
    const mask = P.tensor(Int32Array.from([1, 1, 1, 0, 1, 1, 0, 0]), { shape: [2, 4] });
    let s = [0, 0, 0];
    for (const x of batches) {
      P.withTokenMask(mask, () => P.tidy(() => void lin.forward(x)));
      const xs = x.toArraySync() as number[][][];
      const m = mask.toArraySync() as number[][];
      s = s.map((sj, j) => {
        let sq = 0;
        for (let b = 0; b < 2; b++) for (let t = 0; t < 4; t++) if (m[b][t]) sq += xs[b][t][j] ** 2;
        return 0.9 * sj + 0.1 * Math.sqrt(sq);
      });
      [...ad.stats!.dataSync()].forEach((v, j) => expect(v).toBeCloseTo(s[j], 12));
    }
    lin.eval();
    P.withTokenMask(mask, () => P.tidy(() => void lin.forward(batches[0])));
    expect(ad.statUpdates).toBe(3);
  });
});

describe('pruning', () => {
  const matrixArb = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 })).chain(([r, c]) =>
    fc.tuple(
      fc.constant(r),
      fc.constant(c),
      // a small set of values so that ties happen
      fc.array(fc.constantFrom(-2, -1, -0.5, 0, 0.5, 1, 2, 3), { minLength: r * c, maxLength: r * c }),
      fc.array(fc.constantFrom(0, 0.5, 1, 2), { minLength: c, maxLength: c }),
      fc.double({ min: 0, max: 0.99, noNaN: true }),
      fc.boolean(),
    ),
  );

  it('zeroes exactly ⌊ratio·cols⌋ per row, never one more important than a kept entry, ties by index', () => {
    fc.assert(
      fc.property(matrixArb, ([rows, cols, a, s, ratio, useStats]) => {
        const mask = P.pruneMask(a, rows, cols, useStats ? s : null, ratio);
        const k = Math.floor(ratio * cols);
        for (let r = 0; r < rows; r++) {
          const imp = Array.from({ length: cols }, (_, j) => Math.abs(a[r * cols + j]) * (useStats ? s[j] : 1));
          const pruned = [...Array(cols).keys()].filter((j) => mask[r * cols + j] === 0);
          const kept = [...Array(cols).keys()].filter((j) => mask[r * cols + j] === 1);
          expect(pruned.length).toBe(k);
          for (const p of pruned) for (const q of kept) {
            expect(imp[p] < imp[q] || (imp[p] === imp[q] && p < q)).toBe(true);
          }
        }
      }),
    );
  });

  it('prunes only on its schedule', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.nat(30), fc.nat(30), fc.nat(80), (every, start, len, step) => {
        const o = { every, start, end: start + len };
        expect(P.isPruneStep(step, o)).toBe(step >= start && step <= start + len && step % every === 0);
      }),
    );
  });

  it('temporary mode lets entries regrow; permanent mode keeps them and their moments at zero', async () => {
    for (const mode of ['temporary', 'permanent'] as const) {
      const model = tinyBert(2, 5);
      const setup = P.applyMethod(model, 'prilora', { rankStart: 2, rankEnd: 4, alpha: 4 });
      const opt = new P.AdamW(P.paramGroups(model, 0.01), { lr: 0.05 });
      const pruner = new P.Pruner(setup.adapters, { every: 2, start: 2, end: 4, ratio: 0.5, mode, importance: 'weight-times-stat' }, opt);
      const ids = P.tensor(Int32Array.from([1, 5, 7, 2, 3, 4, 8, 9]), { shape: [2, 4] });
      const mask = P.tensor(Int32Array.from([1, 1, 1, 1, 1, 1, 0, 0]), { shape: [2, 4] });
      const labels = P.tensor(Int32Array.from([0, 1]));
      const events: P.PruneEvent[] = [];
      for (let step = 1; step <= 8; step++) {
        P.withTokenMask(mask, () => P.tidy(() => model.forward({ inputIds: ids, attentionMask: mask, labels }).loss!.backward()));
        pruner.maskGradients();
        opt.update();
        opt.zeroGrad();
        const ev = await pruner.maybePrune(step);
        if (ev) events.push(ev);
      }
      expect(events.map((e) => e.step)).toEqual([2, 4]);
      expect(events[0].modules.every((m) => m.sparsity >= 0.5)).toBe(true);
      const sparsities = await Promise.all(setup.adapters.map((a) => a.sparsity()));
      if (mode === 'permanent') {
        expect(sparsities.every((s) => s >= 0.5)).toBe(true);
        for (const ad of setup.adapters) {
          const m = [...opt.mask(ad.A.weight)!.dataSync()];
          const a = [...ad.A.weight.dataSync()];
          m.forEach((keepIt, i) => keepIt === 0 && expect(Math.abs(a[i])).toBe(0));
        }
      } else {
        // four more updates after the last pruning: pruned entries received gradient and moved again
        expect(sparsities.every((s) => s < 0.5)).toBe(true);
      }
    }
  });
});

describe('AdamW', () => {
  it('matches the torch update rule written out by hand', () => {
    const p = P.tensor([0.5, -1.5], { dtype: 'float64', requiresGrad: true });
    const opt = new P.AdamW([{ params: [p], weightDecay: 0.1 }], { lr: 0.01, betas: [0.9, 0.99], eps: 1e-8 });
    let [x, m, v] = [[0.5, -1.5], [0, 0], [0, 0]];
    for (let t = 1; t <= 3; t++) {
      const g = x.map((xi) => 2 * xi);
      p.grad = P.keep(P.tensor(g, { dtype: 'float64' }));
      opt.update();
      opt.zeroGrad();
      x = x.map((xi, i) => {
        const d = xi * (1 - 0.01 * 0.1);
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.99 * v[i] + 0.01 * g[i] ** 2;
        return d - (0.01 / (1 - 0.9 ** t)) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - 0.99 ** t) + 1e-8));
      });
      [...p.dataSync()].forEach((val, i) => expect(val).toBeCloseTo(x[i], 14));
    }
  });

  it('clips to the global norm and saves / loads its state', async () => {
    const a = P.tensor([3, 0], { dtype: 'float64', requiresGrad: true });
    const b = P.tensor([4], { dtype: 'float64', requiresGrad: true });
    a.grad = P.keep(P.tensor([3, 0], { dtype: 'float64' }));
    b.grad = P.keep(P.tensor([4], { dtype: 'float64' }));
    expect(P.clipGradNorm([a, b], 1).item()).toBeCloseTo(5, 12);
    expect([...a.grad!.dataSync(), ...b.grad!.dataSync()].map((v) => +v.toFixed(6))).toEqual([0.6, 0, 0.8]);
    const opt = new P.AdamW([{ params: [a, b], weightDecay: 0 }], { lr: 0.1 });
    opt.update();
    const state = await opt.stateDict();
    const opt2 = new P.AdamW([{ params: [a, b], weightDecay: 0 }], { lr: 0.1 });
    opt2.loadStateDict(state);
    expect(await opt2.stateDict()).toEqual(state);
    expect(P.linearWarmupDecay(2, 10)(0)).toBe(0);
    expect(P.linearWarmupDecay(2, 10)(3)).toBeCloseTo(7 / 8, 15);
  });
});

describe('PEFT interop', () => {
  it('an exported adapter has the key set, shapes and config fields PEFT wrote for the same model and ranks', async () => {
    const { model } = P.loadSequenceClassifier(FIXTURE);
    const setup = P.applyMethod(model, 'prilora', { rankStart: 2, rankEnd: 6, alpha: 8 });
    const dir = mkdtempSync(join(tmpdir(), 'prilora-peft-'));
    await P.exportPeft(model, setup, dir);
    const ours = readSafetensorsFile(join(dir, 'adapter_model.safetensors'));
    const peft = readSafetensorsFile(join(FIXTURE, 'lora/adapter_model.safetensors'));
    const shapes = (f: typeof ours) => Object.fromEntries([...f.tensors.values()].map((t) => [t.name, t.shape]));
    expect(shapes(ours)).toEqual(shapes(peft));
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    const ref = JSON.parse(readFileSync(join(FIXTURE, 'lora/adapter_config.json'), 'utf8'));
    for (const k of ['peft_type', 'r', 'lora_alpha', 'target_modules', 'rank_pattern', 'alpha_pattern', 'task_type', 'bias', 'fan_in_fan_out', 'use_rslora', 'use_dora']) {
      expect(cfg[k], k).toEqual(ref[k]);
    }
    expect(ref.modules_to_save).toEqual(expect.arrayContaining(cfg.modules_to_save));
  });

  it('export → import round trip is exact', async () => {
    const model = tinyBert(3, 9);
    const setup = P.applyMethod(model, 'prilora', { rankStart: 1, rankEnd: 3, alpha: 4, alphaPerRank: true });
    for (const ad of setup.adapters) ad.B.weight.assignFrom(P.randn(ad.B.weight.shape, { dtype: 'float64', generator: new P.Generator(2) }));
    const dir = mkdtempSync(join(tmpdir(), 'prilora-peft-'));
    await P.exportPeft(model, setup, dir);
    const fresh = tinyBert(3, 9);
    const back = P.importPeft(fresh, dir);
    expect([...back.ranks.entries()]).toEqual([...setup.ranks.entries()]);
    const ours = new Map(model.namedParameters());
    for (const [name, p] of fresh.namedParameters()) {
      if (!/lora_|classifier/.test(name)) continue;
      expect([...p.dataSync()], name).toEqual([...ours.get(name)!.dataSync()].map(Math.fround));
    }
  });
});
