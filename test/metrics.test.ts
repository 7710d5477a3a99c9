import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, ShapeError } from '../src/core/errors.ts';
import {
  accuracy,
  averageRanks,
  checkMetricsFixture,
  f1Binary,
  glueMetrics,
  matthewsCorrcoef,
  pearson,
  spearman,
} from '../src/data/metrics.ts';

const fixturePath = fileURLToPath(new URL('./fixtures/hf/metrics.json', import.meta.url));
const tempRoot = mkdtempSync(join(tmpdir(), 'metrics-test-'));
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }));

// ---- Plain reference implementations, written from the textbook definitions, not from the code under test.

function accuracyRef(p: number[], t: number[]): number {
  return p.filter((v, i) => v === t[i]).length / p.length;
}

/** F1 as the harmonic mean of precision and recall, each 0 when undefined (sklearn zero_division=0). */
function f1Ref(p: number[], t: number[]): number {
  const tp = p.filter((v, i) => v === 1 && t[i] === 1).length;
  const predicted = p.filter((v) => v === 1).length;
  const actual = t.filter((v) => v === 1).length;
  const precision = predicted === 0 ? 0 : tp / predicted;
  const recall = actual === 0 ? 0 : tp / actual;
  return precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
}

function binaryMccRef(p: number[], t: number[]): number {
  let tp = 0, tn = 0, fp = 0, fn = 0;
  p.forEach((v, i) => {
    if (v === 1 && t[i] === 1) tp++;
    else if (v === 0 && t[i] === 0) tn++;
    else if (v === 1) fp++;
    else fn++;
  });
  const denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn);
  return denominator === 0 ? 0 : (tp * tn - fp * fn) / Math.sqrt(denominator);
}

/** Gorodkin's R_K straight from the K×K confusion matrix C[true][pred], with its triple sum. */
function confusionMccRef(p: number[], t: number[]): number {
  const K = Math.max(...p, ...t) + 1;
  const C = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  p.forEach((v, i) => C[t[i]!]![v]!++);
  let numerator = 0;
  for (let k = 0; k < K; k++)
    for (let l = 0; l < K; l++)
      for (let m = 0; m < K; m++) numerator += C[k]![k]! * C[m]![l]! - C[l]![k]! * C[k]![m]!;
  const row = (k: number): number => C[k]!.reduce((a, b) => a + b, 0);
  const col = (k: number): number => C.reduce((a, r) => a + r[k]!, 0);
  let rows = 0;
  let cols = 0;
  for (let k = 0; k < K; k++) {
    for (let f = 0; f < K; f++) {
      if (f === k) continue;
      rows += row(k) * row(f);
      cols += col(k) * col(f);
    }
  }
  return rows === 0 || cols === 0 ? 0 : numerator / Math.sqrt(rows * cols);
}

function pearsonRef(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  const cov = (a: number[], ma: number, b: number[], mb: number): number =>
    a.reduce((s, v, i) => s + (v - ma) * (b[i]! - mb), 0) / n;
  return cov(x, mx, y, my) / Math.sqrt(cov(x, mx, x, mx) * cov(y, my, y, my));
}

/** rank = 1 + (number strictly smaller) + (number of ties, self included, − 1) / 2, in O(n²). */
function naiveAverageRanks(x: number[]): number[] {
  return x.map((v) => 1 + x.filter((w) => w < v).length + (x.filter((w) => w === v).length - 1) / 2);
}

const TOL = 1e-9;
const isConstant = (x: number[]): boolean => x.every((v) => v === x[0]);

// ---- Generators: paired arrays of equal length.

const pairsOf = <T>(arb: fc.Arbitrary<T>, maxLength = 80): fc.Arbitrary<[T[], T[]]> =>
  fc.array(fc.tuple(arb, arb), { minLength: 1, maxLength }).map((rows) => [rows.map((r) => r[0]), rows.map((r) => r[1])]);

