/**
 * The gradcheck suite behind `prilora gradcheck` and the tests: one case per differentiable op, on random
 * shapes drawn from the seed, with broadcasting, size-1 dims and non-contiguous views (transposed copies,
 * strided slices, stride-0 expansions) wherever the op accepts them.
 */
import { cpuBackend } from '../backends/cpu/index.ts';
import type { Backend } from '../backends/backend.ts';
import * as O from '../ops/index.ts';
import { randn, tensor } from '../tensor/create.ts';
import type { FloatDType } from '../core/dtype.ts';
import { Generator } from '../core/random.ts';
import { beginScope } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { gradcheck, gradcheckOnDevice, type GradcheckOptions, type GradcheckResult } from './gradcheck.ts';
import { RecordingRng, ReplayRng, ShapeRng } from './shape-rng.ts';

interface CaseInput {
  inputs: Tensor[];
  fn: (...xs: Tensor[]) => Tensor;
}

export interface GradcheckCase {
  op: string;
  make(rng: ShapeRng, gen: Generator): CaseInput;
  options?: GradcheckOptions;
}

/**
 * Where `make` puts the tensors it creates: the default backend in float64 for finite differences, or a
 * device in float32 for the device check, which builds every case twice from the same draws.
 */
interface CaseTarget {
  dtype: FloatDType;
  /** undefined: the default backend */
  backend?: Backend;
}

let target: CaseTarget = { dtype: 'float64' };

function makeOn(c: GradcheckCase, on: CaseTarget, rng: ShapeRng, gen: Generator): CaseInput {
  const prev = target;
  target = on;
  try {
    return c.make(rng, gen);
  } finally {
    target = prev;
  }
}

/** Random inputs of a case (float64 for finite differences, the target's dtype on a device). */
const f64 = (shape: readonly number[], gen: Generator): Tensor => randn(shape, { dtype: target.dtype, backend: target.backend, generator: gen });
const ints = (data: Int32Array, shape?: readonly number[]): Tensor => tensor(data, { shape, backend: target.backend });

/** Same values, transposed strides: exercises kernels on non-contiguous input. */
export function nonContiguous(x: Tensor): Tensor {
  if (x.ndim < 2) return O.slice(O.concat([x, x]), 0, 0, undefined, 2);
  return O.transpose(O.contiguous(O.transpose(x)));
}

const positive = (x: Tensor): Tensor => O.add(O.abs(x), 0.5);

function unaryCase(op: string, f: (x: Tensor) => Tensor, domain: (x: Tensor) => Tensor = (x) => x): GradcheckCase {
  return { op, make: (r, g) => ({ inputs: [f64(r.shape(), g)], fn: (x) => f(domain(nonContiguous(x))) }) };
}

function binaryCase(op: string, f: (a: Tensor, b: Tensor) => Tensor, domainA: (x: Tensor) => Tensor = (x) => x): GradcheckCase {
  return {
    op,
    make: (r, g) => {
      const s = r.shape();
      return { inputs: [f64(s, g), f64(r.broadcastable(s), g)], fn: (a, b) => f(domainA(nonContiguous(a)), b) };
    },
  };
}

function reduceCase(op: string, f: (x: Tensor, axes: number[], keep: boolean) => Tensor): GradcheckCase {
  return {
    op,
    make: (r, g) => {
      const s = r.shape(1, 3);
      const axes = s.map((_, i) => i).filter(() => r.next() < 0.5);
      const keep = r.next() < 0.5;
      return { inputs: [f64(s, g)], fn: (x) => f(nonContiguous(x), axes.length ? axes : [s.length - 1], keep) };
    },
  };
}

