/**
 * Hostile input, fuzzed: config.json (wrong types, absurd sizes), tokenizer.json, GLUE TSVs (missing
 * columns, labels outside the set, CRLF, BOM, invalid UTF-8, empty files, very long lines) and PEFT adapter
 * configs. Every case either loads or fails with one of the project's typed errors — never another
 * exception, never an allocation the config did not justify. (safetensors headers: test/safetensors.test.ts.)
 */
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { glueTaskSpec, GLUE_TASKS, type GlueTask } from '../src/data/glue-tasks.ts';
import { parseGlueTsv } from '../src/data/glue.ts';
import { parseDebertaV2Config } from '../src/nn/deberta-config.ts';
import { MAX_MODEL_PARAMETERS } from '../src/nn/config.ts';
import { writeTokenizerFiles } from '../src/pretrain/vocab.ts';
import { loadRunModel } from '../src/train/model.ts';

const RUNS = 10_000;

/** Run `f`; a typed error is an answer, anything else fails the property. */
function typed(f: () => unknown): { ok: true; value: unknown } | { ok: false; error: P.PriloraError } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (e instanceof P.PriloraError) return { ok: false, error: e };
    throw new Error(`untyped exception: ${(e as Error)?.stack ?? String(e)}`);
  }
}

const anyValue = fc.oneof(
  fc.integer({ min: -5, max: 64 }), fc.constantFrom(0, 1, 2, 1e9, 2 ** 31, 1e300, -1, 0.5, NaN, Infinity, -0),
  fc.double(), fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }),
);

const BASE = { model_type: 'bert', vocab_size: 40, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 16 };

/** A valid config with some fields replaced or removed. */
const configArb = (base: Record<string, unknown>, extra: string[]) =>
  fc.tuple(
    fc.dictionary(fc.constantFrom(...Object.keys(base), ...extra), fc.option(anyValue, { nil: undefined }), { maxKeys: 4 }),
    fc.boolean(),
  ).map(([changes]) => {
    const c: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(changes)) if (v === undefined) delete c[k]; else c[k] = v;
    return c;
  });

