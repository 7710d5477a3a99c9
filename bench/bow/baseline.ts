/**
 * Bag-of-words anchor for the GLUE comparison table: binary unigram + bigram features, L2-regularised
 * logistic regression (ridge regression for STS-B), the L2 strength and the vocabulary's minimum count
 * chosen by stratified 5-fold cross-validation on the training split only. Dev is touched once, at the end.
 *
 *   npx tsx bench/bow/baseline.ts [--tasks cola,sst2,mrpc,stsb,rte] [--train-limit N] [--json]
 *                                 [--data DIR] [--folds 5] [--seed 1]
 *
 * Not part of the package: plain TypeScript, no dependencies beyond the project's own GLUE loader, task
 * table, metrics (so the numbers are the metrics the trainer reports) and host generator. See bench/bow/README.md.
 */
import { parseArgs } from 'node:util';
import { HostRng } from '../../src/core/random.ts';
import { loadGlueSplit, type GlueExample } from '../../src/data/glue.ts';
import { glueTaskSpec, parseGlueTask, type GlueTask, type GlueTaskSpec } from '../../src/data/glue-tasks.ts';
import { glueMetrics, type GlueMetrics } from '../../src/data/metrics.ts';

// ---------------------------------------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: 'cola,sst2,mrpc,stsb,rte' },
    'train-limit': { type: 'string' },
    json: { type: 'boolean', default: false },
    data: { type: 'string' },
    folds: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
  },
});
const TASKS = args.tasks!.split(',').filter((t) => t.trim() !== '').map(parseGlueTask);
const TRAIN_LIMIT = args['train-limit'] === undefined ? undefined : nonNegativeInt('--train-limit', args['train-limit']);
const FOLDS = nonNegativeInt('--folds', args.folds!);
const SEED = nonNegativeInt('--seed', args.seed!);
const DATA_DIR = args.data;
if (FOLDS < 2) fail('--folds must be at least 2');
if (TRAIN_LIMIT !== undefined && TRAIN_LIMIT < FOLDS) fail(`--train-limit must be at least --folds (${FOLDS})`);

/** L2 strengths λ of  Σ_i loss_i + λ/2 · ‖w‖²  (sum over examples, bias unpenalised; sklearn's C = 1/λ). */
const L2_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1e3, 1e4];
/** The grid is searched from the strongest λ down and abandoned after this many λ without a new best. */
const PATIENCE = 2;
/** Minimum number of training examples (document frequency) an n-gram needs to enter the vocabulary. */
const MIN_COUNTS = [1, 2];
/**
 * L-BFGS: history, iteration cap and stopping rules: max |∂f/∂θ| ≤ gtol · (training rows), i.e. the mean
 * loss's gradient below gtol (scikit-learn's lbfgs stops at 1e-4, after at most 100 iterations), or one
 * iteration lowering f by at most ftol relative.
 */
const LBFGS = { history: 10, maxIter: 1000, ftol: 1e-10, gtol: 1e-6 };

function nonNegativeInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) fail(`${name}: expected a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

function fail(message: string): never {
  process.stderr.write(`baseline: ${message}\n`);
  process.exit(2);
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------------------
// Features

/** Lowercased word tokens (runs of letters, digits and apostrophes); every other non-space char is a token. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+|[^\s\p{L}\p{N}']/gu) ?? [];
}

/** The distinct unigrams and bigrams of a sentence (binary features: presence only). */
function ngrams(text: string): { uni: Set<string>; bi: Set<string> } {
  const tokens = tokenize(text);
  const uni = new Set(tokens);
  const bi = new Set<string>();
  for (let i = 0; i + 1 < tokens.length; i++) bi.add(`${tokens[i]} ${tokens[i + 1]}`);
  return { uni, bi };
}

function intersectionSize(a: Set<string>, b: Set<string>): number {
  let n = 0;
  for (const x of a) if (b.has(x)) n++;
  return n;
}

/** Dense overlap features of a sentence pair: their names, always feature ids 0..3. */
const OVERLAP_FEATURES = ['ov:log1p_shared_unigrams', 'ov:log1p_shared_bigrams', 'ov:jaccard_unigrams', 'ov:jaccard_bigrams'];

interface RawExample {
  /** Names of the binary n-gram features present. */
  readonly binary: string[];
  /** Values of OVERLAP_FEATURES (pairs only; empty for single-sentence tasks). */
  readonly dense: number[];
}

function rawFeatures(ex: GlueExample, pair: boolean): RawExample {
  const a = ngrams(ex.textA);
  if (!pair) return { binary: [...a.uni, ...a.bi], dense: [] };
  if (ex.textB === undefined) throw new Error('pair task example without textB');
  const b = ngrams(ex.textB);
  const binary: string[] = [];
  for (const f of a.uni) binary.push(`a:${f}`);
  for (const f of a.bi) binary.push(`a:${f}`);
  for (const f of b.uni) binary.push(`b:${f}`);
  for (const f of b.bi) binary.push(`b:${f}`);
  const su = intersectionSize(a.uni, b.uni);
  const sb = intersectionSize(a.bi, b.bi);
  const uu = a.uni.size + b.uni.size - su;
  const ub = a.bi.size + b.bi.size - sb;
  return { binary, dense: [Math.log1p(su), Math.log1p(sb), uu === 0 ? 0 : su / uu, ub === 0 ? 0 : sb / ub] };
}

/** An example as the sorted ids of its n-grams (value 1 each) plus its overlap features' values. */
interface SparseExample {
  readonly ids: Int32Array;
  readonly dense: Float64Array;
}

/**
 * Ids of every n-gram of the training examples, in order of first appearance. The min-count cut is applied
 * later, per CV fold, from the fold's own training part (a held-out fold never shapes its own vocabulary).
 */
class FeatureSpace {
  readonly ids = new Map<string, number>();
  readonly denseCount: number;

  constructor(train: RawExample[], pair: boolean) {
    this.denseCount = pair ? OVERLAP_FEATURES.length : 0;
    for (const ex of train) for (const f of ex.binary) if (!this.ids.has(f)) this.ids.set(f, this.ids.size);
  }

  /** Number of distinct training n-grams. */
  get size(): number {
    return this.ids.size;
  }

  /** n-grams outside the training vocabulary are dropped. */
  encode(ex: RawExample): SparseExample {
    const ids: number[] = [];
    for (const f of ex.binary) {
      const id = this.ids.get(f);
      if (id !== undefined) ids.push(id);
    }
    ids.sort((x, y) => x - y);
    return { ids: Int32Array.from(ids), dense: Float64Array.from(ex.dense) };
  }
}

/**
 * A vocabulary: the n-grams present in at least `minCount` of the given rows, renumbered compactly after
 * the overlap features (model column j < denseCount is overlap feature j; then the kept n-grams).
 */
interface Vocabulary {
  /** Model column of each n-gram id, or −1 if not kept. */
  readonly column: Int32Array;
  readonly denseCount: number;
  /** Model columns: overlap features + kept n-grams. */
  readonly dims: number;
}

function vocabulary(examples: SparseExample[], rows: ArrayLike<number>, space: FeatureSpace, minCount: number): Vocabulary {
  const df = new Int32Array(space.size);
  for (let r = 0; r < rows.length; r++) for (const id of examples[rows[r]!]!.ids) df[id]!++;
  const column = new Int32Array(space.size).fill(-1);
  let dims = space.denseCount;
  for (let id = 0; id < space.size; id++) if (df[id]! >= minCount) column[id] = dims++;
  return { column, denseCount: space.denseCount, dims };
}

/** Some examples in a vocabulary's columns: compressed sparse rows for n-grams, a dense block for overlap. */
interface Csr {
  readonly rows: number;
  readonly offsets: Int32Array;
  /** Model columns of the n-grams present (value 1). */
  readonly cols: Int32Array;
  /** rows × denseCount overlap values, model columns 0..denseCount−1. */
  readonly dense: Float64Array;
  readonly denseCount: number;
}

function buildCsr(examples: SparseExample[], rows: ArrayLike<number>, vocab: Vocabulary): Csr {
  const { column, denseCount } = vocab;
  let nnz = 0;
  for (let r = 0; r < rows.length; r++) for (const id of examples[rows[r]!]!.ids) if (column[id]! >= 0) nnz++;
  const offsets = new Int32Array(rows.length + 1);
  const cols = new Int32Array(nnz);
  const dense = new Float64Array(rows.length * denseCount);
  let p = 0;
  for (let r = 0; r < rows.length; r++) {
    const ex = examples[rows[r]!]!;
    for (const id of ex.ids) {
      const c = column[id]!;
      if (c >= 0) cols[p++] = c;
    }
    offsets[r + 1] = p;
    dense.set(ex.dense, r * denseCount);
  }
  return { rows: rows.length, offsets, cols, dense, denseCount };
}

// ---------------------------------------------------------------------------------------------------------
// Models: binary logistic, softmax and ridge regression, all as  Σ_i loss_i + λ/2 ‖W‖²  minimised by L-BFGS.

type Kind = 'binary' | 'softmax' | 'ridge';

interface Problem {
  readonly kind: Kind;
  /** Number of outputs: 1 (binary, ridge) or the class count (softmax). */
  readonly outputs: number;
  /** Features; each output has D weights and a bias, laid out as θ[k·(D+1) + j], bias at j = D. */
  readonly dims: number;
  readonly x: Csr;
  /** Class indices, or targets for ridge. */
  readonly y: Float64Array;
  readonly l2: number;
}

/** Scores (logits, or predictions for ridge) of every row: scores[r·K + k]. */
function scoreRows(theta: Float64Array, x: Csr, outputs: number, dims: number): Float64Array {
  const stride = dims + 1;
  const { offsets, cols, dense, denseCount: dc } = x;
  const scores = new Float64Array(x.rows * outputs);
  for (let r = 0; r < x.rows; r++) {
    const start = offsets[r]!;
    const end = offsets[r + 1]!;
    for (let k = 0; k < outputs; k++) {
      const base = k * stride;
      let z = theta[base + dims]!;
      for (let j = 0; j < dc; j++) z += theta[base + j]! * dense[r * dc + j]!;
      for (let p = start; p < end; p++) z += theta[base + cols[p]!]!;
      scores[r * outputs + k] = z;
    }
  }
  return scores;
}

/** Objective and gradient (into g) at θ. */
function objective(pr: Problem, theta: Float64Array, g: Float64Array): number {
  const { x, outputs: K, dims: D, y, l2 } = pr;
  const { offsets, cols, dense, denseCount: dc } = x;
  const stride = D + 1;
  const scores = scoreRows(theta, x, K, D);
  g.fill(0);
  let f = 0;
  const resid = new Float64Array(K);
  for (let r = 0; r < x.rows; r++) {
    if (pr.kind === 'binary') {
      const z = scores[r]!;
      const t = y[r]!;
      // softplus(z) − t·z, stably; its derivative is σ(z) − t.
      const e = Math.exp(-Math.abs(z));
      f += (z > 0 ? z : 0) + Math.log1p(e) - t * z;
      resid[0] = (z >= 0 ? 1 / (1 + e) : e / (1 + e)) - t;
    } else if (pr.kind === 'ridge') {
      const d = scores[r]! - y[r]!;
      f += 0.5 * d * d;
      resid[0] = d;
    } else {
      let max = -Infinity;
      for (let k = 0; k < K; k++) max = Math.max(max, scores[r * K + k]!);
      let sum = 0;
      for (let k = 0; k < K; k++) sum += Math.exp(scores[r * K + k]! - max);
      const lse = max + Math.log(sum);
      const t = y[r]!;
      f += lse - scores[r * K + t]!;
      for (let k = 0; k < K; k++) resid[k] = Math.exp(scores[r * K + k]! - lse) - (k === t ? 1 : 0);
    }
    const start = offsets[r]!;
    const end = offsets[r + 1]!;
    for (let k = 0; k < K; k++) {
      const base = k * stride;
      const e = resid[k]!;
      g[base + D]! += e;
      for (let j = 0; j < dc; j++) g[base + j]! += e * dense[r * dc + j]!;
      for (let p = start; p < end; p++) g[base + cols[p]!]! += e;
    }
  }
  for (let k = 0; k < K; k++) {
    const base = k * stride;
    for (let j = 0; j < D; j++) {
      const w = theta[base + j]!;
      f += 0.5 * l2 * w * w;
      g[base + j]! += l2 * w;
    }
  }
  return f;
}

interface FitResult {
  readonly theta: Float64Array;
  readonly iterations: number;
  readonly converged: boolean;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * L-BFGS (two-loop recursion, m = 10) with a backtracking Armijo line search; the objective is strictly
 * convex (λ > 0), so accepted steps satisfy the curvature condition. Deterministic.
 */
function fit(pr: Problem, init?: Float64Array): FitResult {
  const n = pr.outputs * (pr.dims + 1);
  const m = LBFGS.history;
  let theta = init === undefined ? new Float64Array(n) : Float64Array.from(init);
  let g = new Float64Array(n);
  let f = objective(pr, theta, g);
  // Ring buffer of the last m pairs (s, y); pair h lives in slot (first + h) % m.
  const S = Array.from({ length: m }, () => new Float64Array(n));
  const Y = Array.from({ length: m }, () => new Float64Array(n));
  const rho = new Float64Array(m);
  const alpha = new Float64Array(m);
  let first = 0;
  let count = 0;
  const d = new Float64Array(n);
  let thetaNew = new Float64Array(n);
  let gNew = new Float64Array(n);
  for (let iter = 1; iter <= LBFGS.maxIter; iter++) {
    let gmax = 0;
    for (let i = 0; i < n; i++) gmax = Math.max(gmax, Math.abs(g[i]!));
    if (gmax <= LBFGS.gtol * pr.x.rows) return { theta, iterations: iter - 1, converged: true };
    // Direction d = −H·g.
    for (let i = 0; i < n; i++) d[i] = -g[i]!;
    for (let h = count - 1; h >= 0; h--) {
      const slot = (first + h) % m;
      const s = S[slot]!;
      const y = Y[slot]!;
      const a = rho[slot]! * dot(s, d);
      alpha[slot] = a;
      for (let i = 0; i < n; i++) d[i]! -= a * y[i]!;
    }
    if (count > 0) {
      const slot = (first + count - 1) % m;
      const gamma = 1 / (rho[slot]! * dot(Y[slot]!, Y[slot]!));
      for (let i = 0; i < n; i++) d[i]! *= gamma;
    }
    for (let h = 0; h < count; h++) {
      const slot = (first + h) % m;
      const s = S[slot]!;
      const y = Y[slot]!;
      const c = alpha[slot]! - rho[slot]! * dot(y, d);
      for (let i = 0; i < n; i++) d[i]! += c * s[i]!;
    }
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): forget the history, use steepest descent.
      count = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i]!;
      slope = dot(g, d);
    }
    let step = count === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    let fNew: number;
    for (;;) {
      for (let i = 0; i < n; i++) thetaNew[i] = theta[i]! + step * d[i]!;
      fNew = objective(pr, thetaNew, gNew);
      if (fNew <= f + 1e-4 * step * slope) break;
      step *= 0.5;
      if (step < 1e-20) return { theta, iterations: iter, converged: false };
    }
    const slot = count < m ? (first + count) % m : first;
    const s = S[slot]!;
    const y = Y[slot]!;
    let sy = 0;
    for (let i = 0; i < n; i++) {
      const si = thetaNew[i]! - theta[i]!;
      const yi = gNew[i]! - g[i]!;
      s[i] = si;
      y[i] = yi;
      sy += si * yi;
    }
    if (sy > 1e-12) {
      rho[slot] = 1 / sy;
      if (count < m) count++;
      else first = (first + 1) % m;
    } else if (count === m) {
      // The oldest pair's slot was overwritten: drop it from the window.
      first = (first + 1) % m;
      count--;
    }
    const decrease = (f - fNew) / Math.max(Math.abs(f), Math.abs(fNew), 1);
    [theta, thetaNew] = [thetaNew, theta];
    [g, gNew] = [gNew, g];
    f = fNew;
    if (decrease <= LBFGS.ftol) return { theta, iterations: iter, converged: true };
  }
  return { theta, iterations: LBFGS.maxIter, converged: false };
}

/** Class indices (argmax; for binary: logit > 0) or regression predictions. */
function predict(kind: Kind, theta: Float64Array, x: Csr, outputs: number, dims: number): Float64Array {
  const scores = scoreRows(theta, x, outputs, dims);
  if (kind === 'ridge') return scores;
  if (kind === 'binary') return scores.map((z) => (z > 0 ? 1 : 0));
  const preds = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) {
    let best = 0;
    for (let k = 1; k < outputs; k++) if (scores[r * outputs + k]! > scores[r * outputs + best]!) best = k;
    preds[r] = best;
  }
  return preds;
}

// ---------------------------------------------------------------------------------------------------------
// Cross-validation

/**
 * Fold of every training example: a seeded shuffle, then (classification) stratified by label — examples
 * of each class dealt round-robin to the folds — or (regression) dealt round-robin in shuffled order.
 */
function assignFolds(labels: Float64Array, folds: number, regression: boolean, seed: number): Int32Array {
  const rng = new HostRng(seed);
  const order = Array.from(labels, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const fold = new Int32Array(labels.length);
  if (regression) {
    order.forEach((ex, i) => (fold[ex] = i % folds));
  } else {
    const seen = new Map<number, number>();
    for (const ex of order) {
      const c = seen.get(labels[ex]!) ?? 0;
      fold[ex] = c % folds;
      seen.set(labels[ex]!, c + 1);
    }
  }
  return fold;
}

function primaryMetric(spec: GlueTaskSpec): string {
  return spec.metrics[0]!;
}

interface CvCell {
  readonly minCount: number;
  readonly l2: number;
  readonly score: number;
}

/** Pooled out-of-fold score of the task's primary metric for each (min count, λ) of the grid searched. */
function crossValidate(
  task: GlueTask,
  spec: GlueTaskSpec,
  kind: Kind,
  outputs: number,
  space: FeatureSpace,
  examples: SparseExample[],
  labels: Float64Array,
): { cells: CvCell[]; iterations: number; unconverged: number } {
  const fold = assignFolds(labels, FOLDS, spec.regression, SEED);
  const metric = primaryMetric(spec);
  const cells: CvCell[] = [];
  let iterations = 0;
  let unconverged = 0;
  // Strongest penalty first, each fold's fit warm-started from its fit at the previous λ; the descent stops
  // once the pooled score has been below the best one for PATIENCE λ values in a row.
  const grid = [...L2_GRID].sort((a, b) => b - a);
  for (const minCount of MIN_COUNTS) {
    const folds = Array.from({ length: FOLDS }, (_, k) => {
      const trainRows: number[] = [];
      const heldRows: number[] = [];
      for (let i = 0; i < labels.length; i++) (fold[i] === k ? heldRows : trainRows).push(i);
      const vocab = vocabulary(examples, trainRows, space, minCount);
      return {
        heldRows,
        vocab,
        xTrain: buildCsr(examples, trainRows, vocab),
        xHeld: buildCsr(examples, heldRows, vocab),
        yTrain: Float64Array.from(trainRows, (i) => labels[i]!),
        warm: undefined as Float64Array | undefined,
      };
    });
    let best = -Infinity;
    let worse = 0;
    for (const l2 of grid) {
      const oof = new Float64Array(labels.length);
      for (const fd of folds) {
        const result = fit({ kind, outputs, dims: fd.vocab.dims, x: fd.xTrain, y: fd.yTrain, l2 }, fd.warm);
        fd.warm = result.theta;
        iterations += result.iterations;
        if (!result.converged) unconverged++;
        const preds = predict(kind, result.theta, fd.xHeld, outputs, fd.vocab.dims);
        fd.heldRows.forEach((ex, r) => (oof[ex] = preds[r]!));
      }
      const score = glueMetrics(task, oof, labels)[metric as keyof GlueMetrics]!;
      cells.push({ minCount, l2, score });
      if (score > best) {
        best = score;
        worse = 0;
      } else if (++worse >= PATIENCE) {
        break;
      }
    }
  }
  return { cells, iterations, unconverged };
}

/** Best cell; ties go to the larger λ, then the smaller min count. NaN scores never win. */
function choose(cells: CvCell[]): CvCell {
  let best: CvCell | undefined;
  for (const c of cells) {
    if (Number.isNaN(c.score)) continue;
    if (
      best === undefined ||
      c.score > best.score ||
      (c.score === best.score && (c.l2 > best.l2 || (c.l2 === best.l2 && c.minCount < best.minCount)))
    ) {
      best = c;
    }
  }
  return best ?? cells[0]!;
}

// ---------------------------------------------------------------------------------------------------------
// One task

interface Row {
  task: GlueTask;
  metrics: GlueMetrics;
  l2: number;
  minCount: number;
  train: number;
  features: number;
  cv: { metric: string; score: number };
  /** Metrics of every dev split (MNLI has two; `metrics` is the first). */
  dev: Record<string, GlueMetrics>;
  seconds: number;
}

function runTask(task: GlueTask): Row {
  const started = performance.now();
  const spec = glueTaskSpec(task);
  const opts = DATA_DIR === undefined ? {} : { dataDir: DATA_DIR };
  let trainSet = loadGlueSplit(task, 'train', opts);
  if (TRAIN_LIMIT !== undefined) trainSet = trainSet.slice(0, TRAIN_LIMIT);
  const kind: Kind = spec.regression ? 'ridge' : spec.numLabels === 2 ? 'binary' : 'softmax';
  const outputs = kind === 'softmax' ? spec.numLabels : 1;

  const rawTrain = trainSet.map((ex) => rawFeatures(ex, spec.pair));
  const space = new FeatureSpace(rawTrain, spec.pair);
  const examples = rawTrain.map((ex) => space.encode(ex));
  const labels = Float64Array.from(trainSet, (ex) => ex.label);
  log(`${task}: ${trainSet.length} training examples, ${space.size} n-grams${space.denseCount > 0 ? ` + ${space.denseCount} overlap features` : ''}; ${FOLDS}-fold CV over ` +
    `${L2_GRID.length} λ × ${MIN_COUNTS.length} min counts (${kind})`);

  const cv = crossValidate(task, spec, kind, outputs, space, examples, labels);
  const best = choose(cv.cells);
  for (const minCount of MIN_COUNTS) {
    const line = cv.cells
      .filter((c) => c.minCount === minCount)
      .sort((a, b) => a.l2 - b.l2)
      .map((c) => `${c.l2}:${c.score.toFixed(4)}`)
      .join(' ');
    log(`${task}:   cv ${primaryMetric(spec)} min count ${minCount}: ${line}`);
  }
  log(`${task}:   chose λ = ${best.l2}, min count ${best.minCount} (cv ${primaryMetric(spec)} ${best.score.toFixed(4)}); ` +
    `${cv.iterations} L-BFGS iterations in CV, ${cv.unconverged} fits hit the cap`);

  // Final model: full training split, its own vocabulary at the chosen min count.
  const all = Array.from(labels, (_, i) => i);
  const vocab = vocabulary(examples, all, space, best.minCount);
  const final = fit({ kind, outputs, dims: vocab.dims, x: buildCsr(examples, all, vocab), y: labels, l2: best.l2 });

  const dev: Record<string, GlueMetrics> = {};
  for (const split of spec.devSplits) {
    const devSet = loadGlueSplit(task, split, opts);
    const xDev = buildCsr(devSet.map((ex) => space.encode(rawFeatures(ex, spec.pair))), devSet.map((_, i) => i), vocab);
    const preds = predict(kind, final.theta, xDev, outputs, vocab.dims);
    dev[split] = glueMetrics(task, preds, devSet.map((ex) => ex.label));
  }
  const seconds = (performance.now() - started) / 1000;
  log(`${task}:   final fit ${final.iterations} iterations${final.converged ? '' : ' (cap reached)'}, ${vocab.dims} features`);
  return {
    task,
    metrics: dev[spec.devSplits[0]!]!,
    l2: best.l2,
    minCount: best.minCount,
    train: trainSet.length,
    features: vocab.dims,
    cv: { metric: primaryMetric(spec), score: best.score },
    dev,
    seconds: Math.round(seconds * 10) / 10,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Main

const rows: Row[] = [];
for (const task of TASKS) {
  const row = runTask(task);
  rows.push(row);
  const metrics = Object.entries(row.dev)
    .map(([split, m]) => {
      const text = Object.entries(m).map(([name, v]) => `${name} ${v!.toFixed(4)}`).join(', ');
      return row.dev[split] === row.metrics && Object.keys(row.dev).length === 1 ? text : `${split}: ${text}`;
    })
    .join('; ');
  console.log(`${task}: dev ${metrics} | λ ${row.l2}, min count ${row.minCount}, train ${row.train}, ` +
    `${row.features} features, ${row.seconds} s`);
}

/** The README table's columns: task and the metric it shows. */
const TABLE: [GlueTask, string][] = [['cola', 'mcc'], ['sst2', 'accuracy'], ['mrpc', 'f1'], ['stsb', 'pearson'], ['rte', 'accuracy']];
const cells = TABLE.map(([task, metric]) => {
  const v = rows.find((r) => r.task === task)?.metrics[metric as keyof GlueMetrics];
  return v === undefined ? '—' : (100 * v).toFixed(1);
});
console.log(`| bag-of-words (uni+bigram LR) | — | ${cells.join(' | ')} |`);
if (args.json) console.log(JSON.stringify({ rows }));