const binaryPairs = pairsOf(fc.integer({ min: 0, max: 1 }));
const classPairs = fc.integer({ min: 1, max: 5 }).chain((k) => pairsOf(fc.integer({ min: 0, max: k - 1 })));
// Three decimals in [-1000, 1000]: real-valued, but free of the denormals that make every formula, this
// one and the references alike, return 0/0 for different reasons.
const realPairs = pairsOf(fc.integer({ min: -1e6, max: 1e6 }).map((v) => v / 1e3), 60);
// Few distinct values, so that ties are common.
const tiedPairs = pairsOf(fc.integer({ min: -4, max: 4 }).map((v) => v / 2), 60);

describe('reference fixture (scikit-learn / SciPy)', () => {
  const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as {
    cases: ({ kind: string; labels: number[]; preds: number[] } & Record<string, unknown>)[];
  };

  it('every case matches within 1e-9', () => {
    const expectedCount = fixture.cases.reduce((n, c) => n + Object.keys(c).length - 3, 0);
    const result = checkMetricsFixture(fixturePath);
    expect(result.compared).toBe(expectedCount);
    expect(result.worst).toBeLessThanOrEqual(1e-9);
    expect(result.pass).toBe(true);
  });

  const fns = { accuracy, f1: f1Binary, mcc: matthewsCorrcoef, pearson, spearman } as const;
  for (const [i, c] of fixture.cases.entries()) {
    it(`case ${i} (${c.kind}, n=${c.labels.length})`, () => {
      for (const [name, fn] of Object.entries(fns)) {
        if (typeof c[name] === 'number') expect(Math.abs(fn(c.preds, c.labels) - (c[name] as number))).toBeLessThanOrEqual(TOL);
      }
    });
  }

  it('fails a fixture whose value is off, and reports the error', () => {
    const altered = structuredClone(fixture);
    (altered.cases[2] as Record<string, unknown>).spearman = (fixture.cases[2]!.spearman as number) + 1e-6;
    const path = join(tempRoot, 'altered.json');
    writeFileSync(path, JSON.stringify(altered));
    const result = checkMetricsFixture(path);
    expect(result.pass).toBe(false);
    expect(result.worst).toBeGreaterThan(0.9e-6);
    expect(result.worst).toBeLessThan(1.1e-6);
  });

  it('rejects malformed fixtures with the file named', () => {
    const cases: [string, RegExp][] = [
      ['{"cases": 3}', /"cases" array/],
      ['{"cases": [{"kind": "binary", "labels": [1], "preds": [1], "auc": 1}]}', /cases\[0\]: unknown metric "auc"/],
      ['{"cases": [{"kind": "ranking", "labels": [1], "preds": [1]}]}', /kind "ranking"/],
      ['not json', /cannot read metrics fixture/],
    ];
    for (const [i, [text, pattern]] of cases.entries()) {
      const path = join(tempRoot, `bad${i}.json`);
      writeFileSync(path, text);
      expect(() => checkMetricsFixture(path)).toThrow(DataError);
      expect(() => checkMetricsFixture(path)).toThrow(pattern);
      expect(() => checkMetricsFixture(path)).toThrow(path);
    }
    const empty = join(tempRoot, 'empty.json');
    writeFileSync(empty, '{"cases": []}');
    expect(checkMetricsFixture(empty)).toEqual({ pass: false, worst: 0, compared: 0 });
  });
});

