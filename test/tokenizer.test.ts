import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tokenizer } from '@huggingface/tokenizers';
import { ConfigError } from '../src/core/errors.ts';
import { TextTokenizer, defaultVocabDir, truncateLongestFirst } from '../src/data/tokenizer.ts';

const vocabDir = defaultVocabDir();
const tokenizerJson = JSON.parse(readFileSync(join(vocabDir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
const tokenizerConfig = JSON.parse(readFileSync(join(vocabDir, 'tokenizer_config.json'), 'utf8')) as object;
const tok = TextTokenizer.fromFile(vocabDir);
// The library's own encode (with its TemplateProcessing post-processor) is the reference for templating.
const lib = new Tokenizer(tokenizerJson, tokenizerConfig);

// Ids pinned to vocab.txt line numbers, independently of the tokenizer under test.
const vocabLines = readFileSync(join(vocabDir, 'vocab.txt'), 'utf8').split('\n');
if (vocabLines[vocabLines.length - 1] === '') vocabLines.pop();
const lineId = (token: string): number => {
  const i = vocabLines.indexOf(token);
  if (i < 0) throw new Error(`${token} is not a line of vocab.txt`);
  return i;
};
const ids = (...tokens: string[]): number[] => tokens.map(lineId);

describe('bundled vocabulary', () => {
  it('is bert-base-uncased with the usual special ids', () => {
    expect(existsSync(join(vocabDir, 'README.md'))).toBe(true);
    expect(vocabLines.length).toBe(30522);
    expect(tok.vocabSize).toBe(30522);
    expect([tok.padId, lineId('[UNK]'), tok.clsId, tok.sepId, lineId('[MASK]')]).toEqual([0, 100, 101, 102, 103]);
    expect(tok.padId).toBe(lineId('[PAD]'));
    expect(tok.tokenToId('hello')).toBe(lineId('hello'));
    expect(tok.idToToken(lineId('world'))).toBe('world');
    expect(tok.tokenToId('not-a-token')).toBeUndefined();
  });
});

describe('encode', () => {
  it('single sentences, pinned to vocab.txt', () => {
    expect(tok.encode('hello world')).toEqual({ ids: [101, 7592, 2088, 102], typeIds: [0, 0, 0, 0] });
    expect(tok.encode('hello world').ids).toEqual(ids('[CLS]', 'hello', 'world', '[SEP]'));
    expect(tok.encode('Hello, World!').ids).toEqual(ids('[CLS]', 'hello', ',', 'world', '!', '[SEP]'));
    // bert-base-uncased lowercases and strips accents (strip_accents: null follows lowercase).
    expect(tok.encode('Café naïve Résumé').ids).toEqual(ids('[CLS]', 'cafe', 'naive', 'resume', '[SEP]'));
    expect(tok.encode('').ids).toEqual(ids('[CLS]', '[SEP]'));
    expect(tok.encode('I love 🤗').ids).toEqual(ids('[CLS]', 'i', 'love', '[UNK]', '[SEP]'));
  });

  it('splits a rare word into ## pieces that exist in vocab.txt', () => {
    const pieces = ['anti', '##dis', '##est', '##ab', '##lish', '##ment', '##arian', '##ism'];
    expect(tok.tokenize('antidisestablishmentarianism')).toEqual(pieces);
    expect(tok.encode('antidisestablishmentarianism').ids).toEqual(ids('[CLS]', ...pieces, '[SEP]'));
    expect(tok.decode(tok.encode('antidisestablishmentarianism').ids, { skipSpecialTokens: true })).toBe(
      'antidisestablishmentarianism',
    );
  });

  it('pairs: type 0 for CLS, A and its SEP; type 1 for B and its SEP', () => {
    const e = tok.encode('Hello world', 'How are you?');
    expect(e.ids).toEqual(ids('[CLS]', 'hello', 'world', '[SEP]', 'how', 'are', 'you', '?', '[SEP]'));
    expect(e.typeIds).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1]);
    // An empty second text is still a pair (HF gives the trailing [SEP] of type 1).
    expect(tok.encode('hello world', '')).toEqual({ ids: [101, 7592, 2088, 102, 102], typeIds: [0, 0, 0, 0, 1] });
  });

  it("agrees with the library's own post-processor", () => {
    const texts = ['hello world', 'Hello, World!', "Don't panic — it's 3:45 p.m.", '日本語 text', 'a [MASK] b', 'x'.repeat(120)];
    for (const a of texts) {
      const ref = lib.encode(a, { return_token_type_ids: true });
      expect(tok.encode(a)).toEqual({ ids: ref.ids, typeIds: ref.token_type_ids });
      for (const b of texts) {
        const refPair = lib.encode(a, { text_pair: b, return_token_type_ids: true });
        expect(tok.encode(a, b)).toEqual({ ids: refPair.ids, typeIds: refPair.token_type_ids });
      }
    }
  });

  it('fromJSON without a config, and a BertProcessing post-processor, give the same encodings', () => {
    const plain = TextTokenizer.fromJSON(tokenizerJson);
    const bertProc = TextTokenizer.fromJSON({ ...tokenizerJson, post_processor: { type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] } });
    const viaFile = TextTokenizer.fromFile(join(vocabDir, 'tokenizer.json'));
    for (const [a, b] of [['Hello, World!', 'Café'], ['one', undefined]] as const) {
      expect(plain.encode(a, b)).toEqual(tok.encode(a, b));
      expect(bertProc.encode(a, b)).toEqual(tok.encode(a, b));
      expect(viaFile.encode(a, b)).toEqual(tok.encode(a, b));
    }
    expect(() => TextTokenizer.fromJSON({ ...tokenizerJson, post_processor: { type: 'RobertaProcessing' } })).toThrow(ConfigError);
  });

  it('decode', () => {
    const e = tok.encode('Hello, World!');
    expect(tok.decode(e.ids)).toBe('[CLS] hello, world! [SEP]');
    expect(tok.decode(e.ids, { skipSpecialTokens: true })).toBe('hello, world!');
    expect(tok.decode([])).toBe('');
  });
});