export const GRADCHECK_CASES: GradcheckCase[] = [
  binaryCase('add', O.add),
  binaryCase('sub', O.sub),
  binaryCase('mul', O.mul),
  binaryCase('div', (a, b) => O.div(a, positive(b))),
  binaryCase('pow', (a, b) => O.pow(a, b), positive),
  binaryCase('maximum', O.maximum),
  binaryCase('minimum', O.minimum),
  unaryCase('neg', O.neg),
  unaryCase('abs', O.abs),
  unaryCase('exp', O.exp),
  unaryCase('log', O.log, positive),
  unaryCase('sqrt', O.sqrt, positive),
  unaryCase('rsqrt', O.rsqrt, positive),
  unaryCase('tanh', O.tanh),
  unaryCase('erf', O.erf),
  unaryCase('gelu', O.gelu),
  unaryCase('geluTanh', O.geluTanh),
  unaryCase('geluComposite', O.geluComposite),
  unaryCase('geluTanhComposite', O.geluTanhComposite),
  unaryCase('clamp', (x) => O.clamp(x, -0.5, 0.7)),
  // through float32 and back: the step must be far above float32's rounding
  {
    op: 'cast',
    make: (r, g) => {
      const back = target.dtype;
      return { inputs: [f64(r.shape(), g)], fn: (x) => O.cast(O.cast(nonContiguous(x), 'float32'), back) };
    },
    options: { eps: 1e-2, atol: 1e-4 },
  },
  unaryCase('contiguous', (x) => O.contiguous(x)),
  {
    op: 'where',
    make: (r, g) => {
      const s = r.shape();
      const cond = O.gt(f64(r.broadcastable(s), g), 0);
      return { inputs: [f64(s, g), f64(r.broadcastable(s), g)], fn: (a, b) => O.where(cond, nonContiguous(a), b) };
    },
  },
  {
    op: 'maskedFill',
    make: (r, g) => {
      const s = r.shape();
      const mask = O.gt(f64(r.broadcastable(s), g), 0.3);
      return { inputs: [f64(s, g)], fn: (x) => O.maskedFill(nonContiguous(x), mask, -1e4) };
    },
  },
  reduceCase('sum', O.sum),
  reduceCase('mean', O.mean),
  reduceCase('max', O.max),
  reduceCase('min', O.min),
  reduceCase('variance', (x, axes, keep) => O.variance(x, axes, keep, axes.reduce((n, a) => n * x.shape[a], 1) > 1 ? 1 : 0)),
  {
    op: 'matmul',
    make: (r, g) => {
      const [m, k, n] = [r.int(1, 4), r.int(1, 4), r.int(1, 4)];
      const batch = r.shape(0, 2, 3);
      const bBatch = r.broadcastable([...batch, 1]).slice(0, -1);
      return {
        inputs: [f64([...batch, m, k], g), f64([...bBatch, n, k], g)],
        fn: (a, b) => O.matmul(nonContiguous(a), O.transpose(b)),
      };
    },
  },
  {
    op: 'linear',
    make: (r, g) => {
      const [i, o] = [r.int(1, 5), r.int(1, 5)];
      return { inputs: [f64([...r.shape(1, 2), i], g), f64([o, i], g), f64([o], g)], fn: (x, w, b) => O.linear(x, w, b) };
    },
  },
  {
    op: 'reshape',
    make: (r, g) => {
      const s = r.shape(2, 3);
      return { inputs: [f64(s, g)], fn: (x) => O.reshape(nonContiguous(x), [-1]) };
    },
  },
  {
    op: 'permute',
    make: (r, g) => ({ inputs: [f64(r.shape(3, 3), g)], fn: (x) => O.mul(O.permute(x, [2, 0, 1]), 1) }),
  },
  unaryCase('transpose', (x) => O.transpose(x, 0, -1)),
  {
    op: 'expand',
    make: (r, g) => {
      const s = r.shape(2, 3);
      const lead = r.int(1, 3);
      return { inputs: [f64(s.map((d, i) => (i === 0 ? 1 : d)), g)], fn: (x) => O.mul(O.expand(x, [lead, ...s]), 1) };
    },
  },
  unaryCase('unsqueeze', (x) => O.unsqueeze(x, 0)),
  { op: 'squeeze', make: (r, g) => ({ inputs: [f64([1, ...r.shape(1, 2)], g)], fn: (x) => O.squeeze(x, 0) }) },
  {
    op: 'slice',
    make: (r, g) => {
      const s = r.shape(1, 3, 6);
      const axis = r.int(0, s.length - 1);
      const [start, end, step] = [r.int(0, 1), r.next() < 0.5 ? undefined : -1, r.int(1, 2)];
      return { inputs: [f64(s, g)], fn: (x) => O.slice(nonContiguous(x), axis, start, end, step) };
    },
  },
  {
    op: 'concat',
    make: (r, g) => {
      const s = r.shape(1, 3);
      const axis = r.int(0, s.length - 1);
      const s2 = s.map((d, i) => (i === axis ? r.int(1, 3) : d));
      return { inputs: [f64(s, g), f64(s2, g)], fn: (a, b) => O.concat([nonContiguous(a), b], axis) };
    },
  },
  {
    op: 'stack',
    make: (r, g) => {
      const s = r.shape(1, 2);
      const axis = r.int(0, s.length);
      return { inputs: [f64(s, g), f64(s, g)], fn: (a, b) => O.stack([a, nonContiguous(b)], axis) };
    },
  },
  {
    op: 'gather',
    make: (r, g) => {
      const s = r.shape(2, 3);
      const axis = r.int(0, s.length - 1);
      const is = s.map((d, i) => (i === axis ? r.int(1, 5) : r.int(1, d)));
      const idx = ints(Int32Array.from({ length: is.reduce((p, d) => p * d, 1) }, () => r.int(0, s[axis] - 1)), is);
      return { inputs: [f64(s, g)], fn: (x) => O.gather(nonContiguous(x), axis, idx) };
    },
  },
  {
    op: 'scatterAdd',
    make: (r, g) => {
      const s = r.shape(2, 3);
      const idx = ints(Int32Array.from({ length: s.reduce((p, d) => p * d, 1) }, () => r.int(0, 2)), s);
      return { inputs: [f64(s, g)], fn: (src) => O.scatterAdd(s.map((d, i) => (i === 0 ? 3 : d)), 0, idx, nonContiguous(src)) };
    },
  },
  {
    op: 'indexSelect',
    make: (r, g) => {
      const s = r.shape(2, 3);
      const idx = ints(Int32Array.from({ length: r.int(1, 5) }, () => r.int(0, s[1] - 1)));
      return { inputs: [f64(s, g)], fn: (x) => O.indexSelect(nonContiguous(x), 1, idx) };
    },
  },
  {
    op: 'embedding',
    make: (r, g) => {
      const [v, h] = [r.int(2, 6), r.int(1, 4)];
      const ids = ints(Int32Array.from({ length: 6 }, () => r.int(0, v - 1)), [2, 3]);
      return { inputs: [f64([v, h], g)], fn: (w) => O.embedding(w, ids) };
    },
  },
  ...(['softmax', 'logSoftmax', 'softmaxComposite', 'logSoftmaxComposite'] as const).map((op) => ({
    op,
    make: (r: ShapeRng, g: Generator) => {
      const s = r.shape(1, 3, 5);
      const axis = r.int(-s.length, s.length - 1);
      // an additive mask on some entries, as attention applies it; -1e4 rather than -1e9 because float64
      // cannot resolve a 1e-6 step on top of 1e9 (forward tests cover -1e9, -3.4e38 and -inf)
      const mask = O.mul(O.gt(f64(r.broadcastable(s), g), 0.8), -1e4);
      const f = O[op];
      return { inputs: [f64(s, g)], fn: (x: Tensor) => f(O.add(nonContiguous(x), mask), axis) };
    },
  })),
  ...(['layerNorm', 'layerNormComposite'] as const).map((op) => ({
    op,
    make: (r: ShapeRng, g: Generator) => {
      const s = r.shape(1, 3, 5);
      const c = s[s.length - 1];
      return { inputs: [f64(s, g), f64([c], g), f64([c], g)], fn: (x: Tensor, w: Tensor, b: Tensor) => O[op](nonContiguous(x), w, b, 1e-5) };
    },
  })),
  {
    op: 'dropout',
    make: (r, g) => {
      const seed = r.int(0, 1000);
      // a fresh generator per call: every evaluation must draw the same mask
      return { inputs: [f64(r.shape(), g)], fn: (x) => O.dropout(nonContiguous(x), 0.3, { training: true, generator: new Generator(seed) }) };
    },
  },
  {
    op: 'crossEntropy',
    make: (r, g) => {
      const [n, c] = [r.int(2, 5), r.int(2, 5)];
      const labels = ints(Int32Array.from({ length: n }, (_, i) => (i === 1 ? -100 : r.int(0, c - 1))));
      const smoothing = r.next() < 0.5 ? 0 : 0.1;
      return { inputs: [f64([n, c], g)], fn: (x) => O.crossEntropy(nonContiguous(x), labels, { labelSmoothing: smoothing }) };
    },
  },
  {
    op: 'binaryCrossEntropyWithLogits',
    make: (r, g) => {
      const n = r.int(2, 6);
      const labels = ints(Int32Array.from({ length: n }, (_, i) => (i === 1 ? -100 : r.int(0, 1))));
      return { inputs: [f64([n, 2], g)], fn: (x) => O.binaryCrossEntropyWithLogits(O.reshape(O.slice(x, 1, 1, 2), [n]), labels) };
    },
  },
  {
    op: 'mseLoss',
    make: (r, g) => {
      const s = r.shape();
      return { inputs: [f64(s, g), f64(s, g)], fn: (a, b) => O.mseLoss(nonContiguous(a), b) };
    },
  },
  {
    op: 'attention',
    make: (r, g) => {
      const [b, t, d] = [r.int(1, 2), r.int(1, 4), r.int(1, 4)];
      const mask = O.mul(O.gt(f64([b, 1, 1, t], g), 0.5), -1e4);
      return {
        inputs: [f64([b, 2, t, d], g), f64([b, 2, t, d], g), f64([b, 2, t, d], g)],
        fn: (q, k, v) => O.attention(q, nonContiguous(k), v, mask).out,
      };
    },
  },
  // last, so the cases above keep the shapes their seeds drew before these existed
  ...(['loraLinear', 'loraLinearComposite'] as const).map((op) => ({
    op,
    make: (r: ShapeRng, g: Generator): CaseInput => {
      const [i, o, rank, withBias, withResidual] = [r.int(1, 5), r.int(1, 5), r.int(1, 3), r.next() < 0.5, r.next() < 0.5];
      const xShape = [...r.shape(1, 2), i];
      // a fixed inverted-dropout mask: the branch's input is then a tensor of its own, not x
      const keep = r.next() < 0.5 ? O.mul(O.gt(f64(xShape, g), -0.5), 1 / 0.7) : null;
      const scaling = 0.5 + r.next() * 2;
      return {
        inputs: [f64(xShape, g), f64([o, i], g), f64([rank, i], g), f64([o, rank], g), f64([o], g), f64([...xShape.slice(0, -1), o], g)],
        fn: (x: Tensor, w: Tensor, a: Tensor, b: Tensor, bias: Tensor, res: Tensor) => ((xv) => O[op](xv, w, withBias ? bias : null,
          { a, b: nonContiguous(b), scaling, input: keep ? O.mul(xv, keep) : null }, withResidual ? res : null))(nonContiguous(x)),
      };
    },
  })),
  {
    // k ≥ 1,024 with a side ≤ 16, read transposed as LoRA's weight gradients are: a device's long-k kernel
    op: 'matmul (long k)',
    make: (r, g) => {
      const [m, k, n] = [r.int(1, 2), r.int(1024, 1040), r.int(1, 3)];
      return { inputs: [f64([k, m], g), f64([k, n], g)], fn: (a, b) => O.matmul(O.transpose(a), b) };
    },
  },
];