describe('degenerate cases follow sklearn / SciPy', () => {
  it('F1 is 0 when nothing is positive (zero_division) and when nothing is found', () => {
    expect(f1Binary([0, 0, 0], [0, 0, 0])).toBe(0);
    expect(f1Binary([1, 1, 0], [0, 0, 0])).toBe(0);
    expect(f1Binary([0, 0, 0], [1, 0, 1])).toBe(0);
    expect(f1Binary([1, 0, 1], [1, 1, 1])).toBeCloseTo(0.8, 15);
  });

  it('MCC is 0 when either side has a single class', () => {
    expect(matthewsCorrcoef([1, 1, 1], [1, 1, 1])).toBe(0);
    expect(matthewsCorrcoef([2, 2, 2], [0, 1, 2])).toBe(0);
    expect(matthewsCorrcoef([0, 1, 2], [0, 1, 2])).toBe(1);
    expect(matthewsCorrcoef([1, 0], [0, 1])).toBe(-1);
  });

  it('Pearson and Spearman are NaN for a constant input', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(spearman([1, 2, 3], [4, 4, 4])).toBeNaN();
    expect(spearman([1, NaN, 3], [1, 2, 3])).toBeNaN();
  });

  it('Pearson survives a large common offset (no one-pass cancellation)', () => {
    const x = [1, 2, 3, 4, 6];
    const y = [2, 1, 4, 3, 7];
    const shifted = x.map((v) => v + 1e9);
    expect(Math.abs(pearson(shifted, y) - pearsonRef(x, y))).toBeLessThan(1e-12);
  });

  it('ranks ties by their average', () => {
    expect([...averageRanks([10, 20, 20, 5, 20, Infinity, -Infinity])]).toEqual([3, 5, 5, 2, 5, 7, 1]);
  });

  it('rejects mismatched, empty and non-class inputs', () => {
    expect(() => accuracy([1, 0], [1])).toThrow(ShapeError);
    expect(() => pearson([], [])).toThrow(ShapeError);
    expect(() => f1Binary([2, 0], [1, 0])).toThrow(/f1: preds\[0\] = 2/);
    expect(() => matthewsCorrcoef([0.5], [0])).toThrow(DataError);
  });
});

describe('glueMetrics', () => {
  it('returns the metrics GLUE reports for each task', () => {
    const p = [1, 0, 1, 1, 0];
    const t = [1, 0, 0, 1, 1];
    expect(glueMetrics('cola', p, t)).toEqual({ mcc: matthewsCorrcoef(p, t) });
    expect(glueMetrics('mrpc', p, t)).toEqual({ f1: f1Binary(p, t), accuracy: 0.6 });
    expect(glueMetrics('qqp', p, t)).toEqual({ f1: f1Binary(p, t), accuracy: 0.6 });
    for (const task of ['sst2', 'qnli', 'rte', 'wnli'] as const) expect(glueMetrics(task, p, t)).toEqual({ accuracy: 0.6 });
    expect(glueMetrics('mnli', [0, 1, 2, 2], [0, 1, 2, 1])).toEqual({ accuracy: 0.75 });
    const s = [0.5, 2.25, 4.0, 3.1];
    const g = [0.0, 2.0, 5.0, 3.8];
    expect(glueMetrics('stsb', s, g)).toEqual({ pearson: pearson(s, g), spearman: 1 });
  });

  it('checks class indices against the task', () => {
    expect(() => glueMetrics('sst2', [2], [1])).toThrow(/sst2: preds\[0\] = 2 is not a class index \(an integer in \[0, 2\)\)/);
    expect(() => glueMetrics('mnli', [0], [3])).toThrow(DataError);
    expect(() => glueMetrics('rte', [0, 1], [0])).toThrow(ShapeError);
  });
});