describe('hostile config.json', () => {
  const FIELDS = ['type_vocab_size', 'hidden_dropout_prob', 'attention_probs_dropout_prob', 'layer_norm_eps', 'num_labels', 'pad_token_id', 'hidden_act', 'initializer_range', 'classifier_dropout', 'problem_type', 'position_embedding_type', 'id2label'];

  it(`BERT: ${RUNS} configs load or are refused with a ConfigError, and nothing too large is accepted`, () => {
    let accepted = 0, built = 0;
    fc.assert(
      fc.property(configArb(BASE, FIELDS), (c) => {
        const r = typed(() => P.parseBertConfig(c, 'x/config.json'));
        if (!r.ok) {
          expect(r.error).toBeInstanceOf(P.ConfigError);
          return;
        }
        accepted++;
        const cfg = r.value as ReturnType<typeof P.parseBertConfig>;
        const params = (cfg.vocabSize + cfg.maxPositions + cfg.typeVocabSize + cfg.numLayers * 4 * cfg.hiddenSize) * cfg.hiddenSize;
        expect(params).toBeLessThanOrEqual(MAX_MODEL_PARAMETERS);
        if (params < 20_000 && built < 200) {
          built++;
          const m = new P.BertForSequenceClassification(cfg, { generator: new P.Generator(0) });
          m.dispose();
        }
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it(`DeBERTa-v2: ${RUNS} configs load or are refused with a ConfigError`, () => {
    const base = { ...BASE, model_type: 'deberta-v2', relative_attention: true, position_buckets: 8, max_relative_positions: -1, pos_att_type: ['p2c', 'c2p'], position_biased_input: false };
    fc.assert(
      fc.property(configArb(base, [...FIELDS, 'embedding_size', 'norm_rel_ebd', 'share_att_key', 'pooler_hidden_size', 'cls_dropout']), (c) => {
        const r = typed(() => parseDebertaV2Config(c, 'x/config.json'));
        if (!r.ok) expect(r.error).toBeInstanceOf(P.ConfigError);
      }),
      { numRuns: RUNS },
    );
  });

  it('absurd sizes are refused before anything is allocated, naming the field', () => {
    expect(() => P.parseBertConfig({ ...BASE, hidden_size: 1e9, num_attention_heads: 1 }, 'c.json')).toThrow(/^c\.json: the word embeddings \(vocab_size × hidden_size\) would have 4\.000e\+10 elements/);
    expect(() => P.parseBertConfig({ ...BASE, vocab_size: 2 ** 40 }, 'c.json')).toThrow(/word embeddings/);
    expect(() => P.parseBertConfig({ ...BASE, num_hidden_layers: 1e8, hidden_size: 64 }, 'c.json')).toThrow(/the model would have .* parameters/);
    expect(() => P.parseBertConfig({ ...BASE, hidden_dropout_prob: 1.5 }, 'c.json')).toThrow('c.json: "hidden_dropout_prob" must be in [0, 1), got 1.5');
    expect(() => P.parseBertConfig({ ...BASE, pad_token_id: 40 }, 'c.json')).toThrow('c.json: pad_token_id 40 is outside the vocabulary (vocab_size 40)');
  });
});

describe('hostile tokenizer.json', () => {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b', 'ab', '##b', '##a'];
  const good = () => ({
    version: '1.0', truncation: null, padding: null, added_tokens: [],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  });

  it(`${RUNS} mutated tokenizer.json files load or are refused with a typed error`, () => {
    expect(P.TextTokenizer.fromJSON(good()).encode('ab a', undefined).ids).toEqual([2, 7, 5, 3]);
    const paths = ['model', 'model.vocab', 'model.type', 'post_processor', 'post_processor.type', 'post_processor.cls', 'normalizer', 'pre_tokenizer', 'model.unk_token', 'decoder', 'added_tokens', 'padding'];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...paths), fc.option(anyValue, { nil: undefined })), { minLength: 1, maxLength: 3 }), (edits) => {
        const j = good() as Record<string, unknown>;
        for (const [path, v] of edits) {
          const parts = path.split('.');
          let at = j as Record<string, unknown>;
          for (const p of parts.slice(0, -1)) at = (typeof at[p] === 'object' && at[p] !== null ? at[p] : (at[p] = {})) as Record<string, unknown>;
          if (v === undefined) delete at[parts[parts.length - 1]];
          else at[parts[parts.length - 1]] = v;
        }
        const r = typed(() => P.TextTokenizer.fromJSON(j).encode('ab b a', 'a'));
        if (!r.ok) expect(r.error).toBeInstanceOf(P.PriloraError);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('hostile GLUE TSVs', () => {
  const line = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('0', '1', '2', '5.0', '-1', '7', 'nan', '1e999', 'entailment', 'not_entailment', '', ' ')), { maxLength: 11 }).map((f) => f.join('\t')),
    fc.constant('x'.repeat(100_000)),
  );
  const textArb = fc.tuple(fc.constantFrom(...GLUE_TASKS), fc.boolean(), fc.array(line, { maxLength: 6 }), fc.constantFrom('\n', '\r\n'), fc.boolean()).map(([task, bom, rows, eol, header]) => {
    const spec = glueTaskSpec(task as GlueTask);
    const head = header && spec.format.hasHeader ? [headerLine(task as GlueTask)] : [];
    return { task: task as GlueTask, text: `${bom ? '\uFEFF' : ''}${[...head, ...rows].join(eol)}` };
  });

  it(`${RUNS} texts give examples with labels of the task, or a DataError naming file and line`, () => {
    fc.assert(
      fc.property(textArb, ({ task, text }) => {
        const r = typed(() => parseGlueTsv(task, text, 'f.tsv'));
        if (!r.ok) {
          expect(r.error).toBeInstanceOf(P.DataError);
          expect(r.error.message).toMatch(/^f\.tsv(:\d+)?: /);
          return;
        }
        const spec = glueTaskSpec(task);
        for (const e of r.value as P.GlueExample[]) {
          if (spec.regression) expect(e.label >= 0 && e.label <= 5).toBe(true);
          else expect(Number.isInteger(e.label) && e.label >= 0 && e.label < spec.numLabels).toBe(true);
          expect(e.textA.trim()).not.toBe('');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('invalid UTF-8, empty files and CRLF through the file loader', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prilora-tsv-'));
    mkdirSync(join(dir, 'SST-2'));
    const file = join(dir, 'SST-2', 'train.tsv');
    const load = () => typed(() => P.loadGlueSplit('sst2', 'train', { dataDir: dir }));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        writeFileSync(file, Buffer.concat([Buffer.from('sentence\tlabel\n'), Buffer.from(bytes)]));
        const r = load();
        if (!r.ok) expect(r.error).toBeInstanceOf(P.DataError);
      }),
      { numRuns: 1000 },
    );
    writeFileSync(file, Buffer.from([0x73, 0xff, 0x0a]));
    expect(load()).toMatchObject({ ok: false, error: { message: `${file}: not valid UTF-8` } });
    writeFileSync(file, '');
    expect(load()).toMatchObject({ ok: false, error: { message: `${file}: empty file; expected a SST-2 header line` } });
    writeFileSync(file, '\uFEFFsentence\tlabel\r\ngood\t1\r\n');
    expect(load()).toMatchObject({ ok: true, value: [{ textA: 'good', label: 1 }] });
  });
});

describe('hostile PEFT adapter configs', () => {
  const model = () => P.parseBertConfig({ ...BASE, num_hidden_layers: 2 });
  const fields = ['peft_type', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'rank_pattern', 'alpha_pattern', 'modules_to_save', 'use_dora', 'use_rslora', 'fan_in_fan_out', 'bias'];
  const base = { peft_type: 'LORA', r: 2, lora_alpha: 4, lora_dropout: 0, target_modules: ['query', 'value'], rank_pattern: {}, alpha_pattern: {}, modules_to_save: ['classifier'], bias: 'none' };

  it(`${RUNS} adapter_config.json files attach or are refused with a typed error`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'prilora-peft-'));
    const cfg = model();
    fc.assert(
      fc.property(configArb(base, fields), (c) => {
        writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(c));
        const m = new P.BertForSequenceClassification(cfg);
        const r = typed(() => P.importPeft(m, dir));
        if (!r.ok) expect(r.error).toBeInstanceOf(P.PriloraError);
        m.dispose();
      }),
      { numRuns: RUNS },
    );
  });

  it('a peft_type that cannot be made a string (CI found it: {"toString": []}) is refused, named as JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prilora-peft-'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...base, peft_type: { toString: [] } }));
    const m = new P.BertForSequenceClassification(model());
    expect(() => P.importPeft(m, dir)).toThrow(P.ConfigError);
    expect(() => P.importPeft(m, dir)).toThrow(/peft_type \{"toString":\[\]\} is not LORA/);
    m.dispose();
  });
});