describe('truncation (longest_first)', () => {
  it("matches the Rust crate's own unit-test table (max_length 7)", () => {
    const [empty, short, medium, long] = [0, 2, 4, 8];
    const table: Array<[number, number, number, number]> = [
      [empty, empty, 0, 0], [empty, short, 0, 2], [empty, medium, 0, 4], [empty, long, 0, 7],
      [short, empty, 2, 0], [short, short, 2, 2], [short, medium, 2, 4], [short, long, 2, 5],
      [medium, empty, 4, 0], [medium, short, 4, 2], [medium, medium, 3, 4], [medium, long, 3, 4],
      [long, empty, 7, 0], [long, short, 5, 2], [long, medium, 4, 3], [long, long, 3, 4],
    ];
    for (const [a, b, na, nb] of table) expect(truncateLongestFirst(a, b, 7)).toEqual([na, nb]);
    expect(truncateLongestFirst(4, 4, 0)).toEqual([0, 0]);
  });

  it('cuts the shorter side only once the longer is down to it', () => {
    // The pre-0.13 rule ("drop one token from the longer, the second on a tie") as a reference: the
    // current one ends the same except that an odd leftover token goes to the longer side.
    const oneAtATime = (a: number, b: number, budget: number): [number, number] => {
      while (a + b > budget) if (a > b) a--; else b--;
      return [a, b];
    };
    fc.assert(
      fc.property(fc.nat(300), fc.nat(300), fc.nat(400), (la, lb, budget) => {
        const [na, nb] = truncateLongestFirst(la, lb, budget);
        expect(na + nb).toBe(Math.min(la + lb, budget));
        expect(na).toBeLessThanOrEqual(la);
        expect(nb).toBeLessThanOrEqual(lb);
        const aLonger = la > lb;
        const [short, shortCut, longCut] = aLonger ? [lb, nb, na] : [la, na, nb];
        if (shortCut < short) {
          expect(longCut - shortCut).toBeGreaterThanOrEqual(0);
          expect(longCut - shortCut).toBeLessThanOrEqual(1);
        }
        const old = oneAtATime(la, lb, budget);
        const swappedTie = !aLonger && na < la && budget % 2 === 1;
        expect([na, nb]).toEqual(swappedTie ? [old[1], old[0]] : old);
      }),
      { numRuns: 2000 },
    );
  });

  it('on real text: total = maxLength, segments sized as HF does', () => {
    const words = (w: string, n: number): string => `${w} `.repeat(n);
    const seg = (e: { typeIds: number[] }): [number, number] => {
      const ones = e.typeIds.filter((t) => t === 1).length;
      return [e.typeIds.length - ones - 2, ones - 1];
    };
    const cases: Array<[number, number, number, [number, number]]> = [
      [50, 10, 32, [19, 10]], // only the longer is cut
      [10, 50, 32, [10, 19]],
      [40, 30, 32, [15, 14]], // both cut: the longer keeps the odd token
      [30, 40, 32, [14, 15]],
      [20, 20, 32, [14, 15]], // tie: the second keeps it
      [20, 20, 33, [15, 15]],
    ];
    for (const [la, lb, max, want] of cases) {
      const e = tok.encode(words('hello', la), words('world', lb), { maxLength: max });
      expect(e.ids.length).toBe(max);
      expect(seg(e)).toEqual(want);
      expect(e.ids[0]).toBe(101);
      expect(e.ids[want[0] + 1]).toBe(102);
      expect(e.ids[max - 1]).toBe(102);
    }
    expect(tok.encode(words('hello', 10), undefined, { maxLength: 5 }).ids).toEqual([101, 7592, 7592, 7592, 102]);
    expect(tok.encode('hello world', 'hi', { maxLength: 64 }).ids.length).toBe(6);
    expect(tok.encode('a', 'b', { maxLength: 3 }).ids).toEqual([101, 102, 102]);
    expect(() => tok.encode('a', 'b', { maxLength: 2 })).toThrow(ConfigError);
    expect(() => tok.encode('a', undefined, { maxLength: 1 })).toThrow(ConfigError);
  });
});