describe('properties against reference implementations', () => {
  it('accuracy and F1 match their definitions and are symmetric', () => {
    fc.assert(
      fc.property(binaryPairs, ([p, t]) => {
        expect(accuracy(p, t)).toBe(accuracyRef(p, t));
        expect(Math.abs(f1Binary(p, t) - f1Ref(p, t))).toBeLessThanOrEqual(TOL);
        expect(f1Binary(p, t)).toBe(f1Binary(t, p));
        expect(accuracy(p, t)).toBe(accuracy(t, p));
      }),
      { numRuns: 300 },
    );
  });

  it('binary MCC matches (TP·TN − FP·FN) / √(…) and flips sign with the predictions', () => {
    fc.assert(
      fc.property(binaryPairs, ([p, t]) => {
        const mcc = matthewsCorrcoef(p, t);
        expect(Math.abs(mcc - binaryMccRef(p, t))).toBeLessThanOrEqual(TOL);
        expect(Math.abs(matthewsCorrcoef(p.map((v) => 1 - v), t) + mcc)).toBeLessThanOrEqual(TOL);
      }),
      { numRuns: 300 },
    );
  });

  it('multiclass MCC matches the confusion-matrix definition, is symmetric and ignores class names', () => {
    fc.assert(
      fc.property(classPairs, fc.integer({ min: 0, max: 119 }), ([p, t], permutationSeed) => {
        const mcc = matthewsCorrcoef(p, t);
        expect(Math.abs(mcc - confusionMccRef(p, t))).toBeLessThanOrEqual(TOL);
        expect(Math.abs(matthewsCorrcoef(t, p) - mcc)).toBeLessThanOrEqual(TOL);
        expect(mcc).toBeGreaterThanOrEqual(-1);
        expect(mcc).toBeLessThanOrEqual(1);
        // Renaming the classes (the same permutation on both sides, sparse new ids) changes nothing.
        const rename = permutation(5, permutationSeed).map((v) => 3 * v + 1);
        const renamed = matthewsCorrcoef(p.map((v) => rename[v]!), t.map((v) => rename[v]!));
        expect(Math.abs(renamed - mcc)).toBeLessThanOrEqual(TOL);
      }),
      { numRuns: 300 },
    );
  });

  it('Pearson matches the covariance definition, is symmetric and affine-invariant', () => {
    fc.assert(
      fc.property(
        realPairs,
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.boolean(),
        ([x, y], scale, shift, negate) => {
          fc.pre(!isConstant(x) && !isConstant(y));
          const r = pearson(x, y);
          expect(Math.abs(r - pearsonRef(x, y))).toBeLessThanOrEqual(TOL);
          expect(Math.abs(pearson(y, x) - r)).toBeLessThanOrEqual(TOL);
          const a = negate ? -scale : scale;
          // Rounding a·x + b costs ~ε·(|a|·max|x| + |b|) per value, which is large against a tiny spread of x.
          const spread = Math.sqrt(x.reduce((s, v) => s + (v - x[0]!) ** 2, 0) / x.length);
          const maxAbs = Math.max(...x.map(Math.abs));
          const tolerance = TOL + (1e-13 * (Math.abs(a) * maxAbs + Math.abs(shift))) / (Math.abs(a) * spread);
          expect(Math.abs(pearson(x.map((v) => a * v + shift), y) - Math.sign(a) * r)).toBeLessThanOrEqual(tolerance);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('Spearman is Pearson of naive average ranks, and invariant to increasing maps', () => {
    fc.assert(
      fc.property(fc.oneof(tiedPairs, realPairs), ([x, y]) => {
        fc.pre(!isConstant(x) && !isConstant(y));
        const rho = spearman(x, y);
        expect([...averageRanks(x)]).toEqual(naiveAverageRanks(x));
        expect(Math.abs(rho - pearsonRef(naiveAverageRanks(x), naiveAverageRanks(y)))).toBeLessThanOrEqual(TOL);
        expect(Math.abs(spearman(y, x) - rho)).toBeLessThanOrEqual(TOL);
        // atan keeps ties as ties and order as order on these ranges.
        expect(Math.abs(spearman(x.map((v) => Math.atan(v / 1e3) * 7 - 2), y) - rho)).toBeLessThanOrEqual(TOL);
      }),
      { numRuns: 300 },
    );
  });
});

/** The seed-th permutation of 0..n-1 in a simple factorial numbering. */
function permutation(n: number, seed: number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let k = n; k > 0; k--) {
    out.push(pool.splice(seed % k, 1)[0]!);
    seed = Math.floor(seed / k);
  }
  return out;
}
