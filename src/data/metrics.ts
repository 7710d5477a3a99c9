/**
 * GLUE metrics, computed in float64 to agree with scikit-learn and SciPy to ~1e-15 (the shipped fixture
 * allows 1e-9). All functions take `(preds, labels)`; every metric here is symmetric in its two arguments,
 * so the order only matters for error messages.
 */
import { readFileSync } from 'node:fs';
import { ShapeError } from '../core/errors.ts';
import { DataError } from '../core/errors.ts';
import { glueTaskSpec, type GlueMetricName, type GlueTask } from './glue-tasks.ts';

export type Values = ArrayLike<number>;
export type GlueMetrics = { [K in GlueMetricName]?: number };

function checkPair(metric: string, preds: Values, labels: Values): number {
  if (preds.length !== labels.length) {
    throw new ShapeError(`${metric}: preds has ${preds.length} values but labels has ${labels.length}`);
  }
  if (preds.length === 0) throw new ShapeError(`${metric}: needs at least one value, got none`);
  return preds.length;
}

function checkClassIndices(metric: string, name: string, values: Values, numClasses = Infinity): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      const range = numClasses === Infinity ? 'a non-negative integer' : `an integer in [0, ${numClasses})`;
      throw new DataError(`${metric}: ${name}[${i}] = ${v} is not a class index (${range})`);
    }
  }
}

export function accuracy(preds: Values, labels: Values): number {
  const n = checkPair('accuracy', preds, labels);
  let correct = 0;
  for (let i = 0; i < n; i++) if (preds[i] === labels[i]) correct++;
  return correct / n;
}

/**
 * F1 of the positive class 1, as sklearn's `f1_score` with its defaults (`average='binary'`, `pos_label=1`).
 * Computed as 2·TP / (2·TP + FP + FN), the form sklearn uses since 1.3 (the harmonic mean of precision and
 * recall is the same number up to rounding). When there are no positives at all
 * (TP = FP = FN = 0) F1 is 0/0; sklearn's default `zero_division='warn'` warns and returns 0, and so do we.
 */
export function f1Binary(preds: Values, labels: Values): number {
  const n = checkPair('f1', preds, labels);
  checkClassIndices('f1', 'preds', preds, 2);
  checkClassIndices('f1', 'labels', labels, 2);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < n; i++) {
    if (preds[i] === 1) {
      if (labels[i] === 1) tp++;
      else fp++;
    } else if (labels[i] === 1) fn++;
  }
  const denominator = 2 * tp + fp + fn;
  return denominator === 0 ? 0 : (2 * tp) / denominator;
}

/**
 * Matthews correlation for any number of classes, by sklearn's formula (Gorodkin's R_K written with the
 * confusion matrix's marginals). Class values may be any non-negative integers; classes are the union of
 * both arguments. When either side has a single class the denominator is 0 and, as in sklearn, the
 * result is 0.
 */
export function matthewsCorrcoef(preds: Values, labels: Values): number {
  const n = checkPair('mcc', preds, labels);
  checkClassIndices('mcc', 'preds', preds);
  checkClassIndices('mcc', 'labels', labels);
  const trueCount = new Map<number, number>();
  const predCount = new Map<number, number>();
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const p = preds[i]!;
    const t = labels[i]!;
    predCount.set(p, (predCount.get(p) ?? 0) + 1);
    trueCount.set(t, (trueCount.get(t) ?? 0) + 1);
    if (p === t) correct++;
  }
  // Integer arithmetic throughout: exact in float64 while n² < 2^53, i.e. for n below ~9.4e7.
  let truePred = 0;
  for (const [c, t] of trueCount) truePred += t * (predCount.get(c) ?? 0);
  let predPred = 0;
  for (const p of predCount.values()) predPred += p * p;
  let trueTrue = 0;
  for (const t of trueCount.values()) trueTrue += t * t;
  const covTruePred = correct * n - truePred;
  const covPredPred = n * n - predPred;
  const covTrueTrue = n * n - trueTrue;
  if (covPredPred === 0 || covTrueTrue === 0) return 0;
  // One square root of the product, as sklearn: a perfect prediction then gives exactly 1 (√(a·a) = a in
  // IEEE arithmetic, while √a·√a need not be a).
  return covTruePred / Math.sqrt(covTrueTrue * covPredPred);
}

/**
 * Mean with a correction pass: the second sum of residuals recovers most of the rounding error of the
 * first, which matters when values share a large offset (STS-B scores are fine; shifted inputs are not).
 */
function mean(x: Values): number {
  const n = x.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i]!;
  const rough = sum / n;
  let residual = 0;
  for (let i = 0; i < n; i++) residual += x[i]! - rough;
  return rough + residual / n;
}

/**
 * Pearson's r as `scipy.stats.pearsonr`: centred sums (no one-pass Σxy − n·x̄·ȳ, which cancels
 * catastrophically) and the result clipped to [-1, 1]. A constant input has no correlation; SciPy returns
 * NaN (with a ConstantInputWarning) and so do we.
 */
