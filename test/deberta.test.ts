import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { checkFixture } from '../src/verify/fixture-check.ts';
import { readSafetensorsFile, writeSafetensorsFile, type SafetensorEntry } from '../src/io/safetensors.ts';
import { buildRelativePosition, logBucketPosition, relativeIndex } from '../src/nn/relative-position.ts';
import type { Json } from '../src/nn/config.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures/hf/deberta_cls');

/** A copy of the fixture whose model.safetensors is rewritten by `edit` (and config.json by `config`). */
function editedCheckpoint(edit: (entries: SafetensorEntry[]) => SafetensorEntry[], config?: (c: Json) => Json): string {
  const dir = mkdtempSync(join(tmpdir(), 'prilora-deberta-'));
  cpSync(join(FIXTURE, 'config.json'), join(dir, 'config.json'));
  if (config) writeFileSync(join(dir, 'config.json'), JSON.stringify(config(P.readJsonFile(join(FIXTURE, 'config.json')))));
  const f = readSafetensorsFile(join(FIXTURE, 'model.safetensors'));
  const entries: SafetensorEntry[] = [...f.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: f.getFloat32(t.name) }));
  writeSafetensorsFile(join(dir, 'model.safetensors'), edit(entries));
  return dir;
}

describe('DeBERTa-v3 against the HF float64 fixture', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: logits, loss, hidden states, attentions, every gradient, LoRA, merge and AdamW within the limits`, async () => {
      const r = await checkFixture(FIXTURE, { dtype });
      for (const c of r.comparisons) expect(c.error, c.name).toBeLessThanOrEqual(c.limit);
      const count = (part: string) => r.comparisons.filter((c) => c.part === part).length;
      expect(count('forward')).toBe(2 + 3 + 2);
      expect(count('grad')).toBe(42);
      if (dtype === 'float64') {
        expect(r.worst.forward).toBeLessThanOrEqual(1e-13);
        expect(r.worst.grad).toBeLessThanOrEqual(1e-12);
      }
      expect(r.pass).toBe(true);
    });
  }

  it('parameter names equal the checkpoint keys exactly', () => {
    const { model } = P.loadSequenceClassifier(FIXTURE);
    expect(model.family).toBe('deberta-v2');
    const keys = [...readSafetensorsFile(join(FIXTURE, 'model.safetensors')).tensors.keys()].sort();
    expect([...model.stateDict().keys()].sort()).toEqual(keys);
    model.dispose();
  });

  it('padding query rows attend uniformly, as the fixture stores them', async () => {
    const { model } = P.loadSequenceClassifier(FIXTURE, { dtype: 'float64' });
    const mask = [1, 1, 1, 0, 0];
    const r = model.forward({ inputIds: P.tensor([[5, 6, 7, 0, 0]], { dtype: 'int32' }), attentionMask: P.tensor([mask], { dtype: 'int32' }), outputAttentions: true });
    const a = (await r.attentions[1].toArray()) as number[][][][];
    for (const head of a[0]) {
      for (const row of head.slice(0, 3)) expect(row.slice(3)).toEqual([0, 0]);
      for (const row of head.slice(3)) for (const v of row) expect(v).toBeCloseTo(1 / 5, 15);
    }
    model.dispose();
  });
});

/** transformers' make_log_bucket_position, transcribed operation by operation over a whole array. */
function torchBuckets(rel: readonly number[], bucketSize: number, maxPosition: number): number[] {
  const f = Math.fround;
  const mid = Math.floor(bucketSize / 2);
  const sign = rel.map(Math.sign);
  const absPos = rel.map((r) => (r < mid && r > -mid ? mid - 1 : Math.abs(r)));
  const denom = f(Math.log(f((maxPosition - 1) / mid)));
  const logPos = absPos.map((a) => f(Math.ceil(f(f(f(Math.log(f(a / mid))) / denom) * (mid - 1))) + mid));
  return rel.map((r, i) => (absPos[i] <= mid ? r : Math.trunc(logPos[i] * sign[i])));
}

describe('relative positions', () => {
  const settings = fc.record({ buckets: fc.integer({ min: 2, max: 512 }), extra: fc.integer({ min: 2, max: 1024 }) });

  it('log-bucketing equals the operation-by-operation reference', () => {
    fc.assert(
      fc.property(settings, fc.array(fc.integer({ min: -4096, max: 4096 }), { minLength: 1, maxLength: 64 }), ({ buckets, extra }, rel) => {
        const max = Math.floor(buckets / 2) + extra;
        expect(rel.map((r) => logBucketPosition(r, buckets, max))).toEqual(torchBuckets(rel, buckets, max));
      }),
      { numRuns: 300 },
    );
  });

  it('is odd, monotone, the identity within ±buckets/2 and reaches ±(buckets − 1) at ±(max − 1)', () => {
    fc.assert(
      fc.property(settings, ({ buckets, extra }) => {
        const max = Math.floor(buckets / 2) + extra;
        const mid = Math.floor(buckets / 2);
        let prev = -Infinity;
        for (let r = -(max + 8); r <= max + 8; r++) {
          const b = logBucketPosition(r, buckets, max);
          expect(logBucketPosition(-r, buckets, max) + 0).toBe(-b + 0);
          expect(b).toBeGreaterThanOrEqual(prev);
          if (Math.abs(r) <= mid) expect(b).toBe(r);
          prev = b;
        }
        expect(logBucketPosition(max - 1, buckets, max)).toBe(2 * mid - 1);
      }),
      { numRuns: 60 },
    );
  });

  it('agrees with float64 arithmetic wherever float32 rounding cannot move the ceiling', () => {
    const [buckets, max] = [256, 512]; // DeBERTa-v3-base
    const mid = buckets / 2;
    for (let r = mid + 1; r < 4 * max; r++) {
      const x = (Math.log(r / mid) / Math.log((max - 1) / mid)) * (mid - 1);
      if (Math.abs(x - Math.round(x)) < 1e-4) continue;
      expect(logBucketPosition(r, buckets, max)).toBe(Math.ceil(x) + mid);
    }
  });

  it('tables of distances and clamped gather indices', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 2, max: 16 }), fc.boolean(), (t, buckets, bucketed) => {
        const max = buckets + 6;
        const rel = buildRelativePosition(t, t, bucketed ? buckets : -1, max);
        const span = bucketed ? buckets : max;
        const idx = relativeIndex(t, span, bucketed ? buckets : -1, max);
        for (let i = 0; i < t; i++) {
          for (let j = 0; j < t; j++) {
            const d = bucketed ? logBucketPosition(i - j, buckets, max) : i - j;
            expect(rel[i * t + j]).toBe(d);
            const clamp = (v: number) => Math.min(2 * span - 1, Math.max(0, v));
            expect(idx.c2p[i * t + j] + idx.lo).toBe(clamp(d + span));
            expect(idx.p2c[i * t + j] + idx.lo).toBe(clamp(-d + span));
          }
        }
        const all = [...idx.c2p, ...idx.p2c];
        expect(Math.min(...all)).toBe(0);
        expect(Math.max(...all)).toBe(idx.rows - 1);
      }),
      { numRuns: 100 },
    );
  });
});

/** A tiny DeBERTa-v3 config: with 2 buckets either side of 0, a 7-token sequence exercises the log branch. */
function tiny(over: Json = {}): Json {
  return {
    model_type: 'deberta-v2', vocab_size: 13, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2,
    intermediate_size: 5, hidden_act: 'gelu', max_position_embeddings: 16, type_vocab_size: 0, relative_attention: true,
    position_buckets: 4, max_relative_positions: -1, pos_att_type: ['p2c', 'c2p'], share_att_key: true,
    norm_rel_ebd: 'layer_norm', position_biased_input: false, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
    pooler_dropout: 0, pooler_hidden_act: 'gelu', layer_norm_eps: 1e-7, num_labels: 3, ...over,
  };
}

describe('config', () => {
  const parse = (over: Json) => () => P.parseDebertaV2Config(tiny(over), 'cfg.json');
  it('unsupported options fail with a message naming the file and the option', () => {
    expect(parse({ relative_attention: false })).toThrow(/cfg\.json: relative_attention false is not supported/);
    expect(parse({ pos_att_type: ['p2c', 'p2p'] })).toThrow(/cfg\.json: unsupported pos_att_type entry "p2p" \(supported: c2p, p2c\)/);
    expect(parse({ pos_att_type: 'c2p|x' })).toThrow(/unsupported pos_att_type entry "x"/);
    expect(parse({ pos_att_type: 3 })).toThrow(/"pos_att_type" must be a list of strings/);
    expect(parse({ conv_kernel_size: 3 })).toThrow(/cfg\.json: conv_kernel_size 3: DeBERTa's convolution layer is not supported/);
    expect(parse({ norm_rel_ebd: 'batch_norm' })).toThrow(/unsupported norm_rel_ebd "batch_norm" \(supported: none, layer_norm\)/);
    expect(parse({ model_type: 'deberta' })).toThrow(/model_type "deberta" is not deberta-v2/);
    expect(parse({ hidden_size: 9 })).toThrow(/hidden_size 9 is not a multiple of num_attention_heads 2/);
    expect(parse({ pooler_hidden_size: 6 })).toThrow(/pooler_hidden_size 6 must equal hidden_size 8/);
    expect(parse({ attention_head_size: 3 })).toThrow(/attention_head_size 3/);
    expect(parse({ position_buckets: 1 })).toThrow(/position_buckets must be ≥ 2/);
    expect(parse({ max_relative_positions: 3 })).toThrow(/max_relative_positions 3 must exceed position_buckets\/2 \+ 1 = 3/);
    expect(parse({ share_att_key: 'yes' })).toThrow(/"share_att_key" must be true or false/);
    expect(parse({ problem_type: 'multi_label_classification' })).toThrow(/unsupported problem_type/);
    expect(parse({ hidden_act: 'swish' })).toThrow(/unsupported hidden_act "swish"/);
    expect(parse({ position_buckets: 2.5 })).toThrow(/"position_buckets" must be an integer, got 2\.5/);
  });

  it("defaults follow DebertaV2Config and the modeling code's getattr fallbacks", () => {
    const c = P.parseDebertaV2Config({ model_type: 'deberta-v2', vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 4, relative_attention: true, pos_att_type: 'P2C | c2p' });
    expect(c.relative).toEqual({ buckets: -1, maxRelative: 512, span: 512, c2p: true, p2c: true, shareAttKey: false, normRelEmbeddings: false });
    expect([c.positionBiasedInput, c.typeVocabSize, c.layerNormEps, c.embeddingSize, c.poolerAct, c.numLabels]).toEqual([true, 0, 1e-7, 8, 'gelu', 2]);
    expect(c.implicitProblemType).toBe(true);
    expect(P.parseDebertaV2Config(tiny()).relative.span).toBe(4);
  });

  it('loadSequenceClassifier reports a bad config with its path', () => {
    const dir = editedCheckpoint((e) => e, (c) => ({ ...c, conv_kernel_size: 3 }));
    expect(() => P.loadSequenceClassifier(dir)).toThrow(new RegExp(`${dir}/config\\.json: conv_kernel_size 3`));
  });
});

describe('checkpoint loading', () => {
  it('a bare encoder with pre-training heads and unused position embeddings loads; the head is initialised', () => {
    const dir = editedCheckpoint((e) => [
      ...e.filter((t) => t.name.startsWith('deberta.')).map((t) => ({ ...t, name: t.name.slice('deberta.'.length) })),
      { name: 'embeddings.position_embeddings.weight', dtype: 'F32', shape: [64, 32], data: new Float32Array(64 * 32) },
      { name: 'embeddings.position_ids', dtype: 'I64', shape: [1, 64], data: new BigInt64Array(64) },
      { name: 'lm_predictions.lm_head.bias', dtype: 'F32', shape: [101], data: new Float32Array(101) },
      { name: 'mask_predictions.classifier.weight', dtype: 'F32', shape: [1, 32], data: new Float32Array(32) },
    ]);
    const { model, report } = P.loadDebertaV2ForSequenceClassification(dir, { numLabels: 3, seed: 1 });
    expect(report.missing.sort()).toEqual(['classifier.bias', 'classifier.weight', 'pooler.dense.bias', 'pooler.dense.weight']);
    expect(model.deberta.embeddings.position).toBeNull();
    expect(model.classifier.weight.shape).toEqual([3, 32]);
    const ref = readSafetensorsFile(join(FIXTURE, 'model.safetensors'));
    expect(model.deberta.encoder.relEmbeddings.weight.dataSync()).toEqual(ref.getFloat32('deberta.encoder.rel_embeddings.weight'));
    expect(Math.abs(model.classifier.weight.dataSync()[0])).toBeGreaterThan(0);
  });

  it('a missing, an extra and a mis-shaped weight are errors naming the parameter', () => {
    const missing = editedCheckpoint((e) => e.filter((t) => t.name !== 'deberta.encoder.LayerNorm.bias'));
    expect(() => P.loadSequenceClassifier(missing)).toThrow(/missing 1 parameter\(s\): deberta\.encoder\.LayerNorm\.bias/);
    const extra = editedCheckpoint((e) => [...e, { name: 'deberta.encoder.layer.0.attention.self.pos_key_proj.weight', dtype: 'F32', shape: [32, 32], data: new Float32Array(1024) }]);
    expect(() => P.loadSequenceClassifier(extra)).toThrow(/unexpected parameter\(s\) deberta\.encoder\.layer\.0\.attention\.self\.pos_key_proj\.weight/);
    const shape = editedCheckpoint((e) => e.map((t) => (t.name === 'deberta.encoder.rel_embeddings.weight' ? { ...t, shape: [8, 32], data: new Float32Array(256) } : t)));
    expect(() => P.loadSequenceClassifier(shape)).toThrow(/rel_embeddings\.weight has shape \[8, 32\] in the source but \[16, 32\] in the model/);
  });
});

const IDS = [[1, 5, 3, 9, 12, 7, 2], [1, 4, 8, 2, 0, 0, 0]];
const MASK = [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]];
const ints = (rows: number[][]) => P.tensor(rows, { dtype: 'int32' });

/** A float64 model whose every parameter (LayerNorm weights and biases too) is random. */
function randomModel(over: Json = {}, seed = 1): P.SequenceClassifier {
  const model = P.createSequenceClassifier(tiny(over), { dtype: 'float64', generator: new P.Generator(seed) });
  const gen = new P.Generator(seed + 1000);
  const state = new Map<string, P.StateValue>();
  for (const [name, p] of model.namedParameters()) {
    const r = P.randn(p.shape, { dtype: 'float64', generator: gen });
    state.set(name, { data: r.dataSync().map((v) => 0.5 * v), shape: p.shape });
    r.dispose();
  }
  model.loadStateDict(state);
  return model.eval();
}

describe('random-init forward and backward', () => {
  const variants: [string, Json, string[]][] = [
    ['DeBERTa-v3 layout', {}, []],
    ['own position projections', { share_att_key: false }, []],
    ['c2p only', { pos_att_type: ['c2p'], share_att_key: false }, []],
    ['p2c only, string form', { pos_att_type: 'p2c' }, []],
    ['no bucketing, clamped span', { position_buckets: -1, max_relative_positions: 5 }, []],
    ['absolute positions, token types, embed_proj, no rel LayerNorm', { position_biased_input: true, type_vocab_size: 2, embedding_size: 6, norm_rel_ebd: 'none' }, []],
    ['no relative terms', { pos_att_type: [] }, ['deberta.encoder.rel_embeddings.weight', 'deberta.encoder.LayerNorm.weight', 'deberta.encoder.LayerNorm.bias']],
    ['regression', { num_labels: 1 }, []],
  ];
  for (const [what, over, unused] of variants) {
    it(what, async () => {
      const model = randomModel(over);
      const numLabels = model.numLabels;
      const labels = numLabels === 1 ? P.tensor([0.5, -1], { dtype: 'float64' }) : ints([[2, 0]]).reshape([2]);
      const r = model.forward({ inputIds: ints(IDS), attentionMask: ints(MASK), tokenTypeIds: ints([[0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0, 0]]), labels, outputHiddenStates: true, outputAttentions: true });
      expect(r.logits.shape).toEqual([2, numLabels]);
      expect(r.hiddenStates.map((h) => h.shape)).toEqual([[2, 7, 8], [2, 7, 8], [2, 7, 8]]);
      expect(r.attentions.map((a) => a.shape)).toEqual([[2, 2, 7, 7], [2, 2, 7, 7]]);
      expect(Number.isFinite(r.loss!.item())).toBe(true);
      r.loss!.backward();
      for (const [name, p] of model.namedParameters()) {
        const g = p.grad ? [...p.grad.dataSync()] : [];
        if (unused.includes(name)) expect(g.every((v) => v === 0), name).toBe(true);
        else expect(g.some((v) => v !== 0) && g.every(Number.isFinite), name).toBe(true);
      }
      const names = [...model.stateDict().keys()];
      const has = (part: string) => names.some((n) => n.includes(part));
      expect(has('pos_key_proj')).toBe(over.share_att_key === false && (over.pos_att_type as string[] | undefined)?.includes('c2p') !== false);
      expect(has('pos_query_proj')).toBe(over.share_att_key === false && over.pos_att_type === undefined);
      expect(has('position_embeddings')).toBe(over.position_biased_input === true);
      model.dispose();
    });
  }

  it('padding changes nothing at the real positions, and no mask equals an all-ones mask', () => {
    const model = randomModel();
    const padded = model.forward({ inputIds: ints(IDS), attentionMask: ints(MASK), outputHiddenStates: true });
    const alone = model.forward({ inputIds: ints([IDS[1].slice(0, 4)]), outputHiddenStates: true });
    const ones = model.forward({ inputIds: ints([IDS[1].slice(0, 4)]), attentionMask: ints([[1, 1, 1, 1]]) });
    const row = (t: P.Tensor) => [...t.dataSync()];
    const paddedLogits = row(P.slice(padded.logits, 0, 1, 2));
    row(alone.logits).forEach((v, j) => expect(paddedLogits[j]).toBeCloseTo(v, 12));
    for (const [i, h] of padded.hiddenStates.entries()) {
      const real = row(P.slice(P.slice(h, 0, 1, 2), 1, 0, 4));
      row(alone.hiddenStates[i]).forEach((v, j) => expect(real[j]).toBeCloseTo(v, 12));
    }
    expect(row(ones.logits)).toEqual(row(alone.logits));
    // padding positions of the embedding output are zeroed, as transformers does
    expect(row(P.slice(P.slice(padded.hiddenStates[0], 0, 1, 2), 1, 4)).every((v) => v === 0)).toBe(true);
    model.dispose();
  });

  it("the pad token's embedding row gets no gradient, even at a real position (padding_idx)", () => {
    const model = randomModel();
    model.forward({ inputIds: ints([[1, 0, 5, 0, 2]]), labels: P.tensor([1], { dtype: 'int32' }) }).loss!.backward();
    const g = (model.get('deberta.embeddings.word_embeddings') as P.Embedding).weight.grad!.dataSync();
    expect([...g.slice(0, 8)]).toEqual(new Array(8).fill(0));
    expect([...g.slice(5 * 8, 6 * 8)].some((v) => v !== 0)).toBe(true);
    model.dispose();
  });

  it('without a problem_type, rows with a negative label leave the loss (as transformers does)', () => {
    const model = randomModel();
    const r = model.forward({ inputIds: ints(IDS), attentionMask: ints(MASK), labels: P.tensor([-1, 2], { dtype: 'int32' }) });
    const logp = P.logSoftmax(r.logits, -1).dataSync();
    expect(r.loss!.item()).toBeCloseTo(-logp[3 + 2], 14);
    const explicit = randomModel({ problem_type: 'single_label_classification' });
    expect(() => explicit.forward({ inputIds: ints(IDS), labels: P.tensor([-1, 2], { dtype: 'int32' }) })).toThrow(P.IndexError);
    model.dispose();
    explicit.dispose();
  });

  it('a forward and backward pass inside tidy leaves only the gradients behind', () => {
    const model = randomModel();
    const inputs = { inputIds: ints(IDS), attentionMask: ints(MASK), labels: P.tensor([2, 0], { dtype: 'int32' }) };
    const before = P.liveTensors();
    P.tidy(() => model.forward({ ...inputs, outputAttentions: true, outputHiddenStates: true }).loss!.backward());
    const params = model.parameters();
    expect(P.liveTensors()).toBe(before + params.filter((p) => p.grad).length);
    for (const p of params) {
      p.grad?.dispose();
      p.grad = null;
    }
    expect(P.liveTensors()).toBe(before);
    model.dispose();
  });

  it('dropout acts in training mode only', () => {
    const model = randomModel({ hidden_dropout_prob: 0.3, attention_probs_dropout_prob: 0.3 });
    const run = () => [...model.forward({ inputIds: ints(IDS), attentionMask: ints(MASK) }).logits.dataSync()];
    expect(run()).toEqual(run());
    model.train();
    expect(run()).not.toEqual(run());
    model.dispose();
  });
});

describe('gradcheck in float64', () => {
  for (const [what, over] of [['shared position projections', {}], ['own position projections, absolute positions', { share_att_key: false, position_biased_input: true, type_vocab_size: 2 }]] as const) {
    it(`disentangled attention, inputs and relative embeddings: ${what}`, () => {
      const cfg = P.parseDebertaV2Config(tiny(over));
      const attn = new P.DisentangledSelfAttention(cfg, { dtype: 'float64', generator: new P.Generator(3) });
      const idx = P.relativeIndex(7, cfg.relative.span, cfg.relative.buckets, cfg.relative.maxRelative);
      const index = (d: Int32Array) => P.tensor(d, { shape: [1, 1, 7, 7] });
      const m = P.tensor(MASK, { dtype: 'float64' });
      const mask = P.mul(P.reshape(m, [2, 1, 1, 7]), P.reshape(m, [2, 1, 7, 1]));
      const gen = new P.Generator(4);
      const x = P.randn([2, 7, 8], { dtype: 'float64', generator: gen });
      const e = P.randn([idx.rows, 8], { dtype: 'float64', generator: gen });
      const fn = (xs: P.Tensor, es: P.Tensor) => attn.forward(xs, mask, { embeddings: es, c2pIndex: index(idx.c2p), p2cIndex: index(idx.p2c) }).context;
      const r = P.gradcheck(fn, [x, e]);
      expect(r.worst.ratio, JSON.stringify(r.worst)).toBeLessThanOrEqual(1);
      expect(r.checked).toBe(x.size + e.size);
    });

    it(`the whole classifier, every parameter by central differences: ${what}`, () => {
      const model = randomModel(over, 5);
      const gen = new P.Generator(6);
      const w = P.randn([2, 7, 8], { dtype: 'float64', generator: gen });
      const inputs = { inputIds: ints(IDS), attentionMask: ints(MASK), tokenTypeIds: ints([[0, 0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 0, 0, 0]]), labels: P.tensor([2, 0], { dtype: 'int32' }) };
      // the loss plus a projection of the last hidden states, so every position's gradient is checked
      const objective = () => {
        const r = model.forward(inputs);
        return P.add(r.loss!, P.sum(P.mul(r.lastHiddenState, w)));
      };
      P.tidy(() => objective().backward());
      const eps = 1e-6;
      let worst = 0, checked = 0;
      for (const [name, p] of model.namedParameters()) {
        const analytic = p.grad!.dataSync();
        const data = p.dataSync();
        const set = () => model.loadStateDict(new Map([[name, { data, shape: p.shape }]]), { allowMissing: () => true });
        for (let j = 0; j < data.length; j++) {
          const orig = data[j];
          const at = (v: number) => {
            data[j] = v;
            set();
            return P.tidy(() => P.noGrad(() => objective().item()));
          };
          const numeric = (at(orig + eps) - at(orig - eps)) / (2 * eps);
          data[j] = orig;
          set();
          worst = Math.max(worst, Math.abs(analytic[j] - numeric) / (1e-5 + 1e-4 * Math.abs(numeric)));
          checked++;
        }
      }
      expect(checked).toBe(model.countParameters());
      expect(worst).toBeLessThanOrEqual(1);
      model.dispose();
    });
  }
});