describe('model directories that do not fit together', () => {
  it('a tokenizer with ids beyond the embedding table, and a NaN weight, are refused at load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prilora-model-'));
    const m = new P.BertForSequenceClassification(P.parseBertConfig(BASE), { generator: new P.Generator(1) });
    const entries = await Promise.all([...m.namedParameters()].map(async ([name, p]) => ({ name, dtype: 'F32' as const, shape: p.shape, data: Float32Array.from(await p.data()) })));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(BASE));
    P.writeSafetensorsFile(join(dir, 'model.safetensors'), entries);
    // no tokenizer.json: bert-base-uncased's 30,522 tokens against 40 rows
    expect(() => loadRunModel(dir, 2, { seed: 0 })).toThrow(/^.*: no tokenizer\.json, and the model's vocab_size 40 is not bert-base-uncased's 30522$/);
    writeTokenizerFiles(dir, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: 50 }, (_, i) => `t${i}`)]);
    expect(() => loadRunModel(dir, 2, { seed: 0 })).toThrow(/the tokenizer has 55 tokens but the embedding table only 40 rows \(vocab_size\)/);
    writeTokenizerFiles(dir, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b']);
    expect(loadRunModel(dir, 2, { seed: 0 }).tokenizer.vocabSize).toBe(7);
    entries[3].data[2] = NaN;
    P.writeSafetensorsFile(join(dir, 'model.safetensors'), entries);
    expect(() => loadRunModel(dir, 2, { seed: 0 })).toThrow(`${join(dir, 'model.safetensors')}: ${entries[3].name} holds NaN at element 2`);
    m.dispose();
  });
});

function headerLine(task: GlueTask): string {
  const { format } = glueTaskSpec(task);
  const cols = Math.max(format.columns ?? 0, ...[format.textA, format.textB, format.label].filter(Boolean).map((c) => (c!.index < 0 ? 0 : c!.index + 1)));
  const names = Array.from({ length: cols }, (_, i) => `c${i}`);
  for (const c of [format.textA, format.textB, format.label]) if (c?.header !== undefined) names[c.index < 0 ? cols + c.index : c.index] = c.header;
  return names.join('\t');
}