describe('encodeBatch', () => {
  it('pads to the longest row with [PAD], mask 1 on real tokens', () => {
    const b = tok.encodeBatch([['hello world'], ['Hello, World!', 'how are you'], ['']], { maxLength: 16 });
    expect(b.batch).toBe(3);
    expect(b.seqLen).toBe(10);
    const row = (a: Int32Array, i: number): number[] => Array.from(a.subarray(i * b.seqLen, (i + 1) * b.seqLen));
    expect(row(b.inputIds, 0)).toEqual([101, 7592, 2088, 102, 0, 0, 0, 0, 0, 0]);
    expect(row(b.attentionMask, 0)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(row(b.tokenTypeIds, 0)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(row(b.inputIds, 1)).toEqual(tok.encode('Hello, World!', 'how are you').ids);
    expect(row(b.attentionMask, 1)).toEqual(new Array(10).fill(1));
    expect(row(b.tokenTypeIds, 1)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(row(b.inputIds, 2)).toEqual([101, 102, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(row(b.attentionMask, 2)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('truncates each row before padding; an empty batch is empty', () => {
    const b = tok.encodeBatch([['hello '.repeat(30), 'world '.repeat(30)], ['hi']], { maxLength: 12 });
    expect(b.seqLen).toBe(12);
    expect(Array.from(b.attentionMask.subarray(12))).toEqual([1, 1, 1, ...new Array(9).fill(0)]);
    const empty = tok.encodeBatch([], { maxLength: 8 });
    expect([empty.batch, empty.seqLen, empty.inputIds.length]).toEqual([0, 0, 0]);
  });
});

// GLUE dev sets: the shared reference copy when it sits beside the repository, else the gzipped copy
// the repository ships; neither exists on some clones, hence the skip.
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const glueTasks: Record<string, { header: boolean; cols: number[] }> = {
  'SST-2': { header: true, cols: [0] },
  CoLA: { header: false, cols: [3] },
  MRPC: { header: true, cols: [3, 4] },
  'STS-B': { header: true, cols: [7, 8] },
  RTE: { header: true, cols: [1, 2] },
  WNLI: { header: true, cols: [1, 2] },
  QNLI: { header: true, cols: [1, 2] },
};
function glueDevPath(task: string): string | undefined {
  const candidates = [resolve(repoRoot, '../shared/glue', task, 'dev.tsv'), resolve(repoRoot, 'data/glue', task, 'dev.tsv.gz')];
  return candidates.find((p) => existsSync(p));
}
function glueRows(task: string): string[][] {
  const path = glueDevPath(task)!;
  const raw = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  return lines.slice(glueTasks[task]!.header ? 1 : 0).map((l) => l.split('\t'));
}
describe('GLUE dev sets', () => {
  const unk = lineId('[UNK]');
  for (const [task, { cols }] of Object.entries(glueTasks)) {
    const found = glueDevPath(task) !== undefined;
    const title = found
      ? `${task}: every sentence tokenizes, matches the library post-processor, [UNK] under 0.1%`
      : `${task}: skipped, neither ../shared/glue/${task}/dev.tsv nor data/glue/${task}/dev.tsv.gz exists`;
    it.skipIf(!found)(title, () => {
      const rows = glueRows(task);
      expect(rows.length).toBeGreaterThan(50);
      let tokens = 0;
      let unknown = 0;
      for (const row of rows) {
        const [a, b] = cols.map((c) => row[c]);
        expect(a, `missing column in: ${row.join(' | ').slice(0, 100)}`).toBeTypeOf('string');
        if (cols.length === 2) expect(b, `missing column in: ${row.join(' | ').slice(0, 100)}`).toBeTypeOf('string');
        const e = tok.encode(a!, b);
        // The library takes an empty second text for "no pair", so it is no reference there.
        if (b !== '') {
          const ref = lib.encode(a!, { text_pair: b ?? null, return_token_type_ids: true });
          expect(e).toEqual({ ids: ref.ids, typeIds: ref.token_type_ids });
        }
        tokens += e.ids.length;
        unknown += e.ids.filter((id) => id === unk).length;
        expect(tok.encode(a!, b, { maxLength: 128 }).ids.length).toBe(Math.min(128, e.ids.length));
      }
      expect(unknown / tokens).toBeLessThan(1e-3);
    });
  }
});