export function pearson(x: Values, y: Values): number {
  const n = checkPair('pearson', x, y);
  const mx = mean(x);
  const my = mean(y);
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  // √(sxx·syy) returns exactly ±1 for perfectly correlated input (√sxx·√syy need not); the separate roots
  // are only for products that overflow or underflow.
  const joint = Math.sqrt(sxx * syy);
  const r = sxy / (Number.isFinite(joint) && joint > 0 ? joint : Math.sqrt(sxx) * Math.sqrt(syy));
  return Math.max(-1, Math.min(1, r));
}

/** 1-based ranks with ties given their average rank (`scipy.stats.rankdata(method='average')`). */
export function averageRanks(x: Values): Float64Array {
  const n = x.length;
  // Compared, not subtracted: Infinity − Infinity is NaN and would corrupt the sort.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (x[a]! < x[b]! ? -1 : x[a]! > x[b]! ? 1 : 0));
  const ranks = new Float64Array(n);
  for (let start = 0; start < n; ) {
    let stop = start + 1;
    while (stop < n && x[order[stop]!] === x[order[start]!]) stop++;
    // Positions start..stop-1 (0-based) share the mean of ranks start+1..stop.
    const rank = (start + stop + 1) / 2;
    for (let k = start; k < stop; k++) ranks[order[k]!] = rank;
    start = stop;
  }
  return ranks;
}

/** Spearman's ρ as `scipy.stats.spearmanr`: Pearson's r of the average ranks. NaN if an input holds NaN. */
export function spearman(x: Values, y: Values): number {
  checkPair('spearman', x, y);
  // NaN breaks the sort's ordering, so it has to be caught before ranking.
  for (const v of [x, y]) for (let i = 0; i < v.length; i++) if (Number.isNaN(v[i])) return NaN;
  return pearson(averageRanks(x), averageRanks(y));
}

const METRIC_FUNCTIONS: { readonly [K in GlueMetricName]: (preds: Values, labels: Values) => number } = {
  accuracy,
  f1: f1Binary,
  mcc: matthewsCorrcoef,
  pearson,
  spearman,
};

/**
 * The metrics GLUE reports for a task, keyed by name. For classification tasks `preds` are class indices
 * (argmax of the logits), checked against the task's label count; for STS-B they are the predicted scores.
 */
export function glueMetrics(task: GlueTask, preds: Values, labels: Values): GlueMetrics {
  const spec = glueTaskSpec(task);
  checkPair(task, preds, labels);
  if (!spec.regression) {
    checkClassIndices(task, 'preds', preds, spec.numLabels);
    checkClassIndices(task, 'labels', labels, spec.numLabels);
  }
  const result: GlueMetrics = {};
  for (const name of spec.metrics) result[name] = METRIC_FUNCTIONS[name](preds, labels);
  return result;
}

export interface MetricsFixtureResult {
  /** True iff at least one value was compared and every absolute error is ≤ 1e-9. */
  readonly pass: boolean;
  /** Largest absolute error; Infinity when a value is NaN on one side only. */
  readonly worst: number;
  /** Number of metric values compared. */
  readonly compared: number;
}

const FIXTURE_TOLERANCE = 1e-9;
const CASE_KINDS = new Set(['binary', 'multiclass', 'regression']);

/**
 * Checks these metrics against a JSON file of reference values, e.g. `test/fixtures/hf/metrics.json`
 * (scikit-learn / SciPy): `{ cases: [{ kind, labels, preds, <metric>: value, ... }] }`.
 */
export function checkMetricsFixture(path: string): MetricsFixtureResult {
  let fixture: unknown;
  try {
    fixture = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DataError(`${path}: cannot read metrics fixture: ${(e as Error).message}`);
  }
  const cases = (fixture as { cases?: unknown } | null)?.cases;
  if (!Array.isArray(cases)) throw new DataError(`${path}: expected an object with a "cases" array`);

  let worst = 0;
  let compared = 0;
  for (const [i, c] of (cases as unknown[]).entries()) {
    const where = `${path}: cases[${i}]`;
    if (typeof c !== 'object' || c === null) throw new DataError(`${where}: not an object`);
    const { kind, labels, preds, ...expected } = c as Record<string, unknown>;
    if (typeof kind !== 'string' || !CASE_KINDS.has(kind)) {
      throw new DataError(`${where}: kind ${JSON.stringify(kind)} is not binary, multiclass or regression`);
    }
    if (!isNumberArray(labels) || !isNumberArray(preds)) {
      throw new DataError(`${where}: "labels" and "preds" must be arrays of numbers`);
    }
    for (const [name, value] of Object.entries(expected)) {
      if (!(name in METRIC_FUNCTIONS)) throw new DataError(`${where}: unknown metric "${name}"`);
      if (typeof value !== 'number') throw new DataError(`${where}: ${name} is not a number`);
      const actual = METRIC_FUNCTIONS[name as GlueMetricName](preds, labels);
      const error = Number.isNaN(actual) && Number.isNaN(value) ? 0 : Math.abs(actual - value);
      worst = Math.max(worst, Number.isNaN(error) ? Infinity : error);
      compared++;
    }
  }
  return { pass: compared > 0 && worst <= FIXTURE_TOLERANCE, worst, compared };
}

function isNumberArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number');
}