/** Exported op functions that have no gradient by design (comparisons, masks, piecewise-constant ops). */
export const NON_DIFFERENTIABLE = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'isFiniteMask', 'sign', 'floor', 'sumTo']);

export interface SuiteResult {
  pass: boolean;
  ops: number;
  failed: string[];
  worst: number;
  results: { op: string; result: GradcheckResult }[];
}

/** Run every case once with shapes drawn from `seed`. */
export function runGradcheckSuite(seed = 0): SuiteResult {
  const rng = new ShapeRng(seed);
  const gen = new Generator(seed);
  const results = GRADCHECK_CASES.map((c) => {
    const { inputs, fn } = c.make(rng, gen);
    return { op: c.op, result: gradcheck(fn, inputs, { seed, ...c.options }) };
  });
  const failed = results.filter((r) => !r.result.pass).map((r) => r.op);
  return { pass: failed.length === 0, ops: results.length, failed, worst: Math.max(...results.map((r) => r.result.worst.ratio)), results };
}

/**
 * The suite on a device without float64: each case is built twice from the same draws, on the CPU in
 * float64 and on `backend` in float32. The device's forward values and VJP must match the CPU's at the
 * same inputs (gradcheckOnDevice), and the CPU's must match finite differences (gradcheck); an op passes
 * when both do, and reports the worse of the two.
 */
export async function runDeviceGradcheckSuite(backend: Backend, seed = 0): Promise<SuiteResult> {
  const rng = new ShapeRng(seed);
  const gen = new Generator(seed);
  const results: { op: string; result: GradcheckResult }[] = [];
  for (const c of GRADCHECK_CASES) {
    const recording = new RecordingRng(rng);
    const twinGen = new Generator(gen.seed, gen.offset);
    const scope = beginScope();
    try {
      const ref = makeOn(c, { dtype: 'float64', backend: cpuBackend() }, recording, gen);
      const dev = makeOn(c, { dtype: 'float32', backend }, new ReplayRng(recording.drawn), twinGen);
      const exact = gradcheck(ref.fn, ref.inputs, { seed, ...c.options });
      const onDevice = await gradcheckOnDevice(dev.fn, dev.inputs, ref.fn, { seed });
      const worse = exact.worst.ratio > onDevice.worst.ratio ? exact : onDevice;
      results.push({ op: c.op, result: { pass: exact.pass && onDevice.pass, checked: onDevice.checked, worst: worse.worst } });
    } finally {
      scope.end();
    }
  }
  const failed = results.filter((r) => !r.result.pass).map((r) => r.op);
  return { pass: failed.length === 0, ops: results.length, failed, worst: Math.max(...results.map((r) => r.result.worst.ratio)), results };
}
